# Warning flags for brook's own targets.
#
# brook_set_warnings(<target>) adds the project's warning set as PRIVATE compile options, so the
# flags apply when brook's own sources are compiled and never reach the exported interface (a
# consumer linking brook::brook gets none of them). BROOK_WARNINGS_AS_ERRORS turns them into errors.
#
# -Wthread-safety (clang only): the lock annotations in src/util/mutex.h and their users.
# -Wno-missing-field-initializers: options structs are filled with designated initializers
# (`Log::Open(dir, {.segment_bytes_max = 64 << 20})`), which this warning flags for every field
# left at its default member initializer.

include_guard(GLOBAL)

function(brook_set_warnings target)
  if(MSVC)
    set(warnings /W4 /permissive-)
    if(BROOK_WARNINGS_AS_ERRORS)
      list(APPEND warnings /WX)
    endif()
  else()
    set(warnings -Wall -Wextra -Wpedantic -Wno-missing-field-initializers)
    if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
      # Checks the ABSL_GUARDED_BY / lock annotations on brook::Mutex users (tsan, fuzz presets).
      list(APPEND warnings -Wthread-safety)
    endif()
    if(BROOK_WARNINGS_AS_ERRORS)
      list(APPEND warnings -Werror)
    endif()
  endif()
  target_compile_options(${target} PRIVATE ${warnings})
endfunction()
