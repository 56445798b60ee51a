#include "storage/compactor.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include "brook/status.h"
#include "fmt/format.h"
#include "storage/batch_rewrite.h"
#include "util/format.h"
#include "util/status_macros.h"

namespace brook::storage {
namespace {

// Cleaned segments are preallocated this much larger than the segments they replace: setting a
// delete horizon re-encodes each record's timestamp delta, which can grow a 7-byte record by up
// to 10 bytes. Seal trims the file to its contents.
constexpr uint64_t kGrowthNumerator = 5;
constexpr uint64_t kGrowthDenominator = 2;
constexpr uint64_t kSegmentPositionMax = (uint64_t{1} << 31) - 1;  // index positions are 32-bit
constexpr uint64_t kProgressEvery = 1 << 20;

// Keeps the pass under io_bytes_per_second (read + written), sleeping when it runs ahead.
class Throttle {
 public:
  Throttle(int64_t bytes_per_second, CompactionPass* pass)
      : rate_(bytes_per_second), pass_(pass), start_(std::chrono::steady_clock::now()) {}

  void Add(uint64_t bytes) {
    if (rate_ <= 0) return;
    bytes_ += bytes;
    auto due = std::chrono::nanoseconds(
        static_cast<int64_t>(static_cast<double>(bytes_) * 1e9 / static_cast<double>(rate_)));
    auto elapsed = std::chrono::steady_clock::now() - start_;
    if (due - elapsed > std::chrono::milliseconds(5)) {
      std::this_thread::sleep_for(due - elapsed);
      pass_->throttled += std::chrono::duration_cast<std::chrono::nanoseconds>(due - elapsed);
    }
  }

 private:
  const int64_t rate_;
  CompactionPass* const pass_;
  const std::chrono::steady_clock::time_point start_;
  uint64_t bytes_ = 0;
};

class Progress {
 public:
  Progress(const std::function<void(uint64_t, uint64_t)>& report, uint64_t total)
      : report_(report), total_(total) {}
  void Add(uint64_t bytes) {
    done_ += bytes;
    if (report_ && done_ - reported_ >= kProgressEvery) {
      reported_ = done_;
      report_(std::min(done_, total_), total_);
    }
  }
  void Finish() {
    if (report_) report_(total_, total_);
  }

 private:
  const std::function<void(uint64_t, uint64_t)>& report_;
  const uint64_t total_;
  uint64_t done_ = 0;
  uint64_t reported_ = 0;
};

absl::StatusOr<RecordBatchView> ParseStored(const Segment& segment, uint64_t position) {
  absl::StatusOr<RecordBatchView> batch =
      RecordBatchView::Parse(segment.bytes().subspan(position), Verify::kChecksum);
  if (!batch.ok()) {
    return Annotate(absl::DataLossError(batch.status().message()),
                    fmt::format("compacting {} at byte {}", segment.log_path(), position));
  }
  return batch;
}

bool Inspectable(const RecordBatchView& batch) {
  return !batch.is_control() && batch.compression() == Compression::kNone;
}

// Phase 1: maps every key in [first_dirty, ...) to its latest offset, as far as the map holds.
// Returns the last offset covered (first_dirty - 1 if none).
absl::StatusOr<int64_t> BuildOffsetMap(const CompactionInput& input, Throttle* throttle,
                                       Progress* progress, CompactionPass* pass) {
  OffsetMap& map = *input.map;
  map.Clear();
  int64_t map_end = input.first_dirty - 1;
  for (const auto& segment : input.segments) {
    if (segment->next_offset() <= input.first_dirty) continue;
    std::span<const std::byte> bytes = segment->bytes();
    uint64_t position = segment->FindPosition(input.first_dirty);
    while (position < bytes.size()) {
      BROOK_ASSIGN_OR_RETURN(RecordBatchView batch, ParseStored(*segment, position));
      if (Inspectable(batch)) {
        if (map.size() + static_cast<size_t>(batch.records_count()) > map.capacity()) {
          if (map.size() == 0) {
            return absl::ResourceExhaustedError(fmt::format(
                "compaction.offset_map_bytes ({} bytes, {} keys) cannot hold the {} records of "
                "the batch at offset {} in {}",
                map.memory_bytes(), map.capacity(), batch.records_count(), batch.base_offset(),
                segment->log_path()));
          }
          pass->keys = map.size();
          return map_end;  // full: this pass stops here
        }
        for (const RecordView& record : batch.records()) {
          if (record.offset() >= input.first_dirty && record.has_key()) {
            map.Put(HashKey(record.key()), record.offset());
          }
        }
      }
      map_end = batch.last_offset();
      position += batch.size_bytes();
      pass->bytes_read += batch.size_bytes();
      throttle->Add(batch.size_bytes());
      progress->Add(batch.size_bytes());
    }
  }
  pass->keys = map.size();
  return map_end;
}

// Consecutive segments whose combined size fits one segment and whose offsets fit the 32-bit
// relative offsets of one index (Kafka's groupSegmentsBySize), among the first `count`.
std::vector<std::pair<size_t, size_t>> GroupSegments(const CompactionInput& input, size_t count) {
  std::vector<std::pair<size_t, size_t>> groups;
  size_t i = 0;
  while (i < count) {
    size_t j = i + 1;
    uint64_t bytes = input.segments[i]->size();
    while (j < count) {
      const Segment& next = *input.segments[j];
      if (bytes + next.size() > input.config.segment_bytes_max ||
          next.next_offset() - 1 - input.segments[i]->base_offset() >
              std::numeric_limits<int32_t>::max()) {
        break;
      }
      bytes += next.size();
      ++j;
    }
    groups.emplace_back(i, j - i);
    i = j;
  }
  return groups;
}

// Phase 2 for one group: writes the retained batches into a new `.cleaned` segment. Returns
// nullptr when nothing in the group changed.
absl::StatusOr<std::unique_ptr<Segment>> CleanGroup(const CompactionInput& input, size_t first,
                                                    size_t count, int64_t map_end,
                                                    Throttle* throttle, Progress* progress,
                                                    CompactionPass* pass) {
  const OffsetMap& map = *input.map;
  uint64_t group_bytes = 0;
  for (size_t i = first; i < first + count; ++i) group_bytes += input.segments[i]->size();
  SegmentConfig config = input.config;
  config.segment_bytes_max = std::min(
      kSegmentPositionMax, group_bytes * kGrowthNumerator / kGrowthDenominator + (64 << 10));
  BROOK_ASSIGN_OR_RETURN(
      std::unique_ptr<Segment> cleaned,
      Segment::Create(config, input.segments[first]->base_offset(), input.now_ms, kCleanedSuffix));
  bool changed = count > 1;
  std::vector<uint8_t> keep;
  std::vector<std::byte> buffer;
  int64_t horizon = input.delete_retention_ms > std::numeric_limits<int64_t>::max() - input.now_ms
                        ? std::numeric_limits<int64_t>::max()
                        : input.now_ms + input.delete_retention_ms;
  absl::Status status = [&]() -> absl::Status {
    for (size_t i = first; i < first + count; ++i) {
      const Segment& segment = *input.segments[i];
      std::span<const std::byte> bytes = segment.bytes();
      uint64_t position = 0;
      while (position < bytes.size()) {
        BROOK_ASSIGN_OR_RETURN(RecordBatchView batch, ParseStored(segment, position));
        position += batch.size_bytes();
        pass->bytes_read += batch.size_bytes();
        throttle->Add(batch.size_bytes());
        progress->Add(batch.size_bytes());
        bool last_of_group = i + 1 == first + count && position == bytes.size();
        bool producer_needs =
            std::binary_search(input.producer_last_offsets.begin(),
                               input.producer_last_offsets.end(), batch.last_offset());
        if (batch.next_offset() <= input.start_offset && !last_of_group && !producer_needs) {
          changed = true;  // wholly below the log start: unreadable anyway
          continue;
        }
        const RecordBatchView* out = &batch;
        RecordBatchView rewritten = batch;
        if (Inspectable(batch)) {
          keep.clear();
          int32_t kept = 0;
          bool tombstone_kept = false;
          bool horizon_passed =
              batch.has_delete_horizon() && input.now_ms >= batch.base_timestamp();
          for (const RecordView& record : batch.records()) {
            bool retain = true;
            if (record.offset() <= map_end) {
              if (!record.has_key()) {
                retain = false;  // a keyless record in a compacted log (Kafka drops them too)
              } else if (map.Get(HashKey(record.key())) > record.offset()) {
                retain = false;  // a later record has the same key
              } else if (!record.has_value() && horizon_passed) {
                retain = false;  // a tombstone past its delete horizon
                ++pass->tombstones_removed;
              }
            }
            keep.push_back(retain ? 1 : 0);
            kept += retain ? 1 : 0;
            tombstone_kept = tombstone_kept || (retain && !record.has_value());
          }
          pass->records_removed += batch.records_count() - kept;
          std::optional<int64_t> new_horizon;
          if (tombstone_kept && !batch.has_delete_horizon()) new_horizon = horizon;
          if (kept == 0 && !last_of_group && !producer_needs) {
            changed = true;
            continue;
          }
          if (kept != batch.records_count() || new_horizon) {
            changed = true;
            buffer.clear();
            size_t index = 0;
            RewriteBatch(
                batch, [&](const RecordView&) { return keep[index++] != 0; }, new_horizon, &buffer);
            BROOK_ASSIGN_OR_RETURN(rewritten, RecordBatchView::Parse(buffer, Verify::kHeader));
            out = &rewritten;
          }
        }
        BROOK_RETURN_IF_ERROR(cleaned->Append(*out, out->base_offset()));
        pass->bytes_written += out->size_bytes();
        throttle->Add(out->size_bytes());
      }
    }
    if (!changed) return absl::OkStatus();
    return cleaned->Seal(/*sync=*/true);
  }();
  if (!status.ok() || !changed) {
    cleaned->Remove().IgnoreError();
    BROOK_RETURN_IF_ERROR(status);
    return nullptr;
  }
  return cleaned;
}

}  // namespace

absl::StatusOr<CompactionPass> CompactSegments(const CompactionInput& input) {
  CompactionPass pass;
  pass.cleaned_to = input.first_dirty;
  uint64_t total = 0;
  for (const auto& segment : input.segments) {
    total += segment->size() * (segment->next_offset() > input.first_dirty ? 2 : 1);
  }
  Throttle throttle(input.io_bytes_per_second, &pass);
  Progress progress(input.progress, total);
  BROOK_ASSIGN_OR_RETURN(int64_t map_end, BuildOffsetMap(input, &throttle, &progress, &pass));
  if (map_end < input.first_dirty) {
    progress.Finish();
    return pass;  // nothing dirty
  }
  // Recopy every segment that begins at or below the map's end; later ones stay dirty.
  size_t count = 0;
  while (count < input.segments.size() && input.segments[count]->base_offset() <= map_end) {
    ++count;
  }
  for (auto [first, n] : GroupSegments(input, count)) {
    absl::StatusOr<std::unique_ptr<Segment>> cleaned =
        CleanGroup(input, first, n, map_end, &throttle, &progress, &pass);
    if (!cleaned.ok()) {
      for (auto& group : pass.groups) group.segment->Remove().IgnoreError();
      return cleaned.status();
    }
    if (*cleaned != nullptr) {
      pass.groups.push_back({.first = first, .count = n, .segment = std::move(*cleaned)});
    }
  }
  pass.cleaned_to = map_end + 1;
  progress.Finish();
  return pass;
}

}  // namespace brook::storage
