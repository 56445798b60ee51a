# Runs a program in a freshly emptied working directory and fails if it exits non-zero.
#
#   cmake -DPROGRAM=<executable> [-DPROGRAM_ARGS=<a;b;...>] -DWORKDIR=<dir> -P RunInCleanDir.cmake
#
# Used by the example tests so that every run starts from the same empty directory inside the
# build tree: nothing left over from a previous run changes what an example sees.

cmake_minimum_required(VERSION 3.22)

if(NOT PROGRAM OR NOT WORKDIR)
  message(FATAL_ERROR "RunInCleanDir.cmake: PROGRAM and WORKDIR are required")
endif()

file(REMOVE_RECURSE "${WORKDIR}")
file(MAKE_DIRECTORY "${WORKDIR}")
execute_process(
  COMMAND "${PROGRAM}" ${PROGRAM_ARGS}
  WORKING_DIRECTORY "${WORKDIR}"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} (in ${WORKDIR}) failed: ${result}")
endif()
