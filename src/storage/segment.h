// One segment of a Log: `<base>.log` (batches back to back, preallocated, mapped shared) with its
// `<base>.index` and `<base>.timeindex`. Readers read through a read-only mapping; an active
// segment also has a read-write one for appends, unmapped at Seal. While active, the readers'
// mapping is advised against readahead, which would zero-fill the preallocated file ahead of
// the appends (see MapData); WillNeed reads ahead on request instead.
//
// Appends of batches up to LogOptions::mapped_append_bytes_max are copied into the mapping (no
// system call; the space is reserved by fallocate, so the stores cannot fault); larger ones go
// through pwritev, which is faster once the copy's page faults outweigh the call (both measured in
// docs/benchmarks.md). Reads are spans into the mapping; Linux's unified page cache makes bytes
// stored or pwrite'd visible through it at once, and fdatasync writes back pages dirtied either
// way.
//
// Thread safety: the appender methods (Append, Deactivate, Seal, Reactivate, TruncateAt, Remove)
// are called by one thread at a time, under the Log's append mutex. The reader methods (const)
// may be called by any thread concurrently with them: size() and next_offset() are published
// with release/acquire after the bytes they cover are written, so readers only see whole
// batches. Sync, SyncAll and TrimFiles may be called by a flushing thread alongside the
// appender.

#ifndef BROOK_STORAGE_SEGMENT_H_
#define BROOK_STORAGE_SEGMENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/file_system.h"
#include "brook/log.h"
#include "brook/record_batch.h"
#include "storage/index_file.h"
#include "util/mutex.h"

namespace brook::storage {

struct SegmentConfig {
  FileSystem* fs = nullptr;
  std::string dir;
  uint64_t segment_bytes_max = 0;
  uint64_t index_bytes_max = 0;
  uint32_t index_interval_bytes = 0;
  uint32_t mapped_append_bytes_max = 0;  // LogOptions::mapped_append_bytes_max
};

// What scanning a segment found.
struct SegmentScan {
  bool scanned = false;  // the segment was scanned and its indexes rebuilt
  int64_t batches = 0;
  uint64_t truncated_bytes = 0;  // non-zero bytes found after them (torn or corrupt)
  std::string problem;           // why the scan stopped early, if it hit bad bytes
};

// "00000000000000000042" — Kafka's 20-digit file name stem.
std::string SegmentFileStem(int64_t base_offset);

class Segment {
 public:
  // Creates a new, empty, active segment. ResourceExhausted if the space cannot be reserved;
  // nothing is left behind on failure. A `suffix` goes after each file's extension
  // (`<base>.log.cleaned`): the compactor builds segments under such names before swapping
  // them in.
  static absl::StatusOr<std::unique_ptr<Segment>> Create(const SegmentConfig& config,
                                                         int64_t base_offset, int64_t now_ms,
                                                         std::string_view suffix = "");

  // Opens an existing segment. Trusted: its files were fsynced and trimmed by a seal or a clean
  // close, so only the tail after the last index entry is read. Otherwise every batch is
  // scanned and validated, the indexes rebuilt, and anything after the last valid batch cut off
  // (reported in `scan`). `active` segments are re-extended to segment_bytes_max for appends.
  static absl::StatusOr<std::unique_ptr<Segment>> Open(const SegmentConfig& config,
                                                       int64_t base_offset, bool trusted,
                                                       bool active, int64_t now_ms,
                                                       SegmentScan* scan,
                                                       std::string_view suffix = "");

  ~Segment();

  // Unlinks the files of the segment at `base_offset` without opening it.
  static absl::Status RemoveFiles(const SegmentConfig& config, int64_t base_offset,
                                  std::string_view suffix = "");

  // --- readers (any thread) ---
  int64_t base_offset() const { return base_offset_; }
  int64_t next_offset() const { return next_offset_.load(std::memory_order_acquire); }
  uint64_t size() const { return size_.load(std::memory_order_acquire); }
  int64_t max_timestamp() const { return max_timestamp_.load(std::memory_order_acquire); }
  // The segment's published bytes, [0, size()).
  std::span<const std::byte> bytes() const {
    uint64_t n = size();  // first: a mapping loaded after it always covers it (Reactivate)
    return {read_data_.load(std::memory_order_acquire), n};
  }
  // Asks the kernel to read [position, position + bytes) of bytes() in now, where faults would
  // not (an active segment's readers' mapping has no readahead). For a reader far behind.
  void WillNeed(uint64_t position, uint64_t bytes) const;
  // The position of the first batch whose last offset is >= `offset`, or size() if none.
  uint64_t FindPosition(int64_t offset) const;
  // The offset of the first record with timestamp >= `timestamp_ms` at or after
  // `from_offset`, if the segment has one.
  std::optional<int64_t> FindOffsetForTimestamp(int64_t timestamp_ms, int64_t from_offset) const;
  SegmentInfo Info(bool active) const;
  std::string log_path() const;

  // --- appender (one thread, under the Log's append mutex) ---
  // Whether a batch of `batch_bytes` ending at `last_offset` must go to a new segment.
  bool ShouldRoll(uint64_t batch_bytes, int64_t last_offset, int64_t now_ms,
                  int64_t segment_age_max_ms) const;
  // Writes `batch` (whose base offset field is replaced by `base_offset`) after the last batch,
  // updates the indexes and publishes it. The batch must have been validated.
  absl::Status Append(const RecordBatchView& batch, int64_t base_offset);
  // Makes the data written so far durable (fdatasync of the .log).
  absl::Status Sync();
  // The segment stops being active: final time-index entry, and readers get readahead back.
  // Its files keep their preallocated length until TrimFiles: a truncate is a metadata change,
  // and on ext4 it can wait milliseconds behind the journal commit of a concurrent fsync (the
  // background sync of older segments), which a roll inside Append should not.
  absl::Status Deactivate();
  // Trims a deactivated segment's files to their contents and drops the writer's mapping; does
  // nothing otherwise (never deactivated, already trimmed, or reactivated since). Any thread:
  // Log::SyncSealed calls it before the fsync. Serialized with Reactivate by trim_mu_.
  absl::Status TrimFiles();
  // Deactivate and TrimFiles, and (with `sync`) everything fsynced.
  absl::Status Seal(bool sync);
  // fdatasync of the .log and both indexes.
  absl::Status SyncAll();
  // Undoes Seal or Deactivate so appends can continue (after a truncation into this segment).
  absl::Status Reactivate();
  // Cuts the segment at `position` (a batch boundary), after which its next offset is
  // `next_offset`. The cut bytes are overwritten with zeros and synced.
  absl::Status TruncateAt(uint64_t position, int64_t next_offset);
  // Unlinks the files. The mapping stays valid until the Segment is destroyed.
  absl::Status Remove();
  // Renames the files to carry `suffix` instead of the current one: the indexes first, the .log
  // last (replacing files of those names). Not synced: the caller syncs the directory.
  absl::Status Rename(std::string_view suffix);
  const std::string& suffix() const { return suffix_; }

 private:
  Segment(const SegmentConfig& config, int64_t base_offset, int64_t created_ms,
          std::string_view suffix);
  absl::Status OpenFiles(bool create, bool keep_index_entries, bool active);
  // Maps [0, size) (read-write for an active segment), unless the current mapping already does.
  absl::Status MapData(uint64_t size, bool writable);
  absl::Status CheckIndexes() const;
  absl::Status LoadTrustedTail();
  absl::Status Recover(SegmentScan* scan);
  // Index bookkeeping for a batch of `batch_bytes` at `position` ending at `last_offset`.
  absl::Status MaybeAddIndexEntries(uint64_t position, uint64_t batch_bytes, int64_t last_offset,
                                    int64_t max_timestamp);
  absl::Status AppendTimeIndexEntry(int64_t timestamp, int64_t offset);
  absl::Status TrimFilesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(trim_mu_);
  void ResetTimestampsFromIndex();
  std::string PathFor(std::string_view extension) const;

  SegmentConfig config_;
  const int64_t base_offset_;
  int64_t created_ms_;
  std::string suffix_;  // after each file's extension: "" for a live segment

  std::unique_ptr<File> file_;
  // Taken by TrimFiles (which another thread may call) and by the appender methods that change
  // what it touches after a Deactivate: the mappings and the file's length (Reactivate).
  Mutex trim_mu_;
  bool untrimmed_ ABSL_GUARDED_BY(trim_mu_) = false;  // deactivated, files not yet trimmed
  // Every mapping of the file: readers' ones stay until the segment goes (readers may hold views
  // into an old one); the writer's goes at TrimFiles.
  std::vector<std::unique_ptr<MappedRegion>> maps_;
  MappedRegion* reader_ = nullptr;  // the current readers' mapping (read-only)
  MappedRegion* writer_ = nullptr;  // the active segment's read-write mapping, or null
  // Appends store into data_ (writer_ while active); readers read read_data_ (reader_).
  std::atomic<const std::byte*> data_{nullptr};
  std::atomic<const std::byte*> read_data_{nullptr};
  std::atomic<bool> reader_random_{false};  // reader_ is advised kRandom (the segment is active)
  uint64_t mapped_bytes_ = 0;
  bool writable_ = false;  // the current mapping accepts appends
  std::unique_ptr<IndexFile> offset_index_;
  std::unique_ptr<IndexFile> time_index_;

  std::atomic<uint64_t> size_{0};
  std::atomic<int64_t> next_offset_;
  std::atomic<int64_t> max_timestamp_{kNoTimestamp};
  int64_t offset_of_max_timestamp_ = -1;
  uint64_t bytes_since_index_entry_ = 0;
  uint64_t synced_size_ = 0;
  // The largest size() ever published before a TruncateAt; Seal never trims below it.
  uint64_t published_size_max_ = 0;
};

// Index entry layouts (big-endian, as Kafka).
inline constexpr size_t kOffsetIndexEntrySize = 8;  // relative offset u32, position u32
inline constexpr size_t kTimeIndexEntrySize = 12;   // timestamp i64, relative offset u32

}  // namespace brook::storage

#endif  // BROOK_STORAGE_SEGMENT_H_
