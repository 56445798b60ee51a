#include "storage/offset_map.h"

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "support/catch.h"
#include "support/seed.h"

namespace brook::storage {
namespace {

TEST_CASE("OffsetMap sizes itself from its memory budget", "[offset_map]") {
  OffsetMap small(0);
  CHECK(small.slots() == 16);
  CHECK(small.capacity() == 14);  // floor(16 * 0.9)
  CHECK(small.memory_bytes() == 16 * OffsetMap::kSlotBytes);
  CHECK(small.size() == 0);
  CHECK_FALSE(small.full());

  OffsetMap map(24 * 1000 + 23);
  CHECK(map.slots() == 1000);
  CHECK(map.capacity() == 900);
  CHECK(map.memory_bytes() == 24000);
}

TEST_CASE("HashKey is XXH3-128 and tells keys apart", "[offset_map]") {
  KeyHash a = HashKey("user-1");
  KeyHash b = HashKey("user-1");
  KeyHash c = HashKey("user-2");
  CHECK(a.low == b.low);
  CHECK(a.high == b.high);
  CHECK((a.low != c.low || a.high != c.high));
  // The empty key is a key like any other.
  KeyHash empty = HashKey("");
  CHECK((empty.low != a.low || empty.high != a.high));
}

TEST_CASE("OffsetMap puts, gets and overwrites", "[offset_map]") {
  OffsetMap map(1 << 12);
  CHECK(map.Get(HashKey("a")) == -1);
  CHECK(map.Put(HashKey("a"), 0));
  CHECK(map.Put(HashKey("b"), 1));
  CHECK(map.Get(HashKey("a")) == 0);
  CHECK(map.Get(HashKey("b")) == 1);
  CHECK(map.Get(HashKey("c")) == -1);
  CHECK(map.size() == 2);

  CHECK(map.Put(HashKey("a"), 7));
  CHECK(map.Get(HashKey("a")) == 7);
  CHECK(map.size() == 2);
}

TEST_CASE("OffsetMap refuses a new key when full but still overwrites", "[offset_map]") {
  OffsetMap map(0);  // 16 slots, 14 keys
  for (int i = 0; i < 14; ++i) REQUIRE(map.Put(HashKey("k" + std::to_string(i)), i));
  CHECK(map.full());
  CHECK(map.size() == 14);

  CHECK_FALSE(map.Put(HashKey("new"), 100));
  CHECK(map.size() == 14);
  CHECK(map.Get(HashKey("new")) == -1);

  CHECK(map.Put(HashKey("k3"), 200));
  CHECK(map.Get(HashKey("k3")) == 200);
  for (int i = 0; i < 14; ++i) {
    if (i != 3) CHECK(map.Get(HashKey("k" + std::to_string(i))) == i);
  }
}

TEST_CASE("OffsetMap handles keys sharing a home slot and wrapping around", "[offset_map]") {
  OffsetMap map(0);
  // The home slot is the top bits of `low`: all-ones lands on the last slot, so the run of
  // colliding keys wraps to slot 0 and meets keys whose home is slot 0.
  constexpr uint64_t kLast = std::numeric_limits<uint64_t>::max();
  for (uint64_t i = 0; i < 7; ++i) REQUIRE(map.Put({kLast, i}, static_cast<int64_t>(i)));
  for (uint64_t i = 0; i < 7; ++i) REQUIRE(map.Put({0, i}, static_cast<int64_t>(100 + i)));
  CHECK(map.full());
  for (uint64_t i = 0; i < 7; ++i) {
    CHECK(map.Get({kLast, i}) == static_cast<int64_t>(i));
    CHECK(map.Get({0, i}) == static_cast<int64_t>(100 + i));
  }
  CHECK(map.Get({kLast, 99}) == -1);
  CHECK(map.Get({0, 99}) == -1);
  CHECK(map.Get({kLast / 2, 0}) == -1);
  CHECK_FALSE(map.Put({kLast / 2, 0}, 5));
}

TEST_CASE("OffsetMap::Clear forgets every key and keeps the slots", "[offset_map]") {
  OffsetMap map(1 << 10);
  size_t slots = map.slots();
  for (int i = 0; i < 20; ++i) REQUIRE(map.Put(HashKey(std::to_string(i)), i));
  map.Clear();
  CHECK(map.size() == 0);
  CHECK(map.slots() == slots);
  for (int i = 0; i < 20; ++i) CHECK(map.Get(HashKey(std::to_string(i))) == -1);
  for (size_t i = 0; i < map.capacity(); ++i) {
    REQUIRE(map.Put(HashKey("again" + std::to_string(i)), static_cast<int64_t>(i)));
  }
  CHECK(map.full());
}

// Against std::unordered_map, filling the map to capacity, with real key hashes and with hashes
// whose home slots crowd into a few places (long runs, wrap-around).
TEST_CASE("OffsetMap agrees with a model on random keys", "[offset_map]") {
  std::mt19937_64 rng(testing::TestSeed());
  for (bool crowded : {false, true}) {
    CAPTURE(crowded);
    OffsetMap map(24 * std::uniform_int_distribution<size_t>(16, 5000)(rng));
    struct Hash {
      size_t operator()(const std::pair<uint64_t, uint64_t>& k) const { return k.first ^ k.second; }
    };
    std::unordered_map<std::pair<uint64_t, uint64_t>, int64_t, Hash> model;
    size_t key_space = map.capacity() * 2;
    auto random_key = [&] {
      uint64_t k = std::uniform_int_distribution<uint64_t>(0, key_space - 1)(rng);
      if (!crowded) return HashKey("key-" + std::to_string(k));
      // Four home slots (first, two in the middle, last), told apart by `high`.
      static constexpr uint64_t kLows[] = {0, uint64_t{1} << 63, (uint64_t{1} << 63) + 1,
                                           std::numeric_limits<uint64_t>::max()};
      return KeyHash{kLows[k % 4], k};
    };
    for (int round = 0; round < 3; ++round) {
      for (int64_t offset = 0; offset < static_cast<int64_t>(map.capacity()) * 3; ++offset) {
        KeyHash key = random_key();
        auto model_key = std::make_pair(key.low, key.high);
        bool is_new = !model.contains(model_key);
        bool put = map.Put(key, offset);
        REQUIRE(put == (!is_new || model.size() < map.capacity()));
        if (put) model[model_key] = offset;
        REQUIRE(map.size() == model.size());
        KeyHash probe = random_key();
        auto it = model.find({probe.low, probe.high});
        REQUIRE(map.Get(probe) == (it == model.end() ? -1 : it->second));
      }
      CHECK(map.full());
      for (const auto& [k, offset] : model) REQUIRE(map.Get({k.first, k.second}) == offset);
      map.Clear();
      model.clear();
    }
  }
}

}  // namespace
}  // namespace brook::storage
