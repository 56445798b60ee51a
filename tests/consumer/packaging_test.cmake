# Packaging test, run by ctest as `cmake -D... -P packaging_test.cmake` (see tests/CMakeLists.txt).
#
# MODE=find_package:    configure, build and install brook from BROOK_SOURCE_DIR into
#                       WORK_DIR/prefix (library only: no tests, examples, benchmarks, CLI), then
#                       build tests/consumer with find_package(brook CONFIG REQUIRED) and run it.
# MODE=add_subdirectory: build tests/consumer with add_subdirectory(BROOK_SOURCE_DIR) and run it.
#
# Everything is written under WORK_DIR, which is emptied first; the source tree is never touched.
# Required: MODE BROOK_SOURCE_DIR BROOK_VERSION CONSUMER_DIR WORK_DIR SETTINGS GENERATOR.
# Optional: BUILD_TYPE.

cmake_minimum_required(VERSION 3.22)

foreach(var MODE BROOK_SOURCE_DIR BROOK_VERSION CONSUMER_DIR WORK_DIR SETTINGS GENERATOR)
  if("${${var}}" STREQUAL "")
    message(FATAL_ERROR "packaging_test.cmake: -D${var}=... is required")
  endif()
endforeach()
include("${SETTINGS}")

set(jobs 2)
if(BUILD_TYPE)
  set(config_args --config "${BUILD_TYPE}")
else()
  set(config_args "")
endif()

# Runs one step; stops the test with the step's name if it fails. Arguments must not be empty or
# contain ';' (list values go through write_initial_cache instead).
macro(run_step name)
  message(STATUS "[packaging.${MODE}] ${name}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE step_result)
  if(NOT step_result EQUAL 0)
    message(FATAL_ERROR "[packaging.${MODE}] ${name}: failed (${step_result})")
  endif()
endmacro()

# Writes an initial-cache script (cmake -C) with the forwarded settings plus extra
# `set(<var> <value>)` pairs. Using a file keeps list values such as CMAKE_PREFIX_PATH intact.
function(write_initial_cache file)
  set(content "")
  foreach(var IN LISTS FORWARDED_VARIABLES)
    string(APPEND content "set(${var} [==[${FORWARD_${var}}]==] CACHE STRING \"\")\n")
  endforeach()
  set(pairs "${ARGN}")  # quoted: keeps empty values
  list(LENGTH pairs n)
  while(n GREATER 0)
    list(POP_FRONT pairs var value)
    string(REPLACE "|" ";" value "${value}")
    string(APPEND content "set(${var} [==[${value}]==] CACHE STRING \"\" FORCE)\n")
    list(LENGTH pairs n)
  endwhile()
  file(WRITE "${file}" "${content}")
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(consumer_build "${WORK_DIR}/consumer-build")
set(consumer_init "${WORK_DIR}/consumer-init.cmake")

if(MODE STREQUAL "find_package")
  set(brook_build "${WORK_DIR}/brook-build")
  set(prefix "${WORK_DIR}/prefix")

  write_initial_cache("${WORK_DIR}/brook-init.cmake"
    CMAKE_BUILD_TYPE "${BUILD_TYPE}"
    CMAKE_INSTALL_PREFIX "${prefix}"
    BROOK_INSTALL ON
    BROOK_BUILD_TESTS OFF
    BROOK_BUILD_EXAMPLES OFF
    BROOK_BUILD_BENCHMARKS OFF
    BROOK_BUILD_FUZZERS OFF
    BROOK_BUILD_CLI OFF
    BROOK_SANITIZE "")
  run_step("configure brook"
    "${CMAKE_COMMAND}" -G "${GENERATOR}" -C "${WORK_DIR}/brook-init.cmake"
    -S "${BROOK_SOURCE_DIR}" -B "${brook_build}")
  run_step("build brook"
    "${CMAKE_COMMAND}" --build "${brook_build}" ${config_args} --parallel ${jobs})
  run_step("install brook"
    "${CMAKE_COMMAND}" --install "${brook_build}" ${config_args})

  # The installed package must be relocatable and contain only public files.
  file(GLOB_RECURSE package_files "${prefix}/*/cmake/brook/*.cmake")
  if(NOT package_files)
    message(FATAL_ERROR "[packaging.${MODE}] no CMake package files installed under ${prefix}")
  endif()
  foreach(file IN LISTS package_files)
    file(READ "${file}" text)
    foreach(tree "${BROOK_SOURCE_DIR}/" "${WORK_DIR}/")
      string(FIND "${text}" "${tree}" at)
      if(NOT at EQUAL -1)
        message(FATAL_ERROR "[packaging.${MODE}] ${file} is not relocatable: it names ${tree}")
      endif()
    endforeach()
  endforeach()
  foreach(required include/brook/version.h)
    if(NOT EXISTS "${prefix}/${required}")
      message(FATAL_ERROR "[packaging.${MODE}] ${required} was not installed")
    endif()
  endforeach()
  file(GLOB_RECURSE stray_files "${prefix}/include/*.in" "${prefix}/include/*.cc")
  if(stray_files)
    message(FATAL_ERROR "[packaging.${MODE}] non-header files installed: ${stray_files}")
  endif()

  set(consumer_prefix_path "${prefix}")
  if(DEFINED FORWARD_CMAKE_PREFIX_PATH)
    list(APPEND consumer_prefix_path ${FORWARD_CMAKE_PREFIX_PATH})
  endif()
  string(REPLACE ";" "|" consumer_prefix_path "${consumer_prefix_path}")
  write_initial_cache("${consumer_init}"
    CMAKE_BUILD_TYPE "${BUILD_TYPE}"
    CMAKE_PREFIX_PATH "${consumer_prefix_path}"
    BROOK_CONSUMER_MODE package
    BROOK_EXPECTED_VERSION "${BROOK_VERSION}")
elseif(MODE STREQUAL "add_subdirectory")
  write_initial_cache("${consumer_init}"
    CMAKE_BUILD_TYPE "${BUILD_TYPE}"
    BROOK_CONSUMER_MODE subdir
    BROOK_SOURCE_DIR "${BROOK_SOURCE_DIR}"
    BROOK_EXPECTED_VERSION "${BROOK_VERSION}")
else()
  message(FATAL_ERROR "packaging_test.cmake: MODE must be find_package or add_subdirectory, "
    "not '${MODE}'")
endif()

run_step("configure consumer"
  "${CMAKE_COMMAND}" -G "${GENERATOR}" -C "${consumer_init}"
  -S "${CONSUMER_DIR}" -B "${consumer_build}")
run_step("build consumer"
  "${CMAKE_COMMAND}" --build "${consumer_build}" ${config_args} --parallel ${jobs})
run_step("run consumer" "${consumer_build}/bin/brook_consumer")
message(STATUS "[packaging.${MODE}] passed")
