// Includes Catch2 whichever major version the build found: tests write
//
//   #include "support/catch.h"
//
// and use the macros common to v2 and v3 (TEST_CASE, SECTION, REQUIRE, CHECK, GENERATE, ...).
// tests/CMakeLists.txt defines BROOK_CATCH2_V3 when it links Catch2 v3.

#ifndef BROOK_TESTS_SUPPORT_CATCH_H_
#define BROOK_TESTS_SUPPORT_CATCH_H_

#if defined(BROOK_CATCH2_V3)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

#endif  // BROOK_TESTS_SUPPORT_CATCH_H_
