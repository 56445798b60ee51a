// Seeds for randomized tests: BROOK_TEST_SEED overrides, and the seed is always printed so a
// failure can be replayed.
#ifndef BROOK_TESTS_SUPPORT_SEED_H_
#define BROOK_TESTS_SUPPORT_SEED_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "support/catch.h"

namespace brook::testing {

inline uint64_t TestSeed() {
  const char* env = std::getenv("BROOK_TEST_SEED");
  uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : std::random_device{}();
  UNSCOPED_INFO("seed " << seed << " (replay with BROOK_TEST_SEED=" << seed << ")");
  std::fprintf(stderr, "test seed %llu (replay with BROOK_TEST_SEED=%llu)\n",
               static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  return seed;
}

}  // namespace brook::testing

#endif  // BROOK_TESTS_SUPPORT_SEED_H_
