// One pass of log compaction over a Log's sealed segments (Kafka's Cleaner.doClean; rules in
// shared/reference/kafka-internals.md §5): build a key -> latest-offset map over the dirty
// range, then recopy the segments from the log start, keeping each key's latest record, into
// new segments named `<base>.log.cleaned`, several small segments grouped into one. The caller
// (the Log) swaps them in.
//
// Reads only sealed segments, which nothing writes while they are sealed; the Log checks at the
// swap that none of them was truncated or deleted meanwhile.

#ifndef BROOK_STORAGE_COMPACTOR_H_
#define BROOK_STORAGE_COMPACTOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/offset_map.h"
#include "storage/segment.h"

namespace brook::storage {

struct CompactionInput {
  SegmentConfig config;
  // Sealed segments, oldest first, from the log's first segment up to (not including) the first
  // offset that may not be cleaned.
  std::vector<std::shared_ptr<Segment>> segments;
  int64_t start_offset = 0;  // records below it are gone (DeleteRecordsBefore)
  int64_t first_dirty = 0;   // records below it were compacted before
  // The last offsets of every producer's newest batch: those batches stay, even if empty, so
  // producer state survives a rebuild from the log.
  std::vector<int64_t> producer_last_offsets;  // sorted
  int64_t now_ms = 0;
  int64_t delete_retention_ms = 0;
  int64_t io_bytes_per_second = 0;  // 0: unlimited
  OffsetMap* map = nullptr;
  // Called as the pass proceeds with (bytes done, bytes in the pass).
  std::function<void(uint64_t, uint64_t)> progress;
  // When set (by a truncation), the pass stops at the next batch with Cancelled.
  const std::atomic<bool>* cancel = nullptr;
};

// Segments [first, first + count) of the input, rewritten into one.
struct CleanedGroup {
  size_t first = 0;
  size_t count = 0;
  std::unique_ptr<Segment> segment;  // sealed, synced, named with the ".cleaned" suffix
};

struct CompactionPass {
  // Compacted up to here: the next pass's first dirty offset.
  int64_t cleaned_to = 0;
  // Only groups that changed; segments of unchanged groups stay as they are.
  std::vector<CleanedGroup> groups;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  int64_t records_removed = 0;
  int64_t tombstones_removed = 0;
  size_t keys = 0;  // distinct keys in the offset map
  std::chrono::nanoseconds throttled{0};
};

// Runs one pass. On error every file it created is removed.
absl::StatusOr<CompactionPass> CompactSegments(const CompactionInput& input);

inline constexpr char kCleanedSuffix[] = ".cleaned";
inline constexpr char kSwapSuffix[] = ".swap";

}  // namespace brook::storage

#endif  // BROOK_STORAGE_COMPACTOR_H_
