// The key → latest offset map of log compaction (Kafka's SkimpyOffsetMap): a fixed-memory hash
// table keyed by a 128-bit hash of the record key, so it stores no key bytes and never allocates
// after construction.
//
//   OffsetMap map(16 << 20);
//   for (const RecordView& r : dirty_batch.records()) {
//     if (!map.Put(HashKey(r.key()), r.offset())) break;  // full: clean what we have so far
//   }
//   bool latest = map.Get(HashKey(record.key())) == record.offset();
//
// Two keys whose hashes collide share an entry. With 128 bits that takes ~2^64 keys, so it is
// treated as impossible, as Kafka does with MD5.
//
// Thread safety: thread-compatible (const methods may run concurrently; Put and Clear may not).

#ifndef BROOK_STORAGE_OFFSET_MAP_H_
#define BROOK_STORAGE_OFFSET_MAP_H_

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "absl/numeric/int128.h"

namespace brook::storage {

// XXH3-128 of a record key.
struct KeyHash {
  uint64_t low;
  uint64_t high;
};

KeyHash HashKey(std::string_view key);

class OffsetMap {
 public:
  // Each slot holds the 16-byte hash and the 8-byte offset.
  static constexpr size_t kSlotBytes = 24;
  // The share of slots that may be filled. Open addressing slows sharply past it, and keeping
  // some slots empty is what makes every probe sequence end.
  static constexpr double kLoadFactor = 0.9;

  // A map of max(memory_bytes / kSlotBytes, 16) slots, allocated (and zeroed) here once.
  explicit OffsetMap(size_t memory_bytes);

  OffsetMap(const OffsetMap&) = delete;
  OffsetMap& operator=(const OffsetMap&) = delete;
  OffsetMap(OffsetMap&&) = default;
  OffsetMap& operator=(OffsetMap&&) = default;

  size_t slots() const { return slots_.size(); }
  // Distinct keys held.
  size_t size() const { return size_; }
  // The most keys the map holds: floor(slots() * kLoadFactor).
  size_t capacity() const { return capacity_; }
  size_t memory_bytes() const { return slots_.size() * kSlotBytes; }
  bool full() const { return size_ >= capacity_; }

  // Records `offset` (>= 0) as the latest offset of the key, replacing any earlier one (callers
  // put in increasing offset order). Returns false, changing nothing, when the key is new and the
  // map is full.
  bool Put(const KeyHash& hash, int64_t offset);

  // The offset recorded for the key, or -1 if it has none.
  int64_t Get(const KeyHash& hash) const;

  // Forgets every key, keeping the allocation.
  void Clear();

  // Starts loading the slot a Put or Get of `hash` reads first. The table is far larger than
  // the caches, so each lookup is a cache miss; prefetching a batch's keys before using them
  // overlaps those misses (measured in docs/benchmarks.md, BM_Compaction).
  void Prefetch(const KeyHash& hash) const { __builtin_prefetch(&slots_[Home(hash.low)]); }

 private:
  // Empty when offset < 0. Entries are kept in Robin Hood order with linear probing: along a
  // run of full slots, the entries' home slots never decrease (modulo wrap-around), so a lookup
  // stops at the first entry that is closer to its home than the key would be to its own.
  struct Slot {
    uint64_t low;
    uint64_t high;
    int64_t offset;
  };
  static_assert(sizeof(Slot) == kSlotBytes);

  // Lemire's multiply-shift instead of `low % slots`: a multiplication, not a 64-bit division,
  // on the hot path. It uses the high bits of `low`, which XXH3 mixes as well as the low ones.
  size_t Home(uint64_t low) const {
    return static_cast<size_t>(absl::Uint128High64(absl::uint128(low) * slots_.size()));
  }
  // How far slot `pos` is past the home of a hash whose low half is `low`.
  size_t Distance(uint64_t low, size_t pos) const;
  size_t Next(size_t pos) const { return pos + 1 == slots_.size() ? 0 : pos + 1; }

  std::vector<Slot> slots_;
  size_t capacity_;
  size_t size_ = 0;
};

}  // namespace brook::storage

#endif  // BROOK_STORAGE_OFFSET_MAP_H_
