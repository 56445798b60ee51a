// brook/log_options.h — how a Log is laid out on disk, when it flushes and what it retains.
//
//   auto log = brook::Log::Open("/var/lib/app/events", {
//       .segment_bytes_max = 128 << 20,
//       .flush = brook::FlushPolicy::EveryAppend(),
//   });
//
// Every field has a default; Log::Open calls Validate() and names the offending field.

#ifndef BROOK_LOG_OPTIONS_H_
#define BROOK_LOG_OPTIONS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "absl/status/status.h"
#include "brook/clock.h"
#include "brook/file_system.h"

namespace brook {

// When the Log calls fdatasync by itself. Any combination; a zero field is off. Whatever the
// policy, Log::Flush() and Append with Durability::kFlushed flush on demand, and a clean Close()
// flushes everything. Segments finished by a roll are fsynced by the next flush or Log::Tick(),
// or by a roll once more than 8 of them wait (Kafka, too, flushes a rolled segment
// asynchronously).
struct FlushPolicy {
  // Flush once this many records are appended but not flushed. 1 = every append. Default: off.
  int64_t records = 0;
  // Flush once this many bytes are appended but not flushed. Default: off.
  int64_t bytes = 0;
  // Flush when the last flush is older than this (checked on append and in Log::Tick()).
  // Default: off.
  std::chrono::milliseconds interval{0};

  // Leave it to the operating system's page cache (Kafka's default): fast, and an acknowledged
  // append survives a process crash but not a machine crash.
  static FlushPolicy OsOnly() { return {}; }
  // fdatasync before Append returns; concurrent appenders share one fdatasync (group commit).
  static FlushPolicy EveryAppend() { return {.records = 1}; }
  static FlushPolicy EveryRecords(int64_t n) { return {.records = n}; }
  static FlushPolicy EveryBytes(int64_t n) { return {.bytes = n}; }
  static FlushPolicy Every(std::chrono::milliseconds interval) { return {.interval = interval}; }
};

// What happens to old records (Kafka's cleanup.policy).
enum class CleanupPolicy : uint8_t {
  kDelete,            // retention_bytes / retention_age delete whole old segments
  kCompact,           // the cleaner keeps the latest record per key; retention is off
  kCompactAndDelete,  // both
};

// Log compaction (Kafka's log cleaner settings). Only used with a compacting CleanupPolicy.
struct CompactionOptions {
  // A log is compacted when its dirty (not yet compacted) bytes exceed this share of the bytes
  // below the active segment (min.cleanable.dirty.ratio). Default: 0.5.
  double min_cleanable_dirty_ratio = 0.5;
  // Records younger than this are never compacted (min.compaction.lag.ms). Default: 0.
  std::chrono::milliseconds min_lag{0};
  // A log whose oldest dirty segment began longer ago than this is compacted whatever its dirty
  // ratio (max.compaction.lag.ms). Default: never.
  std::chrono::milliseconds max_lag = std::chrono::milliseconds::max();
  // How long a tombstone (a record with a null value) stays after the compaction that first
  // kept it, so consumers can see the delete (delete.retention.ms). Default: 24 hours.
  std::chrono::milliseconds delete_retention = std::chrono::hours(24);
  // Memory for the key -> offset map of one compaction pass: 24 bytes per slot, filled to 90%,
  // so about 26.7 bytes per distinct key (Kafka's dedupe buffer). A pass covers as many dirty
  // records as it can map; the rest waits for the next pass. At least 1 KiB, below 2 GiB.
  // Default: 32 MiB (1.25 M keys).
  size_t offset_map_bytes = size_t{32} << 20;
  // Limit on the bytes the cleaner reads plus writes per second. 0: unlimited. Default: 0.
  int64_t io_bytes_per_second = 0;
};

enum class LogLevel : uint8_t { kInfo, kWarning, kError };

// Receives brook's log lines (recovery reports, failures). Called on the thread that caused the
// event; must be thread-safe.
using Logger = std::function<void(LogLevel level, std::string_view message)>;

struct LogOptions {
  // A segment's data file is preallocated to this size and rolled before it would exceed it. Also
  // the largest batch a Log can hold. A sealed segment keeps its preallocated length until it is
  // synced (by a flush, Tick(), or a roll once more than 8 wait), when its files are trimmed to
  // their contents; a roll short of disk space trims them at once. Default: 64 MiB.
  uint64_t segment_bytes_max = uint64_t{64} << 20;
  // Space for each segment's offset index (8-byte entries) and time index (12-byte entries); a
  // segment rolls when either fills. At least 1 KiB, below 2 GiB. Default: 1 MiB.
  uint64_t index_bytes_max = uint64_t{1} << 20;
  // Bytes of batches between two index entries (Kafka's index.interval.bytes). Default: 4096.
  uint32_t index_interval_bytes = 4096;
  // A segment older than this (since its creation) rolls on the next append. Default: 7 days.
  std::chrono::milliseconds segment_age_max = std::chrono::hours(24 * 7);
  // Largest batch Append accepts (Kafka's max.message.bytes). Default: 1 MiB + 12.
  uint32_t batch_bytes_max = 1048588;
  // Batches up to this size are appended by copying them into the segment's shared mapping;
  // larger ones with pwritev. The copy saves a system call per append; past a few tens of KiB
  // pwritev into the preallocated file is faster (docs/benchmarks.md). 0: always pwritev.
  // Default: 64 KiB.
  uint32_t mapped_append_bytes_max = 64 << 10;
  // Delete whole old segments while the log is larger than this. Negative: keep everything.
  // Default: -1.
  int64_t retention_bytes = -1;
  // Delete whole old segments whose newest record is older than this. Negative: keep forever.
  // Default: -1 (Kafka's default is 7 days; an embedded store deletes nothing unless asked).
  std::chrono::milliseconds retention_age{-1};
  // Default: OsOnly().
  FlushPolicy flush;
  // Default: kDelete. With a compacting policy every record must have a key.
  CleanupPolicy cleanup_policy = CleanupPolicy::kDelete;
  CompactionOptions compaction;
  // An idempotent producer that writes nothing for this long is forgotten; its next batch is
  // accepted as from a new producer (producer.id.expiration.ms). Default: 24 hours.
  std::chrono::milliseconds producer_id_expiration = std::chrono::hours(24);
  // How long Log::WaitForAppend spins on the end offset before it blocks. Spinning costs a core
  // but wakes in well under a microsecond. Default: 0 (block at once).
  std::chrono::microseconds wait_spin{0};
  // Create the directory if it does not exist. Default: true.
  bool create_if_missing = true;
  // Lock the directory (its .lock file) so that no second Log, in this process or another,
  // opens it; if it is a partition of a Broker's directory, lock that too. False only when the
  // caller holds a lock covering the directory: a Broker opens its partitions so, saving a file
  // descriptor per partition. Default: true.
  bool lock_directory = true;
  // Non-owning; nullptr means FileSystem::Default(). Must outlive the Log.
  FileSystem* file_system = nullptr;
  // Non-owning; nullptr means Clock::Real(). Must outlive the Log.
  Clock* clock = nullptr;
  // Default: warnings and errors to stderr.
  Logger logger;
  // Called after a roll that leaves 4 or more sealed segments unsynced: half the number at
  // which a roll syncs the older half itself, stalling that append. A Broker sets it to have its
  // ticker sync them now, off the appending thread, as Kafka flushes rolled segments in the
  // background; waiting for 4 keeps small segments from costing a round of fsyncs each. Without
  // it, sealed segments wait for the next flush or Tick(). Runs on the appending thread with the
  // log's append lock held: it must be quick and must not call into the Log. Default: none.
  std::function<void()> on_unsynced_segments;

  // OK, or InvalidArgument naming the first bad field.
  absl::Status Validate() const;
};

}  // namespace brook

#endif  // BROOK_LOG_OPTIONS_H_
