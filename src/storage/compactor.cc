#include "storage/compactor.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <thread>

#include "brook/compression.h"
#include "brook/detail/check.h"
#include "brook/status.h"
#include "fmt/format.h"
#include "storage/batch_rewrite.h"
#include "util/format.h"
#include "util/status_macros.h"

namespace brook::storage {
namespace {

// Cleaned segments are preallocated this much larger than a segment (see StartGroup).
constexpr uint64_t kGrowthNumerator = 5;
constexpr uint64_t kGrowthDenominator = 2;
constexpr uint64_t kSegmentPositionMax = (uint64_t{1} << 31) - 1;  // index positions are 32-bit
constexpr uint64_t kProgressEvery = 1 << 20;

// Keeps the pass under io_bytes_per_second (read + written), sleeping when it runs ahead.
class Throttle {
 public:
  // `cancel` (may be null) cuts a sleep short: a pass stopped for a truncation or a close does
  // not sleep out its throttling first.
  Throttle(int64_t bytes_per_second, CompactionPass* pass, const std::atomic<bool>* cancel)
      : rate_(bytes_per_second),
        pass_(pass),
        cancel_(cancel),
        start_(std::chrono::steady_clock::now()) {}

  void Add(uint64_t bytes) {
    if (rate_ <= 0) return;
    bytes_ += bytes;
    auto due = start_ + std::chrono::nanoseconds(static_cast<int64_t>(
                            static_cast<double>(bytes_) * 1e9 / static_cast<double>(rate_)));
    auto now = std::chrono::steady_clock::now();
    if (due - now <= std::chrono::milliseconds(5)) return;
    const auto slept_from = now;
    while (now < due && !(cancel_ != nullptr && cancel_->load(std::memory_order_acquire))) {
      std::this_thread::sleep_for(
          std::min<std::chrono::nanoseconds>(due - now, std::chrono::milliseconds(50)));
      now = std::chrono::steady_clock::now();
    }
    pass_->throttled += std::chrono::duration_cast<std::chrono::nanoseconds>(now - slept_from);
  }

 private:
  const int64_t rate_;
  CompactionPass* const pass_;
  const std::atomic<bool>* const cancel_;
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

absl::StatusOr<RecordBatchView> ParseStored(const Segment& segment, uint64_t position,
                                            Verify verify = Verify::kChecksum) {
  absl::StatusOr<RecordBatchView> batch =
      RecordBatchView::Parse(segment.bytes().subspan(position), verify);
  if (!batch.ok()) {
    return Annotate(absl::DataLossError(batch.status().message()),
                    fmt::format("compacting {} at byte {}", segment.log_path(), position));
  }
  return batch;
}

absl::Status CheckCancelled(const CompactionInput& input) {
  if (input.cancel != nullptr && input.cancel->load(std::memory_order_acquire)) {
    return absl::CancelledError("compaction pass stopped (the log is being truncated or closed)");
  }
  return absl::OkStatus();
}

// The records of a stored batch: `batch` itself when uncompressed, else its decompressed copy
// in *buffer; nullopt for a batch the cleaner leaves as it is, one whose codec this build lacks
// or whose records inflate past kMaxDecompressedRecordsBytes (possible in a log written before
// it was compacted, or by a build with more codecs). A stream that fails otherwise is damage on
// disk (its CRC matched).
absl::StatusOr<std::optional<RecordBatchView>> Inflate(const Segment& segment, uint64_t position,
                                                       const RecordBatchView& batch,
                                                       std::vector<std::byte>* buffer) {
  if (batch.compression() == Compression::kNone) return batch;
  absl::StatusOr<std::vector<std::byte>> plain =
      DecompressBatch(batch, kMaxDecompressedRecordsBytes);
  if (!plain.ok()) {
    ErrorCode code = GetErrorCode(plain.status());
    if (code == ErrorCode::kUnsupportedCompressionType || code == ErrorCode::kMessageTooLarge) {
      return std::nullopt;
    }
    return Annotate(absl::DataLossError(plain.status().message()),
                    fmt::format("compacting {} at byte {}", segment.log_path(), position));
  }
  *buffer = std::move(*plain);
  return RecordBatchView::Parse(*buffer, Verify::kHeader);
}

// Phase 1: maps every key in [first_dirty, ...) to its latest offset, as far as the map holds.
// Returns the last offset covered (first_dirty - 1 if none).
absl::StatusOr<int64_t> BuildOffsetMap(const CompactionInput& input, Throttle* throttle,
                                       Progress* progress, CompactionPass* pass) {
  OffsetMap& map = *input.map;
  map.Clear();
  std::vector<KeyHash> hashes;
  std::vector<int64_t> offsets;
  std::vector<std::byte> inflated;  // a compressed batch's records
  int64_t map_end = input.first_dirty - 1;
  for (const auto& segment : input.segments) {
    if (segment->next_offset() <= input.first_dirty) continue;
    std::span<const std::byte> bytes = segment->bytes();
    uint64_t position = segment->FindPosition(input.first_dirty);
    while (position < bytes.size()) {
      BROOK_RETURN_IF_ERROR(CheckCancelled(input));
      BROOK_ASSIGN_OR_RETURN(RecordBatchView stored, ParseStored(*segment, position));
      std::optional<RecordBatchView> records;  // none for control and opaque batches
      if (!stored.is_control()) {
        BROOK_ASSIGN_OR_RETURN(records, Inflate(*segment, position, stored, &inflated));
      }
      if (records) {
        const RecordBatchView& batch = *records;
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
        // Hash and prefetch the whole batch first, so the map's cache misses overlap.
        hashes.clear();
        offsets.clear();
        for (const RecordView& record : batch.records()) {
          if (record.offset() >= input.first_dirty && record.has_key()) {
            hashes.push_back(HashKey(record.key()));
            offsets.push_back(record.offset());
            map.Prefetch(hashes.back());
          }
        }
        for (size_t i = 0; i < hashes.size(); ++i) map.Put(hashes[i], offsets[i]);
      }
      map_end = stored.last_offset();
      position += stored.size_bytes();
      pass->bytes_read += stored.size_bytes();
      throttle->Add(stored.size_bytes());
      progress->Add(stored.size_bytes());
    }
  }
  pass->keys = map.size();
  return map_end;
}

// Phase 2: recopies segments [0, count) into `.cleaned` segments, grouping consecutive segments
// while the cleaned group plus the next segment fits one segment and one index's 32-bit
// relative offsets (Kafka's groupSegmentsBySize, but counting the group's cleaned bytes, so
// small cleaned segments merge in the first pass). Groups of one unchanged segment are dropped.
class Recopier {
 public:
  Recopier(const CompactionInput& input, int64_t map_end, Throttle* throttle, Progress* progress,
           CompactionPass* pass)
      : input_(input), map_end_(map_end), throttle_(throttle), progress_(progress), pass_(pass) {
    horizon_ = input.delete_retention_ms > std::numeric_limits<int64_t>::max() - input.now_ms
                   ? std::numeric_limits<int64_t>::max()
                   : input.now_ms + input.delete_retention_ms;
  }

  absl::Status Run(size_t count) {
    for (size_t i = 0; i < count; ++i) {
      const Segment& segment = *input_.segments[i];
      bool fits = cleaned_ != nullptr &&
                  cleaned_->size() + segment.size() <= input_.config.segment_bytes_max &&
                  segment.next_offset() - 1 - cleaned_->base_offset() <=
                      std::numeric_limits<int32_t>::max();
      if (!fits) {
        BROOK_RETURN_IF_ERROR(FinishGroup());
        BROOK_RETURN_IF_ERROR(StartGroup(i));
      } else {
        changed_ = true;  // merged with the segment before
      }
      group_count_ = i + 1 - group_first_;
      BROOK_RETURN_IF_ERROR(CopySegment(segment));
    }
    return FinishGroup();
  }

  // Removes every file made so far (on failure).
  void Abandon() {
    if (cleaned_ != nullptr) cleaned_->Remove().IgnoreError();
    for (auto& group : pass_->groups) group.segment->Remove().IgnoreError();
  }

 private:
  absl::Status StartGroup(size_t first) {
    SegmentConfig config = input_.config;
    // Setting a delete horizon re-encodes each record's timestamp delta, which can grow a
    // 7-byte record by up to 10 bytes; Seal trims the file to its contents. A segment larger
    // than segment_bytes_max (the option shrank since it was written) starts a group alone.
    uint64_t largest = std::max(input_.config.segment_bytes_max, input_.segments[first]->size());
    config.segment_bytes_max =
        std::min(kSegmentPositionMax, largest * kGrowthNumerator / kGrowthDenominator);
    capacity_ = config.segment_bytes_max;
    BROOK_ASSIGN_OR_RETURN(cleaned_, Segment::Create(config, input_.segments[first]->base_offset(),
                                                     input_.now_ms, kCleanedSuffix));
    group_first_ = first;
    group_count_ = 0;
    changed_ = false;
    pending_.reset();
    return absl::OkStatus();
  }

  absl::Status FinishGroup() {
    if (cleaned_ == nullptr) return absl::OkStatus();
    // The group's last batch is always kept (empty if need be): its end marks the range the
    // cleaned segment replaces, which recovery of an interrupted swap relies on.
    if (pending_) {
      BROOK_RETURN_IF_ERROR(Append(*pending_));
      pending_.reset();
    }
    std::unique_ptr<Segment> cleaned = std::move(cleaned_);
    if (!changed_) return cleaned->Remove();
    BROOK_RETURN_IF_ERROR(cleaned->Seal(/*sync=*/true));
    pass_->groups.push_back(
        {.first = group_first_, .count = group_count_, .segment = std::move(cleaned)});
    return absl::OkStatus();
  }

  absl::Status Append(std::span<const std::byte> bytes) {
    if (cleaned_->size() + bytes.size() > capacity_) {
      return absl::ResourceExhaustedError(fmt::format(
          "compacted segment {} would exceed the {} bytes reserved for it (setting delete "
          "horizons or recompressing rewritten batches grew them)",
          cleaned_->log_path(), capacity_));
    }
    BROOK_ASSIGN_OR_RETURN(RecordBatchView batch, RecordBatchView::Parse(bytes, Verify::kHeader));
    BROOK_RETURN_IF_ERROR(cleaned_->Append(batch, batch.base_offset()));
    pass_->bytes_written += bytes.size();
    throttle_->Add(bytes.size());
    return absl::OkStatus();
  }

  absl::Status CopySegment(const Segment& segment) {
    std::span<const std::byte> bytes = segment.bytes();
    uint64_t position = 0;
    while (position < bytes.size()) {
      BROOK_RETURN_IF_ERROR(CheckCancelled(input_));
      BROOK_ASSIGN_OR_RETURN(RecordBatchView batch,
                             ParseStored(segment, position, Verify::kHeader));
      // BuildOffsetMap checked the CRC of the batches it mapped moments ago, and sealed segments
      // do not change; the others are checked here. (Record walks are bounds-checked anyway.)
      bool mapped = batch.last_offset() >= input_.first_dirty && batch.last_offset() <= map_end_;
      if (!mapped && !batch.crc_ok()) {
        BROOK_RETURN_IF_ERROR(ParseStored(segment, position).status());  // names the problem
      }
      position += batch.size_bytes();
      pass_->bytes_read += batch.size_bytes();
      throttle_->Add(batch.size_bytes());
      progress_->Add(batch.size_bytes());
      pending_.reset();  // an empty batch held back is not the group's last after all
      bool producer_needs =
          std::binary_search(input_.producer_last_offsets.begin(),
                             input_.producer_last_offsets.end(), batch.last_offset());
      std::optional<RecordBatchView> records;
      if (!batch.is_control()) {
        BROOK_ASSIGN_OR_RETURN(records,
                               Inflate(segment, position - batch.size_bytes(), batch, &inflated_));
      }
      if (!records) {
        // Control batches, and compressed ones this build cannot open, are copied as they are.
        BROOK_RETURN_IF_ERROR(Keep(batch.bytes(), /*empty=*/false, producer_needs));
        continue;
      }
      BROOK_RETURN_IF_ERROR(CopyBatch(batch, *records, producer_needs));
    }
    return absl::OkStatus();
  }

  // Copies `stored` with the records the map supersedes dropped; `batch` is `stored` or, for a
  // compressed one, its decompressed copy. A rewritten compressed batch is compressed again
  // with its codec.
  absl::Status CopyBatch(const RecordBatchView& stored, const RecordBatchView& batch,
                         bool producer_needs) {
    if (batch.next_offset() <= input_.start_offset) {
      return Keep(EmptyCopy(batch), /*empty=*/true, producer_needs);  // unreadable anyway
    }
    keep_.clear();
    int32_t kept = 0;
    bool tombstone_kept = false;
    bool horizon_passed = batch.has_delete_horizon() && input_.now_ms >= batch.base_timestamp();
    // Hash and prefetch first, so the map's cache misses overlap (as in BuildOffsetMap).
    // The records are decoded once and kept for the second loop.
    hashes_.clear();
    records_.clear();
    for (const RecordView& record : batch.records()) {
      records_.push_back(record);
      if (record.offset() <= map_end_ && record.has_key()) {
        hashes_.push_back(HashKey(record.key()));
        input_.map->Prefetch(hashes_.back());
      }
    }
    size_t next_hash = 0;
    for (const RecordView& record : records_) {
      bool retain = true;
      if (record.offset() <= map_end_) {
        if (!record.has_key()) {
          retain = false;  // a keyless record in a compacted log (Kafka drops them too)
        } else if (input_.map->Get(hashes_[next_hash++]) > record.offset()) {
          retain = false;  // a later record has the same key
        } else if (!record.has_value() && horizon_passed) {
          retain = false;  // a tombstone past its delete horizon
          ++pass_->tombstones_removed;
        }
      }
      keep_.push_back(retain ? 1 : 0);
      kept += retain ? 1 : 0;
      tombstone_kept = tombstone_kept || (retain && !record.has_value());
    }
    pass_->records_removed += batch.records_count() - kept;
    std::optional<int64_t> new_horizon;
    // The horizon starts when the map covered the batch: its tombstones were checked against
    // every later record then (offsets past the map's end are only copied).
    if (tombstone_kept && !batch.has_delete_horizon() && batch.last_offset() <= map_end_) {
      new_horizon = horizon_;
    }
    if (kept == batch.records_count() && !new_horizon) {
      return Keep(stored.bytes(), /*empty=*/false, producer_needs);
    }
    changed_ = true;
    rewritten_.clear();
    size_t index = 0;
    RewriteBatch(
        batch, [&](const RecordView&) { return keep_[index++] != 0; }, new_horizon, &rewritten_);
    if (stored.compression() != Compression::kNone && kept > 0) {
      recompressed_.clear();
      absl::StatusOr<RecordBatchView> plain = RecordBatchView::Parse(rewritten_, Verify::kHeader);
      BROOK_CHECK(plain.ok());  // RewriteBatch just built it
      CompressBatch(*plain, stored.compression(), &recompressed_);
      return Keep(recompressed_, /*empty=*/false, producer_needs);
    }
    return Keep(rewritten_, /*empty=*/kept == 0, producer_needs);
  }

  std::span<const std::byte> EmptyCopy(const RecordBatchView& batch) {
    changed_ = true;
    rewritten_.clear();
    RewriteBatch(
        batch, [](const RecordView&) { return false; }, std::nullopt, &rewritten_);
    return rewritten_;
  }

  // Writes a batch, except an empty one nobody needs: that one is held back in case it is the
  // group's last (then it is kept, see FinishGroup) and dropped when another batch follows.
  absl::Status Keep(std::span<const std::byte> bytes, bool empty, bool producer_needs) {
    if (empty && !producer_needs) {
      changed_ = true;
      pending_.emplace(bytes.begin(), bytes.end());
      return absl::OkStatus();
    }
    return Append(bytes);
  }

  const CompactionInput& input_;
  const int64_t map_end_;
  Throttle* const throttle_;
  Progress* const progress_;
  CompactionPass* const pass_;
  int64_t horizon_;
  std::unique_ptr<Segment> cleaned_;
  uint64_t capacity_ = 0;  // of cleaned_
  size_t group_first_ = 0;
  size_t group_count_ = 0;
  bool changed_ = false;
  std::optional<std::vector<std::byte>> pending_;  // an empty batch that may be the group's last
  std::vector<uint8_t> keep_;
  std::vector<KeyHash> hashes_;
  std::vector<RecordView> records_;
  std::vector<std::byte> rewritten_;
  std::vector<std::byte> inflated_;      // a compressed batch's records
  std::vector<std::byte> recompressed_;  // a rewritten compressed batch, compressed again
};

}  // namespace

absl::StatusOr<CompactionPass> CompactSegments(const CompactionInput& input) {
  CompactionPass pass;
  pass.cleaned_to = input.first_dirty;
  uint64_t total = 0;
  for (const auto& segment : input.segments) {
    total += segment->size() * (segment->next_offset() > input.first_dirty ? 2 : 1);
  }
  Throttle throttle(input.io_bytes_per_second, &pass, input.cancel);
  Progress progress(input.progress, total);
  BROOK_ASSIGN_OR_RETURN(int64_t map_end, BuildOffsetMap(input, &throttle, &progress, &pass));
  // Recopy every segment that begins at or below the map's end (with nothing dirty, the clean
  // section: tombstones past their horizon go, small segments merge); later ones stay dirty.
  size_t count = 0;
  while (count < input.segments.size() && input.segments[count]->base_offset() <= map_end) {
    ++count;
  }
  Recopier recopier(input, map_end, &throttle, &progress, &pass);
  if (absl::Status s = recopier.Run(count); !s.ok()) {
    recopier.Abandon();
    return s;
  }
  pass.cleaned_to = map_end + 1;
  progress.Finish();
  return pass;
}

}  // namespace brook::storage
