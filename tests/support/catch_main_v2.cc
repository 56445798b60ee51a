// The Catch2 v2 test runner's main(). Compiled into brook_tests only when the build finds Catch2
// v2; with Catch2 v3 the binary links Catch2::Catch2WithMain instead.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
