#include "storage/segment.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "brook/detail/check.h"
#include "brook/detail/endian.h"
#include "fmt/format.h"
#include "fs/advice.h"
#include "util/format.h"
#include "util/status_macros.h"

namespace brook::storage {
namespace {

using detail::LoadBig;
using detail::StoreBig;

constexpr std::string_view kLogExtension = ".log";
constexpr std::string_view kIndexExtension = ".index";
constexpr std::string_view kTimeIndexExtension = ".timeindex";

// Header fields of the batch at `p` (at least kHeaderSize bytes).
int64_t BatchLastOffset(const std::byte* p) {
  return detail::WrappingAdd(LoadBig<int64_t>(p + batch_layout::kBaseOffset),
                             LoadBig<int32_t>(p + batch_layout::kLastOffsetDelta));
}

// The size of the batch at `position` of `bytes`, if a plausible header is fully there.
std::optional<uint64_t> BatchSizeAt(std::span<const std::byte> bytes, uint64_t position) {
  if (position + batch_layout::kHeaderSize > bytes.size()) return std::nullopt;
  std::optional<size_t> size = RecordBatchView::PeekSize(bytes.subspan(position));
  if (!size || *size < batch_layout::kHeaderSize || position + *size > bytes.size()) {
    return std::nullopt;
  }
  return *size;
}

bool AllZero(std::span<const std::byte> bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::byte b) { return b == std::byte{0}; });
}

}  // namespace

std::string SegmentFileStem(int64_t base_offset) { return fmt::format("{:020d}", base_offset); }

Segment::Segment(const SegmentConfig& config, int64_t base_offset, int64_t created_ms,
                 std::string_view suffix)
    : config_(config),
      base_offset_(base_offset),
      created_ms_(created_ms),
      suffix_(suffix),
      next_offset_(base_offset) {}

Segment::~Segment() = default;

std::string Segment::PathFor(std::string_view extension) const {
  return fmt::format("{}/{}{}{}", config_.dir, SegmentFileStem(base_offset_), extension, suffix_);
}

absl::Status Segment::Rename(std::string_view suffix) {
  // The .log last: recovery treats `<base>.log<suffix>` as the mark that the rename happened
  // (the indexes it can rebuild).
  for (std::string_view ext : {kIndexExtension, kTimeIndexExtension, kLogExtension}) {
    std::string from = PathFor(ext);
    std::string to =
        fmt::format("{}/{}{}{}", config_.dir, SegmentFileStem(base_offset_), ext, suffix);
    BROOK_RETURN_IF_ERROR(config_.fs->Rename(from, to));
  }
  suffix_ = suffix;
  return absl::OkStatus();
}

std::string Segment::log_path() const { return PathFor(kLogExtension); }

absl::Status Segment::MapData(uint64_t size, bool writable) {
  if (size == 0 || (size <= mapped_bytes_ && (writable_ || !writable))) return absl::OkStatus();
  std::unique_ptr<MappedRegion> map;
  std::unique_ptr<MappedRegion> writer;
  BROOK_ASSIGN_OR_RETURN(map, file_->MapReadOnly(size));
  if (writable) {
    BROOK_ASSIGN_OR_RETURN(writer, file_->MapReadWrite(size));
    // Readers of the active segment fault in pages just written, yet the kernel's readahead on
    // those faults would run on past the written end, zero-filling pages of the preallocated
    // file that appends then overwrite (a tenth of a produce-and-consume run's CPU). So their
    // mapping has no readahead while the segment is active; Log::Read asks for it explicitly
    // when a reader is far behind (WillNeed). Appends keep readahead on their own mapping,
    // where it batches the page allocations of stores into the mapping.
    fs::Advise(map->data(), size, fs::Access::kRandom);
  }
  const std::byte* writer_data = writer != nullptr ? writer->data() : map->data();
  data_.store(writer_data, std::memory_order_release);
  read_data_.store(map->data(), std::memory_order_release);
  reader_random_.store(writable, std::memory_order_release);
  mapped_bytes_ = size;
  writable_ = writable;
  reader_ = map.get();
  writer_ = writer.get();
  maps_.push_back(std::move(map));  // older mappings stay until the segment goes (readers)
  if (writer != nullptr) maps_.push_back(std::move(writer));
  return absl::OkStatus();
}

void Segment::WillNeed(uint64_t position, uint64_t bytes) const {
  if (!reader_random_.load(std::memory_order_acquire)) return;  // readahead does it
  std::span<const std::byte> data = this->bytes();
  if (position >= data.size()) return;
  fs::Advise(data.data() + position, std::min<uint64_t>(bytes, data.size() - position),
             fs::Access::kWillNeed);
}

absl::Status Segment::OpenFiles(bool create, bool keep_index_entries, bool active) {
  BROOK_ASSIGN_OR_RETURN(
      file_, config_.fs->Open(log_path(), create ? OpenMode::kCreate : OpenMode::kReadWrite));
  BROOK_ASSIGN_OR_RETURN(
      offset_index_, IndexFile::Open(config_.fs, PathFor(kIndexExtension), kOffsetIndexEntrySize,
                                     config_.index_bytes_max, keep_index_entries, active));
  BROOK_ASSIGN_OR_RETURN(
      time_index_, IndexFile::Open(config_.fs, PathFor(kTimeIndexExtension), kTimeIndexEntrySize,
                                   config_.index_bytes_max, keep_index_entries, active));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Segment>> Segment::Create(const SegmentConfig& config,
                                                         int64_t base_offset, int64_t now_ms,
                                                         std::string_view suffix) {
  std::unique_ptr<Segment> segment(new Segment(config, base_offset, now_ms, suffix));
  absl::Status s = [&]() -> absl::Status {
    BROOK_RETURN_IF_ERROR(
        segment->OpenFiles(/*create=*/true, /*keep_index_entries=*/false, /*active=*/true));
    BROOK_RETURN_IF_ERROR(segment->file_->Truncate(0));
    BROOK_RETURN_IF_ERROR(segment->file_->Allocate(config.segment_bytes_max));
    return segment->MapData(config.segment_bytes_max, /*writable=*/true);
  }();
  if (!s.ok()) {
    segment->Remove().IgnoreError();  // leave nothing half-made behind
    return s;
  }
  return segment;
}

absl::StatusOr<std::unique_ptr<Segment>> Segment::Open(const SegmentConfig& config,
                                                       int64_t base_offset, bool trusted,
                                                       bool active, int64_t now_ms,
                                                       SegmentScan* scan, std::string_view suffix) {
  std::unique_ptr<Segment> segment(new Segment(config, base_offset, now_ms, suffix));
  if (trusted) {
    // A trusted segment needs both indexes; a missing one means rebuild.
    for (std::string_view ext : {kIndexExtension, kTimeIndexExtension}) {
      BROOK_ASSIGN_OR_RETURN(bool exists, config.fs->Exists(segment->PathFor(ext)));
      if (!exists) trusted = false;
    }
  }
  BROOK_RETURN_IF_ERROR(
      segment->OpenFiles(/*create=*/false, /*keep_index_entries=*/trusted, active));
  BROOK_ASSIGN_OR_RETURN(uint64_t file_size, segment->file_->Size());
  segment->size_.store(file_size, std::memory_order_relaxed);
  BROOK_RETURN_IF_ERROR(
      segment->MapData(std::max(file_size, active ? config.segment_bytes_max : 0), active));
  if (trusted) {
    absl::Status s = segment->LoadTrustedTail();
    if (!s.ok()) {
      // The files contradict the clean-shutdown / recovery-point promise: scan instead.
      segment->offset_index_->TruncateEntries(0);
      segment->time_index_->TruncateEntries(0);
      trusted = false;
    }
  }
  if (!trusted) {
    segment->size_.store(file_size, std::memory_order_relaxed);
    BROOK_RETURN_IF_ERROR(segment->Recover(scan));
  }
  if (active) {
    BROOK_RETURN_IF_ERROR(segment->file_->Allocate(config.segment_bytes_max));
  } else if (!trusted) {
    BROOK_RETURN_IF_ERROR(segment->Seal(/*sync=*/true));
  }
  segment->synced_size_ = segment->size();
  return segment;
}

void Segment::ResetTimestampsFromIndex() {
  int32_t n = time_index_->entries();
  if (n == 0) {
    max_timestamp_.store(kNoTimestamp, std::memory_order_relaxed);
    offset_of_max_timestamp_ = -1;
    return;
  }
  const std::byte* e = time_index_->entry(n - 1);
  max_timestamp_.store(LoadBig<int64_t>(e), std::memory_order_relaxed);
  offset_of_max_timestamp_ = base_offset_ + LoadBig<uint32_t>(e + 8);
}

absl::Status Segment::CheckIndexes() const {
  // Cheap sanity checks (Kafka's): entries increase and point inside the data. A failure makes
  // Open scan the segment and rebuild both indexes.
  uint64_t data_size = size();
  int64_t previous_rel = -1;
  uint64_t previous_position = 0;
  for (int32_t i = 0; i < offset_index_->entries(); ++i) {
    const std::byte* e = offset_index_->entry(i);
    int64_t rel = LoadBig<uint32_t>(e);
    uint64_t position = LoadBig<uint32_t>(e + 4);
    if (rel <= previous_rel || position <= previous_position || position >= data_size) {
      return absl::DataLossError(
          fmt::format("{}: offset index entry {} is out of order", log_path(), i));
    }
    previous_rel = rel;
    previous_position = position;
  }
  int64_t previous_ts = INT64_MIN;
  previous_rel = -1;
  for (int32_t i = 0; i < time_index_->entries(); ++i) {
    const std::byte* e = time_index_->entry(i);
    int64_t ts = LoadBig<int64_t>(e);
    int64_t rel = LoadBig<uint32_t>(e + 8);
    if (ts < previous_ts || rel < previous_rel) {
      return absl::DataLossError(
          fmt::format("{}: time index entry {} is out of order", log_path(), i));
    }
    previous_ts = ts;
    previous_rel = rel;
  }
  return absl::OkStatus();
}

absl::Status Segment::LoadTrustedTail() {
  BROOK_RETURN_IF_ERROR(CheckIndexes());
  std::span<const std::byte> bytes = {data_.load(std::memory_order_relaxed), size()};
  uint64_t position = 0;
  int32_t n = offset_index_->entries();
  if (n > 0) {
    position = LoadBig<uint32_t>(offset_index_->entry(n - 1) + 4);
    if (position >= bytes.size()) {
      return absl::DataLossError(
          fmt::format("{}: last index entry points past the end", log_path()));
    }
  }
  ResetTimestampsFromIndex();
  int64_t next =
      n > 0 ? base_offset_ + LoadBig<uint32_t>(offset_index_->entry(n - 1)) : base_offset_;
  int64_t max_ts = max_timestamp_.load(std::memory_order_relaxed);
  while (position < bytes.size()) {
    absl::StatusOr<RecordBatchView> batch =
        RecordBatchView::Parse(bytes.subspan(position), Verify::kHeader);
    if (!batch.ok()) return batch.status();
    if (batch->max_timestamp() > max_ts) {
      max_ts = batch->max_timestamp();
      offset_of_max_timestamp_ = batch->last_offset();
    }
    next = batch->next_offset();
    position += batch->size_bytes();
  }
  max_timestamp_.store(max_ts, std::memory_order_relaxed);
  next_offset_.store(next, std::memory_order_relaxed);
  bytes_since_index_entry_ = 0;
  return absl::OkStatus();
}

absl::Status Segment::Recover(SegmentScan* scan) {
  std::span<const std::byte> bytes = {data_.load(std::memory_order_relaxed), size()};
  offset_index_->TruncateEntries(0);
  time_index_->TruncateEntries(0);
  max_timestamp_.store(kNoTimestamp, std::memory_order_relaxed);
  offset_of_max_timestamp_ = -1;
  bytes_since_index_entry_ = 0;
  uint64_t position = 0;
  int64_t next = base_offset_;
  SegmentScan result;
  while (position < bytes.size()) {
    std::span<const std::byte> rest = bytes.subspan(position);
    if (rest.size() < batch_layout::kHeaderSize) {
      if (!AllZero(rest)) result.problem = fmt::format("torn batch header at byte {}", position);
      break;
    }
    if (AllZero(rest.first(batch_layout::kHeaderSize))) break;  // preallocated, never written
    absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(rest, Verify::kChecksum);
    if (!batch.ok()) {
      result.problem = fmt::format("bad batch at byte {}: {}", position, batch.status().message());
      break;
    }
    if (batch->base_offset() < next ||
        batch->last_offset() - base_offset_ > std::numeric_limits<int32_t>::max()) {
      result.problem = fmt::format("batch at byte {} has offsets {}..{}, expected >= {}", position,
                                   batch->base_offset(), batch->last_offset(), next);
      break;
    }

    if (batch->max_timestamp() > max_timestamp_.load(std::memory_order_relaxed)) {
      max_timestamp_.store(batch->max_timestamp(), std::memory_order_relaxed);
      offset_of_max_timestamp_ = batch->last_offset();
    }
    BROOK_RETURN_IF_ERROR(MaybeAddIndexEntries(position, batch->size_bytes(), batch->last_offset(),
                                               batch->max_timestamp()));
    next = batch->next_offset();
    position += batch->size_bytes();
    ++result.batches;
  }
  result.scanned = true;
  if (position < bytes.size()) {
    // Count what is cut: the bad batch's claimed extent, or the non-zero bytes of a torn header.
    std::span<const std::byte> rest = bytes.subspan(position);
    uint64_t extent = std::min<uint64_t>(
        rest.size(), BatchSizeAt(bytes, position).value_or(std::min<uint64_t>(rest.size(), 4096)));
    if (!result.problem.empty()) result.truncated_bytes = std::max<uint64_t>(extent, 1);
    BROOK_RETURN_IF_ERROR(file_->Truncate(position));
    BROOK_RETURN_IF_ERROR(file_->Sync());
  }
  size_.store(position, std::memory_order_relaxed);
  next_offset_.store(next, std::memory_order_relaxed);
  if (scan != nullptr) *scan = result;
  return absl::OkStatus();
}

bool Segment::ShouldRoll(uint64_t batch_bytes, int64_t last_offset, int64_t now_ms,
                         int64_t segment_age_max_ms) const {
  uint64_t used = size();
  if (used + batch_bytes > config_.segment_bytes_max) return true;
  if (used > 0 && now_ms - created_ms_ >= segment_age_max_ms) return true;
  if (offset_index_->full() || time_index_->entries() >= time_index_->max_entries() - 1)
    return true;
  return last_offset - base_offset_ > std::numeric_limits<int32_t>::max();
}

absl::Status Segment::AppendTimeIndexEntry(int64_t timestamp, int64_t offset) {
  std::array<std::byte, kTimeIndexEntrySize> entry;
  StoreBig<int64_t>(entry.data(), timestamp);
  StoreBig<uint32_t>(entry.data() + 8, static_cast<uint32_t>(offset - base_offset_));
  return time_index_->Append(entry.data());
}

absl::Status Segment::MaybeAddIndexEntries(uint64_t position, uint64_t batch_bytes,
                                           int64_t last_offset, int64_t /*max_timestamp*/) {
  // A full index (possible in recovery, when the options shrank) just stops growing: it is
  // sparse anyway, and the segment rolls before its next append.
  bool room = !offset_index_->full() && time_index_->entries() < time_index_->max_entries() - 1;
  if (bytes_since_index_entry_ > config_.index_interval_bytes && room) {
    std::array<std::byte, kOffsetIndexEntrySize> entry;
    StoreBig<uint32_t>(entry.data(), static_cast<uint32_t>(last_offset - base_offset_));
    StoreBig<uint32_t>(entry.data() + 4, static_cast<uint32_t>(position));
    BROOK_RETURN_IF_ERROR(offset_index_->Append(entry.data()));
    int64_t max_ts = max_timestamp_.load(std::memory_order_relaxed);
    int32_t n = time_index_->entries();
    int64_t last_ts = n > 0 ? LoadBig<int64_t>(time_index_->entry(n - 1)) : kNoTimestamp;
    if (max_ts > last_ts && max_ts != kNoTimestamp) {
      absl::Status s = AppendTimeIndexEntry(max_ts, offset_of_max_timestamp_);
      if (!s.ok()) {
        // The batch is not appended (Append fails): its offset-index entry goes too, or a retry
        // of the batch would index the same offset twice, and the index would fail its check.
        offset_index_->TruncateEntries(offset_index_->entries() - 1);
        return s;
      }
    }
    bytes_since_index_entry_ = 0;
  }
  bytes_since_index_entry_ += batch_bytes;
  return absl::OkStatus();
}

absl::Status Segment::Append(const RecordBatchView& batch, int64_t base_offset) {
  uint64_t position = size();
  uint64_t n = batch.size_bytes();
  BROOK_CHECK(position + n <= config_.segment_bytes_max);
  if (writable_ && n <= config_.mapped_append_bytes_max) {
    // Small batches: a copy into the mapping beats a system call (docs/benchmarks.md). The
    // space is reserved by Allocate, so the stores cannot fault for lack of disk.
    // The assigned base offset goes in first: a process killed mid-copy leaves a batch that is
    // incomplete (CRC or length fails), never a complete one with the caller's base offset.
    std::byte* at = const_cast<std::byte*>(data_.load(std::memory_order_relaxed)) + position;
    StoreBig<int64_t>(at, base_offset);
    std::memcpy(at + 8, batch.bytes().data() + 8, n - 8);
  } else {
    std::array<std::byte, 8> base;
    StoreBig<int64_t>(base.data(), base_offset);
    std::span<const std::byte> pieces[2] = {base, batch.bytes().subspan(8)};
    BROOK_RETURN_IF_ERROR(file_->Write(position, pieces));
  }
  int64_t last_offset = base_offset + batch.last_offset_delta();
  const int64_t max_timestamp_before = max_timestamp_.load(std::memory_order_relaxed);
  const int64_t offset_of_max_timestamp_before = offset_of_max_timestamp_;
  if (batch.max_timestamp() > max_timestamp_before) {
    max_timestamp_.store(batch.max_timestamp(), std::memory_order_release);
    offset_of_max_timestamp_ = last_offset;
  }
  if (absl::Status s = MaybeAddIndexEntries(position, n, last_offset, batch.max_timestamp());
      !s.ok()) {
    // Nothing of the batch is published (size_ did not move): the segment is as it was, so the
    // same position takes the next append, or a retry of this one.
    max_timestamp_.store(max_timestamp_before, std::memory_order_release);
    offset_of_max_timestamp_ = offset_of_max_timestamp_before;
    return s;
  }
  size_.store(position + n, std::memory_order_release);
  next_offset_.store(last_offset + 1, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Segment::Sync() {
  uint64_t target = size();
  if (synced_size_ >= target) return absl::OkStatus();
  BROOK_RETURN_IF_ERROR(file_->Sync());
  synced_size_ = target;
  return absl::OkStatus();
}

absl::Status Segment::SyncAll() {
  BROOK_RETURN_IF_ERROR(file_->Sync());
  BROOK_RETURN_IF_ERROR(offset_index_->Sync());
  return time_index_->Sync();
}

absl::Status Segment::Deactivate() {
  int32_t n = time_index_->entries();
  int64_t last_ts = n > 0 ? LoadBig<int64_t>(time_index_->entry(n - 1)) : kNoTimestamp;
  int64_t max_ts = max_timestamp_.load(std::memory_order_relaxed);
  if (max_ts > last_ts && max_ts != kNoTimestamp && !time_index_->full()) {
    BROOK_RETURN_IF_ERROR(AppendTimeIndexEntry(max_ts, offset_of_max_timestamp_));
  }
  MutexLock l(&trim_mu_);
  if (writer_ != nullptr) {
    // No more appends: readers get readahead back. The writer's mapping goes at TrimFiles; only
    // appends and the writer's own scans used it, and the scans use the readers' one from now on.
    fs::Advise(reader_->data(), reader_->size(), fs::Access::kNormal);
    reader_random_.store(false, std::memory_order_release);
    data_.store(reader_->data(), std::memory_order_release);
    writable_ = false;
  }
  untrimmed_ = true;
  return absl::OkStatus();
}

absl::Status Segment::TrimFiles() {
  MutexLock l(&trim_mu_);
  return TrimFilesLocked();
}

absl::Status Segment::TrimFilesLocked() {
  if (!untrimmed_) return absl::OkStatus();
  // Never below the largest size ever published: after a TruncateAt a reader may still hold
  // views past the cut, and a mapped page past the end of the file would fault (SIGBUS). The
  // zeros left then read as the end of the data.
  BROOK_RETURN_IF_ERROR(file_->Truncate(std::max(size(), published_size_max_)));
  BROOK_RETURN_IF_ERROR(offset_index_->Trim());
  BROOK_RETURN_IF_ERROR(time_index_->Trim());
  if (writer_ != nullptr) {
    std::erase_if(maps_,
                  [this](const std::unique_ptr<MappedRegion>& m) { return m.get() == writer_; });
    writer_ = nullptr;
  }
  untrimmed_ = false;
  return absl::OkStatus();
}

absl::Status Segment::Seal(bool sync) {
  BROOK_RETURN_IF_ERROR(Deactivate());
  BROOK_RETURN_IF_ERROR(TrimFiles());
  // Without `sync` the fsync comes later (Log::SyncSealed). Starting writeback here with
  // sync_file_range was measured: it cost the appender a third of its throughput, so the
  // kernel's flusher threads are left to it.
  return sync ? SyncAll() : absl::OkStatus();
}

absl::Status Segment::Reactivate() {
  MutexLock l(&trim_mu_);
  BROOK_RETURN_IF_ERROR(TrimFilesLocked());  // the old writer's mapping goes before a new one
  BROOK_RETURN_IF_ERROR(file_->Allocate(config_.segment_bytes_max));
  BROOK_RETURN_IF_ERROR(MapData(config_.segment_bytes_max, /*writable=*/true));
  BROOK_RETURN_IF_ERROR(offset_index_->Extend());
  return time_index_->Extend();
}

absl::Status Segment::TruncateAt(uint64_t position, int64_t next_offset) {
  uint64_t old_size = size();
  BROOK_CHECK(position <= old_size);
  published_size_max_ = std::max(published_size_max_, old_size);
  // Publish the shorter size first so no new reader starts on the bytes being zeroed.
  size_.store(position, std::memory_order_release);
  next_offset_.store(next_offset, std::memory_order_release);
  static const std::array<std::byte, 64 << 10> kZeros{};
  for (uint64_t at = position; at < old_size;) {
    uint64_t n = std::min<uint64_t>(kZeros.size(), old_size - at);
    BROOK_RETURN_IF_ERROR(file_->Write(at, std::span(kZeros.data(), n)));
    at += n;
  }
  auto keep = [&](IndexFile& index) {
    int32_t n = index.entries();
    size_t rel_at = &index == time_index_.get() ? 8 : 0;
    int32_t k = 0;
    while (k < n && base_offset_ + LoadBig<uint32_t>(index.entry(k) + rel_at) < next_offset) ++k;
    index.TruncateEntries(k);
  };
  keep(*offset_index_);
  keep(*time_index_);
  // Recompute the max timestamp from the remaining batch headers.
  std::span<const std::byte> bytes = {data_.load(std::memory_order_relaxed), position};
  int64_t max_ts = kNoTimestamp;
  offset_of_max_timestamp_ = -1;
  for (uint64_t at = 0; at < position;) {
    std::optional<uint64_t> n = BatchSizeAt(bytes, at);
    if (!n) break;
    int64_t ts = LoadBig<int64_t>(bytes.data() + at + batch_layout::kMaxTimestamp);
    if (ts > max_ts) {
      max_ts = ts;
      offset_of_max_timestamp_ = BatchLastOffset(bytes.data() + at);
    }
    at += *n;
  }
  max_timestamp_.store(max_ts, std::memory_order_release);
  bytes_since_index_entry_ = 0;
  BROOK_RETURN_IF_ERROR(file_->Sync());
  synced_size_ = position;
  return absl::OkStatus();
}

absl::Status Segment::RemoveFiles(const SegmentConfig& config, int64_t base_offset,
                                  std::string_view suffix) {
  absl::Status result;
  // The .log first: an index without its .log is an orphan that Open removes.
  for (std::string_view ext : {kLogExtension, kIndexExtension, kTimeIndexExtension}) {
    absl::Status s = config.fs->Remove(
        fmt::format("{}/{}{}{}", config.dir, SegmentFileStem(base_offset), ext, suffix));
    if (!s.ok() && !absl::IsNotFound(s) && result.ok()) result = s;
  }
  return result;
}

absl::Status Segment::Remove() { return RemoveFiles(config_, base_offset_, suffix_); }

uint64_t Segment::FindPosition(int64_t offset) const {
  std::span<const std::byte> data = bytes();
  uint64_t position = 0;
  if (offset > base_offset_) {
    int64_t target = offset - base_offset_;
    int32_t lo = 0, hi = offset_index_->entries();  // find the last entry with rel <= target
    while (lo < hi) {
      int32_t mid = lo + (hi - lo) / 2;
      if (LoadBig<uint32_t>(offset_index_->entry(mid)) <= target) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    if (lo > 0) position = LoadBig<uint32_t>(offset_index_->entry(lo - 1) + 4);
  }
  if (position > data.size()) position = 0;
  while (position < data.size()) {
    std::optional<uint64_t> n = BatchSizeAt(data, position);
    if (!n) return position;  // let the reader's Parse report the bad bytes
    if (BatchLastOffset(data.data() + position) >= offset) return position;
    position += *n;
  }
  return data.size();
}

std::optional<int64_t> Segment::FindOffsetForTimestamp(int64_t timestamp_ms,
                                                       int64_t from_offset) const {
  if (max_timestamp() < timestamp_ms) return std::nullopt;
  // Start after the last time-index entry whose timestamp is below the target: every record up
  // to that entry's offset is older.
  int64_t start = base_offset_;
  int32_t lo = 0, hi = time_index_->entries();
  while (lo < hi) {
    int32_t mid = lo + (hi - lo) / 2;
    if (LoadBig<int64_t>(time_index_->entry(mid)) < timestamp_ms) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  if (lo > 0) start = base_offset_ + LoadBig<uint32_t>(time_index_->entry(lo - 1) + 8);
  start = std::max(start, from_offset);
  std::span<const std::byte> data = bytes();
  for (uint64_t position = FindPosition(start); position < data.size();) {
    absl::StatusOr<RecordBatchView> batch =
        RecordBatchView::Parse(data.subspan(position), Verify::kHeader);
    if (!batch.ok()) return std::nullopt;
    if (batch->max_timestamp() >= timestamp_ms && batch->last_offset() >= from_offset) {
      if (batch->compression() != Compression::kNone) {
        return std::max(batch->base_offset(), from_offset);
      }
      for (const RecordView& record : batch->records()) {
        if (record.offset() >= from_offset && record.timestamp() >= timestamp_ms) {
          return record.offset();
        }
      }
    }
    position += batch->size_bytes();
  }
  return std::nullopt;
}

SegmentInfo Segment::Info(bool active) const {
  return SegmentInfo{
      .base_offset = base_offset_,
      .next_offset = next_offset(),
      .size_bytes = size(),
      .max_timestamp = max_timestamp(),
      .offset_index_entries = offset_index_->entries(),
      .time_index_entries = time_index_->entries(),
      .active = active,
      .path = log_path(),
  };
}

}  // namespace brook::storage
