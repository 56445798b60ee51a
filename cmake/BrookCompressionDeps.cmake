# Finds the compression libraries brook can use for Kafka batch compression: lz4 (liblz4), zstd
# (libzstd), gzip (zlib) and snappy (libsnappy). Each is optional.
#
#   brook_find_compression_deps(<result-var> [REQUIRED <codec>...] [CODECS <codec>...])
#
# For every codec found it defines the GLOBAL imported target BrookDeps::<codec> (library and
# include directory) and appends <codec> to <result-var>. CODECS limits the search (default: all
# four); REQUIRED codecs that are not found are a fatal error. brook's own build calls it to decide
# what to compile in; the installed brookConfig.cmake calls it again with REQUIRED for the codecs
# the installed library was built with, because a static libbrook.a needs them at link time.
#
# pkg-config, when present, only supplies hints; plain find_path/find_library does the finding, so
# no absolute path is written into brook's exported package.

include_guard(GLOBAL)

function(brook_find_compression_deps result_var)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "REQUIRED;CODECS")
  if(NOT arg_CODECS)
    set(arg_CODECS lz4 zstd zlib snappy)
  endif()
  # codec: pkg-config module, header, library names.
  set(lz4_pc liblz4)
  set(lz4_header lz4frame.h)
  set(lz4_names lz4)
  set(zstd_pc libzstd)
  set(zstd_header zstd.h)
  set(zstd_names zstd)
  set(zlib_pc zlib)
  set(zlib_header zlib.h)
  set(zlib_names z zlib)
  set(snappy_pc snappy)
  set(snappy_header snappy-c.h)
  set(snappy_names snappy)

  find_package(PkgConfig QUIET)
  set(found "")
  foreach(codec IN LISTS arg_CODECS)
    if(NOT DEFINED ${codec}_pc)
      message(FATAL_ERROR "brook_find_compression_deps: unknown codec '${codec}'")
    endif()
    if(NOT TARGET BrookDeps::${codec})
      if(PKG_CONFIG_FOUND)
        pkg_check_modules(PC_BROOK_${codec} QUIET ${${codec}_pc})
      endif()
      find_path(BROOK_${codec}_INCLUDE_DIR NAMES ${${codec}_header}
        HINTS ${PC_BROOK_${codec}_INCLUDEDIR} ${PC_BROOK_${codec}_INCLUDE_DIRS}
        DOC "Directory containing ${${codec}_header}")
      find_library(BROOK_${codec}_LIBRARY NAMES ${${codec}_names}
        HINTS ${PC_BROOK_${codec}_LIBDIR} ${PC_BROOK_${codec}_LIBRARY_DIRS}
        DOC "The ${codec} library")
      mark_as_advanced(BROOK_${codec}_INCLUDE_DIR BROOK_${codec}_LIBRARY)
      if(BROOK_${codec}_INCLUDE_DIR AND BROOK_${codec}_LIBRARY)
        add_library(BrookDeps::${codec} UNKNOWN IMPORTED GLOBAL)
        set_target_properties(BrookDeps::${codec} PROPERTIES
          IMPORTED_LOCATION "${BROOK_${codec}_LIBRARY}"
          INTERFACE_INCLUDE_DIRECTORIES "${BROOK_${codec}_INCLUDE_DIR}")
      endif()
    endif()
    if(TARGET BrookDeps::${codec})
      list(APPEND found ${codec})
    elseif(codec IN_LIST arg_REQUIRED)
      message(FATAL_ERROR "brook was built with ${codec} compression but the ${codec} library "
        "(${${codec}_header}, lib${${codec}_names}) is not found here. On Debian/Ubuntu install "
        "its -dev package, or set BROOK_${codec}_INCLUDE_DIR and BROOK_${codec}_LIBRARY.")
    endif()
  endforeach()
  set(${result_var} "${found}" PARENT_SCOPE)
endfunction()
