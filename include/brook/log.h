// brook/log.h — a durable, append-only log of Kafka record batches in one directory.
//
// A Log is one Kafka partition's storage: segment files named by their 20-digit base offset
// (`00000000000000000000.log`) holding RecordBatch v2 batches back to back, each with a sparse
// offset index (`.index`) and time index (`.timeindex`). Appends assign offsets; reads return
// batches in place, straight out of the memory-mapped segments.
//
//   absl::StatusOr<std::unique_ptr<brook::Log>> log = brook::Log::Open(dir, {});
//   brook::RecordBatchBuilder builder;
//   builder.Append(now_ms, "key", "value");
//   absl::StatusOr<brook::AppendResult> appended = (*log)->Append(builder.Finish());
//   absl::StatusOr<brook::ReadResult> read = (*log)->Read(appended->base_offset, 1 << 20);
//   for (const brook::RecordBatchView& batch : *read)
//     for (const brook::RecordView& record : batch.records()) Use(record);
//
// Offsets: start_offset() <= flushed_offset() <= end_offset(). start_offset is the first
// retained offset, end_offset the next offset to assign (Kafka's log end offset), flushed_offset
// the end of what is known to be on disk (fdatasync'd, with the directory entries of its files):
// every retained record below it survives a machine crash.
//
// Durability, per call: *appended* means the batch has its offsets and readers can see it; it is in
// the page cache and survives a crash of the process. *flushed* means it is on disk and survives a
// machine crash or power loss. The FlushPolicy in LogOptions decides when appended becomes
// flushed; Append(…, {.durability = Durability::kFlushed}) and Flush() force it. After an
// fdatasync error the Log is *failed*: it refuses appends and flushes with FailedPrecondition
// (Linux may have dropped the unsynced pages, so retrying as if the data were safe would lie).
// Reads keep working; reopen the Log to recover.
//
// Thread safety: thread-safe. Appends, truncation, retention and Close are serialized by one
// internal mutex (one appender at a time). Flushes run outside it, one fdatasync at a time, shared
// by every caller it covers (group commit). Reads and waits take neither: they see an atomically
// published end and only ever whole batches, so any number of readers run alongside the appender.
// Destroying the Log while another thread is inside one of its calls is a bug (threads blocked in
// WaitForAppend are woken and let out first).
//
// Memory-map lifetime: the batches of a ReadResult point into mapped segment files. A ReadResult
// pins the segments it read; retention and truncation unlink retired segments at once but unmap
// them only when the last ReadResult pinning them is destroyed. Exception: TruncateTo overwrites
// the truncated suffix of the segment it cuts in place, so a ReadResult holding batches at or past
// the truncation point sees them change to zeros (re-Parse fails with InvalidArgument); the
// memory stays mapped and readable. Don't keep reads across a truncation of their range.
//
// Crash recovery: Open() after a clean Close() trusts the files and does not scan. After a crash it
// scans every segment not known to be fsynced (from the recovery checkpoint, written when sealed
// segments are synced: by a flush, Tick(), or a roll once more than 8 sealed segments wait),
// checks each batch (size, CRC-32C, increasing offsets), truncates at the first bad one and
// rebuilds the indexes. Nothing flushed is lost and nothing torn is served; what
// was cut is reported in recovery_summary() and through the logger.

#ifndef BROOK_LOG_H_
#define BROOK_LOG_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/log_options.h"
#include "brook/record_batch.h"

namespace brook {

namespace detail {
class LogImpl;
}  // namespace detail

// What Append waits for before it returns.
enum class Durability : uint8_t {
  kAppended,  // the batch has offsets and is visible (the flush policy may still flush it)
  kFlushed,   // the batch is also on disk (fdatasync), shared with concurrent appenders
};

struct AppendOptions {
  // Default: kAppended.
  Durability durability = Durability::kAppended;
  // How much of the batch Append checks. kFull (the default) checks the CRC and the structure of
  // every record, as a Kafka leader checks a client's batch. kHeader trusts a batch this process
  // just built with RecordBatchBuilder (the in-process Producer does this) and checks its header
  // only; never use it for bytes read from a file or a socket.
  Verify verify = Verify::kFull;
};

struct AppendResult {
  int64_t base_offset = 0;  // offset of the first record
  int64_t last_offset = 0;  // offset of the last record
  // The batch was a producer's retry of a batch already in the log: nothing was written and
  // the offsets are those of the original.
  bool duplicate = false;
};

// An idempotent producer's identity: the producer id and epoch its batches carry
// (RecordBatchOptions::producer_id / producer_epoch), with base sequences counting its records
// from 0 in each epoch.
struct ProducerIdentity {
  int64_t producer_id = kNoProducerId;
  int16_t epoch = kNoProducerEpoch;
};

// What the Log knows about one producer (Log::Producers()).
struct ProducerInfo {
  int64_t producer_id = kNoProducerId;
  int16_t epoch = kNoProducerEpoch;
  int32_t last_sequence = kNoSequence;  // of its newest batch; -1 if none in this epoch
  int64_t last_offset = -1;             // of its newest batch; -1 if none in this epoch
  int64_t last_timestamp = kNoTimestamp;
  int batches_retained = 0;  // how many recent batches a retry is matched against (<= 5)
};

struct CompactOptions {
  // Called now and then with (bytes done, bytes in the pass), on the compacting thread.
  std::function<void(uint64_t done, uint64_t total)> progress;
};

// What compaction did (sums over passes).
struct CompactionResult {
  int passes = 0;
  int64_t cleaned_to = 0;  // the offset below which the log is compacted (the first dirty one)
  int segments_before = 0;
  int segments_after = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_written = 0;
  int64_t records_removed = 0;     // superseded by a later record with the same key, or tombstones
  int64_t tombstones_removed = 0;  // tombstones dropped after their delete horizon
  size_t keys = 0;                 // distinct keys mapped by the largest pass
  std::chrono::nanoseconds throttled{0};  // time slept by the I/O throttle
};

// Where compaction stands (Kafka's cleaner metrics for one log).
struct CompactionState {
  int64_t first_dirty_offset = 0;        // below it the log is compacted
  int64_t first_uncleanable_offset = 0;  // the active segment, unflushed data, min_lag
  uint64_t clean_bytes = 0;
  uint64_t dirty_bytes = 0;  // cleanable now
  double dirty_ratio = 0;
  bool due = false;  // CompactIfDue would compact
};

struct ReadOptions {
  // Stop adding batches once this many bytes are gathered; the first batch is always returned
  // whole even when larger (Kafka's KIP-74). Default: 1 MiB.
  size_t max_bytes = size_t{1} << 20;
  // Check the CRC-32C of each batch returned (DataLoss on a mismatch). The record structure was
  // checked when the batch was appended, and record iteration is bounds-checked either way.
  // Without it only the header is checked. Default: true.
  bool verify = true;
};

// The batches returned by one Read, in offset order. Owns a pin on the segments they live in:
// the views stay valid while this object lives (see the file comment). Movable, not copyable;
// thread-compatible.
class ReadResult {
 public:
  ReadResult() = default;
  ReadResult(ReadResult&&) = default;
  ReadResult& operator=(ReadResult&&) = default;

  const std::vector<RecordBatchView>& batches() const { return batches_; }
  auto begin() const { return batches_.begin(); }
  auto end() const { return batches_.end(); }
  bool empty() const { return batches_.empty(); }
  size_t size() const { return batches_.size(); }
  // The offset to read next: one past the last batch returned, or the requested offset if none.
  int64_t next_offset() const { return next_offset_; }
  // Total bytes of the batches returned.
  size_t size_bytes() const { return size_bytes_; }

 private:
  friend class detail::LogImpl;
  std::vector<RecordBatchView> batches_;
  std::shared_ptr<const void> pin_;
  int64_t next_offset_ = 0;
  size_t size_bytes_ = 0;
};

// What Open found and did. `clean_shutdown` means no scan was needed.
struct RecoverySummary {
  bool clean_shutdown = false;
  int segments_opened = 0;
  int segments_scanned = 0;
  int64_t batches_scanned = 0;
  int indexes_rebuilt = 0;
  // Bytes of torn or corrupt data cut off the end, and where (the offset the log now ends at).
  int64_t bytes_truncated = 0;
  int64_t truncated_at_offset = -1;
  int segments_deleted = 0;  // later segments dropped because an earlier one was truncated
  std::string message;       // a human-readable account ("clean", or what was cut)
};

// One segment, as Log::Segments() describes it.
struct SegmentInfo {
  int64_t base_offset = 0;
  int64_t next_offset = 0;  // one past the last offset in the segment
  uint64_t size_bytes = 0;
  int64_t max_timestamp = kNoTimestamp;
  int32_t offset_index_entries = 0;
  int32_t time_index_entries = 0;
  bool active = false;
  std::string path;
};

class Log {
 public:
  // Opens the log in `dir`, creating it (if allowed) or recovering it. Returns InvalidArgument for
  // bad options, FailedPrecondition when `dir` holds files but no brook log or is locked by another
  // process or Log, ResourceExhausted when the disk is full, Internal on I/O errors. The caller
  // owns the Log.
  static absl::StatusOr<std::unique_ptr<Log>> Open(const std::string& dir, LogOptions options);

  // Closes cleanly (see Close()); errors go to the logger.
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // Appends one RecordBatch v2 and assigns it offsets from end_offset(). The batch is validated
  // (CRC, structure, offset deltas 0..count-1) and copied; its base offset field is ignored.
  // Durability: appended, and flushed if `options` or the flush policy ask for it. Errors:
  // InvalidArgument (malformed, empty, or larger than batch_bytes_max or segment_bytes_max, with
  // ErrorCode kCorruptMessage / kInvalidRecord / kMessageTooLarge), DataLoss (bad CRC),
  // ResourceExhausted (disk full: nothing was appended and the log stays readable),
  // FailedPrecondition (failed or closed log).
  absl::StatusOr<AppendResult> Append(std::span<const std::byte> batch, AppendOptions options = {});

  // Returns the batches from the one containing `offset` on, up to options.max_bytes. The first
  // batch may start before `offset` (skip its records below it). `offset == end_offset()` returns
  // an empty result; outside [start_offset(), end_offset()] returns OutOfRange (kOffsetOutOfRange).
  // DataLoss if a batch fails verification; FailedPrecondition once the log is closed. Never
  // blocks on the appender.
  absl::StatusOr<ReadResult> Read(int64_t offset, ReadOptions options) const;
  absl::StatusOr<ReadResult> Read(int64_t offset, size_t max_bytes) const {
    return Read(offset, ReadOptions{.max_bytes = max_bytes});
  }

  // The offset of the first record whose timestamp is >= `timestamp_ms` (Kafka's ListOffsets).
  // NotFound if there is none; FailedPrecondition once the log is closed.
  absl::StatusOr<int64_t> OffsetForTimestamp(int64_t timestamp_ms) const;

  // Blocks until end_offset() > `offset`, the deadline passes (DeadlineExceeded) or the log is
  // closed (Cancelled). Spins for options.wait_spin first, then sleeps on a condition variable;
  // woken by Append. Never takes the appender's mutex.
  absl::Status WaitForAppend(int64_t offset, std::chrono::steady_clock::time_point deadline) const;

  int64_t start_offset() const;
  int64_t end_offset() const;
  int64_t flushed_offset() const;
  // Counts TruncateTo calls that cut (or were about to cut) records. A ReadResult taken before
  // this number changed may hold bytes the cut zeroed or later appends overwrote.
  int64_t truncations() const;

  // Makes everything appended so far durable (fdatasync). Concurrent callers share one sync.
  absl::Status Flush();

  // Removes every batch at or after the batch containing `offset`, so end_offset() becomes the base
  // offset of that batch (<= offset), and returns it. For replication (truncate a diverged tail).
  // Stops a running compaction pass first (Compact returns without error; the next pass redoes
  // it). Producers whose batches are cut are set back to the state before them.
  // OutOfRange below start_offset(); a no-op at or past end_offset().
  absl::StatusOr<int64_t> TruncateTo(int64_t offset);

  // Moves start_offset() up to `offset` (<= end_offset()), durably; reads below it return
  // OutOfRange. Whole segments below it are deleted (Kafka's DeleteRecords).
  absl::Status DeleteRecordsBefore(int64_t offset);

  // Deletes whole, inactive segments beyond retention_bytes / retention_age. Returns how many.
  // Also runs on every roll.
  absl::StatusOr<int> EnforceRetention();

  // Periodic work: the interval flush, the fsync of sealed segments (which keeps the recovery
  // scan short) and retention. Call it from a timer thread, say every second; tests call it
  // directly.
  absl::Status Tick();

  // Flushes, trims the active segment, writes the clean-shutdown marker and releases the
  // directory lock. Wakes waiters with Cancelled. Further appends and reads return
  // FailedPrecondition. ReadResults already returned stay valid while this process alone has the
  // directory: once another process opens it, its recovery may truncate the files under them.
  // Idempotent.
  absl::Status Close();

  // --- idempotent producers ---
  //
  // Batches with a producer id (>= 0) are checked as a Kafka partition leader checks them: a
  // batch continues its producer's sequence (last + 1, wrapping at INT32_MAX), a retry of one of
  // the producer's last five batches returns the original offsets with `duplicate` set and
  // writes nothing, a gap fails with kOutOfOrderSequenceNumber, an older epoch with
  // kInvalidProducerEpoch, and a new epoch must start at sequence 0. A producer the log does not
  // know (new, expired, or whose batches retention removed) is accepted at any sequence. The
  // state survives restarts: a snapshot at every roll and at Close, plus the log after it.
  //
  // Returns a producer identity: a fresh id (never handed out before by this log directory,
  // even across crashes) at epoch 0, or, given the previous identity the log knows as the
  // producer's current one, the same id at the next epoch, fencing batches of the old one. The
  // bump is on disk before it is returned (the log is flushed, a snapshot synced). An identity
  // the log does not know (forgotten, expired) gets a fresh id, as does one at epoch 32767.
  // FailedPrecondition with kProducerFenced if `previous` is older than the epoch the log has.
  absl::StatusOr<ProducerIdentity> InitProducer(
      std::optional<ProducerIdentity> previous = std::nullopt);
  // Every producer the log tracks, by id.
  std::vector<ProducerInfo> Producers() const;

  // --- compaction (cleanup_policy kCompact or kCompactAndDelete) ---
  //
  // Keeps the latest record of every key, as Kafka's log cleaner does: offsets never change
  // (gaps appear), order is kept, the active segment is never touched, a tombstone stays for
  // compaction.delete_retention after the pass that first kept it. ReadResults taken before keep
  // reading the old segments. FailedPrecondition on a log that does not compact.
  //
  // Compacts everything cleanable now, whatever the dirty ratio, in as many passes as the
  // offset map needs.
  absl::StatusOr<CompactionResult> Compact(CompactOptions options = {});
  // One pass if Kafka's rules call for one (dirty ratio above min_cleanable_dirty_ratio, or
  // dirty data older than max_lag); otherwise returns at once with passes == 0. The step a
  // background cleaner drives (brook::LogCleaner), callable directly by tests.
  absl::StatusOr<CompactionResult> CompactIfDue();
  CompactionState compaction_state() const;
  // Stops a pass running now at its next batch (it ends having changed nothing) and every later
  // one, for good: for a log about to be closed or deleted, so that waiting for the cleaner
  // (LogCleaner::Remove) does not mean waiting out a whole pass.
  void StopCompaction();

  std::vector<SegmentInfo> Segments() const;
  const RecoverySummary& recovery_summary() const;
  const std::string& dir() const;
  // OK, or the error that put the log in the failed state.
  absl::Status health() const;

 private:
  explicit Log(std::unique_ptr<detail::LogImpl> impl);
  std::unique_ptr<detail::LogImpl> impl_;
};

}  // namespace brook

#endif  // BROOK_LOG_H_
