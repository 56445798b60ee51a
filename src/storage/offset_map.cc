#include "storage/offset_map.h"

#include <algorithm>
#include <utility>

#include "brook/detail/check.h"

// Compiled inline here: Debian ships xxHash without a CMake package (see CMakeLists.txt).
#define XXH_INLINE_ALL
#include "xxhash.h"

namespace brook::storage {

namespace {
constexpr size_t kMinSlots = 16;
}  // namespace

KeyHash HashKey(std::string_view key) {
  XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  return {h.low64, h.high64};
}

OffsetMap::OffsetMap(size_t memory_bytes)
    : slots_(std::max(memory_bytes / kSlotBytes, kMinSlots), Slot{0, 0, -1}),
      capacity_(static_cast<size_t>(static_cast<double>(slots_.size()) * kLoadFactor)) {
  // Every probe sequence ends at an empty slot.
  BROOK_CHECK(capacity_ < slots_.size());
}

size_t OffsetMap::Distance(uint64_t low, size_t pos) const {
  size_t home = Home(low);
  return pos >= home ? pos - home : pos + slots_.size() - home;
}

bool OffsetMap::Put(const KeyHash& hash, int64_t offset) {
  BROOK_DCHECK(offset >= 0);
  Slot* slots = slots_.data();
  size_t pos = Home(hash.low);
  size_t distance = 0;
  // Look for the key up to the first slot it could take: an empty one, or one whose entry sits
  // nearer its home than the key would (Robin Hood order puts the key before such an entry).
  while (slots[pos].offset >= 0) {
    Slot& slot = slots[pos];
    if (slot.low == hash.low && slot.high == hash.high) {
      slot.offset = offset;
      return true;
    }
    if (Distance(slot.low, pos) < distance) break;
    pos = Next(pos);
    ++distance;
  }
  if (size_ >= capacity_) return false;
  ++size_;
  // Take the slot and carry each displaced entry on to the next slot it may take.
  Slot carry = {hash.low, hash.high, offset};
  while (slots[pos].offset >= 0) {
    size_t d = Distance(slots[pos].low, pos);
    if (d < distance) {
      std::swap(slots[pos], carry);
      distance = d;
    }
    pos = Next(pos);
    ++distance;
  }
  slots[pos] = carry;
  return true;
}

int64_t OffsetMap::Get(const KeyHash& hash) const {
  const Slot* slots = slots_.data();
  size_t pos = Home(hash.low);
  size_t distance = 0;
  while (slots[pos].offset >= 0) {
    const Slot& slot = slots[pos];
    if (slot.low == hash.low && slot.high == hash.high) return slot.offset;
    if (Distance(slot.low, pos) < distance) return -1;
    pos = Next(pos);
    ++distance;
  }
  return -1;
}

void OffsetMap::Clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{0, 0, -1});
  size_ = 0;
}

}  // namespace brook::storage
