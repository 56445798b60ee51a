#include "brook/log.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <thread>

#include "brook/compression.h"
#include "brook/detail/check.h"
#include "brook/status.h"
#include "fmt/format.h"
#include "storage/checkpoint.h"
#include "storage/compactor.h"
#include "storage/log_files.h"
#include "storage/producer_id_allocator.h"
#include "storage/producer_state.h"
#include "storage/segment.h"
#include "util/format.h"
#include "util/mutex.h"
#include "util/status_macros.h"

namespace brook {
namespace detail {
namespace {

using storage::Segment;

// Sealed segments may wait this many for their fsync (a flush, Tick() or Close() syncs them;
// the kernel writes them back meanwhile). Past it a roll syncs all but the newest half, so a crash
// rescans at most this many segments plus the active one, and an appender that outruns the disk
// is held to the disk's speed instead of filling the page cache.
constexpr size_t kUnsyncedSealedMax = 8;

// How long a caller of FlushTo spins (yielding) for a running sync before it sleeps. About
// a few fdatasyncs of this class of disk; the spin only happens while a sync is running.
constexpr std::chrono::microseconds kFlushWaitSpin{500};

// A Read starting more than this far from a segment's end asks for its bytes to be read in
// (Segment::WillNeed); a reader keeping up with the appends reads pages just written instead.
constexpr uint64_t kWillNeedBehind = uint64_t{256} << 10;

using storage::kBrokerLockFile;
using storage::kCleanerCheckpointFile;
using storage::kCleanShutdownFile;
using storage::kFormatVersion;
using storage::kLockFile;
using storage::kMetaFile;
using storage::kRecoveryPointFile;
using storage::kStartOffsetFile;
using storage::ParseSegmentName;

struct SegmentSet {
  std::vector<std::shared_ptr<Segment>> segments;  // by ascending base offset; last is active
};

void StoreMax(std::atomic<int64_t>& a, int64_t v) {
  int64_t cur = a.load(std::memory_order_relaxed);
  while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_acq_rel)) {
  }
}

}  // namespace

class LogImpl {
 public:
  static absl::StatusOr<std::unique_ptr<LogImpl>> Open(const std::string& dir, LogOptions options);
  ~LogImpl();

  absl::StatusOr<AppendResult> Append(std::span<const std::byte> bytes, AppendOptions options);
  // FailedPrecondition once closed.
  absl::Status CheckReadable() const;
  absl::StatusOr<ReadResult> Read(int64_t offset, ReadOptions options) const;
  absl::StatusOr<int64_t> OffsetForTimestamp(int64_t timestamp_ms) const;
  absl::Status WaitForAppend(int64_t offset, std::chrono::steady_clock::time_point deadline) const;
  absl::Status Flush() { return FlushTo(end_offset_.load(std::memory_order_acquire)); }
  absl::StatusOr<int64_t> TruncateTo(int64_t offset);
  absl::StatusOr<int64_t> TruncateToLocked(int64_t offset)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  absl::Status DeleteRecordsBefore(int64_t offset);
  absl::StatusOr<int> EnforceRetention();
  absl::Status Tick();
  absl::Status Close();
  void StopCompaction();
  std::vector<SegmentInfo> Segments() const;
  absl::Status health() const;

  absl::StatusOr<ProducerIdentity> InitProducer(std::optional<ProducerIdentity> previous);
  std::vector<ProducerInfo> Producers() const;
  absl::StatusOr<CompactionResult> Compact(const CompactOptions& options, bool force);
  CompactionState compaction_state() const;

  int64_t start_offset() const { return start_offset_.load(std::memory_order_acquire); }
  int64_t end_offset() const { return end_offset_.load(std::memory_order_acquire); }
  int64_t truncations() const { return truncation_count_.load(std::memory_order_acquire); }
  int64_t flushed_offset() const { return flushed_offset_.load(std::memory_order_acquire); }
  const RecoverySummary& recovery_summary() const { return recovery_; }
  const std::string& dir() const { return dir_; }

 private:
  LogImpl(std::string dir, LogOptions options);
  absl::Status Load();
  absl::Status CheckDirectory();
  void Say(LogLevel level, const std::string& message) const;
  std::shared_ptr<const SegmentSet> snapshot() const {
    MutexLock l(&snapshot_mu_);  // exclusive: held for a pointer copy; never starves Publish
    return snapshot_;
  }
  void Publish(std::shared_ptr<const SegmentSet> set) {
    MutexLock l(&snapshot_mu_);
    snapshot_ = std::move(set);
  }
  absl::Status CheckWritable() const;
  absl::Status Fail(absl::Status cause);
  absl::Status FlushTo(int64_t target);
  // Waits until no flush is running and becomes the flush leader; `target` >= 0 returns false
  // without leading once flushed_offset reaches it.
  bool LeadFlush(int64_t target = -1);
  void EndFlush();
  // As the flush leader: fsyncs the sealed segments not yet synced (all but the newest `keep`)
  // and moves the recovery point and flushed offset past them.
  absl::Status SyncSealed(size_t keep);
  // Trims the files of the sealed segments not yet synced (TrimFiles), giving back their
  // preallocated space. Whether there were any, all trimmed.
  bool TrimUnsynced();
  absl::Status SyncDirIfNeeded();
  bool FlushPolicyDue() const;
  absl::Status Roll(int64_t base_offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  absl::StatusOr<int> EnforceRetentionLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  void NotifyWaiters() const;
  bool compacting() const { return options_.cleanup_policy != CleanupPolicy::kDelete; }
  // Producer state: the checks on append, snapshots, rebuild.
  absl::Status WriteSnapshot(int64_t offset, bool sync) ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  // Loads the newest valid snapshot at or below `end` and replays the log from it to `end`.
  absl::Status LoadProducerState(int64_t end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  absl::StatusOr<storage::ProducerStateMap> ReadSnapshot(int64_t offset) const;
  // Snapshot offsets on disk, ascending.
  absl::StatusOr<std::vector<int64_t>> ListSnapshots() const;
  // Deletes snapshots that match no segment (except the newest) or lie past `end`.
  void RemoveStraySnapshots(int64_t end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  void ExpireProducers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  // Compaction.
  absl::Status RecoverSwaps(std::vector<std::string>* names);
  // Takes the directory's lock, and its Broker's if it is a partition (LogOptions).
  absl::Status LockDirectory();
  // Before the first change after a clean open: removes the clean-shutdown marker, durably, so
  // a crash from here on does not look clean. Fails the log if it cannot.
  absl::Status ForgetCleanShutdownLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  CompactionState ComputeCompactionState(const SegmentSet& set, int64_t now_ms) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  absl::StatusOr<CompactionResult> CompactPass(const CompactOptions& options, bool force,
                                               bool* more)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(compact_mu_);
  absl::Status SwapIn(const SegmentSet& before, std::vector<storage::CleanedGroup>* groups)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(append_mu_);
  int64_t NowNanos() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               clock_->Monotonic().time_since_epoch())
        .count();
  }

  const std::string dir_;
  const LogOptions options_;
  FileSystem* const fs_;
  Clock* const clock_;
  storage::SegmentConfig segment_config_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<FileLock> broker_lock_;  // when the directory is a Broker's partition
  RecoverySummary recovery_;

  // Readers copy the segment set under this short lock; it is never held during I/O.
  mutable Mutex snapshot_mu_;
  std::shared_ptr<const SegmentSet> snapshot_ ABSL_GUARDED_BY(snapshot_mu_);

  // start_offset <= flushed_offset <= end_offset, each published with release/acquire.
  std::atomic<int64_t> start_offset_{0};
  std::atomic<int64_t> end_offset_{0};
  std::atomic<int64_t> flushed_offset_{0};
  std::atomic<uint64_t> appended_bytes_{0};  // total ever appended, for the bytes flush policy
  std::atomic<uint64_t> flushed_bytes_mark_{0};
  std::atomic<int64_t> last_flush_nanos_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> failed_flag_{false};

  // One compaction pass at a time. Order: compact_mu_ before append_mu_.
  Mutex compact_mu_;
  // Set by TruncateTo to stop a running pass (it then waits for compact_mu_), and for good by
  // StopCompaction.
  std::atomic<bool> cancel_compaction_{false};
  std::atomic<bool> compaction_stopped_{false};
  // One appender at a time; also serializes roll, truncation, retention and close.
  mutable Mutex append_mu_;
  storage::ProducerStateMap producers_ ABSL_GUARDED_BY(append_mu_);
  std::unique_ptr<storage::ProducerIdAllocator> producer_ids_;
  int64_t last_expiry_check_ms_ ABSL_GUARDED_BY(append_mu_) = 0;
  // The offset of the newest snapshot known to be on disk (-1: none); never removed as a stray.
  int64_t synced_snapshot_ ABSL_GUARDED_BY(append_mu_) = -1;
  // Bumped by every truncation: a compaction pass that began before one is thrown away.
  int64_t truncations_ ABSL_GUARDED_BY(append_mu_) = 0;
  // The clean-shutdown marker of the last Close is still on disk (see Load).
  bool clean_marker_ ABSL_GUARDED_BY(append_mu_) = false;
  std::atomic<int64_t> truncation_count_{0};  // Log::truncations(): bumped before a cut
  // Below it the log is compacted (the cleaner checkpoint).
  int64_t first_dirty_ ABSL_GUARDED_BY(append_mu_) = 0;
  // Group commit. One flush *leader* at a time does the fdatasyncs; callers whose offsets an
  // earlier sync already covered return at once, the rest wait on flush_cv_ (all woken together)
  // and one of them leads the next sync, covering everything appended meanwhile. TruncateTo and
  // Close take the leadership to exclude flushes. Order: append_mu_ before flush_mu_.
  Mutex flush_mu_;
  CondVar flush_cv_;
  bool flush_leader_ ABSL_GUARDED_BY(flush_mu_) = false;
  std::atomic<bool> flush_running_{false};  // flush_leader_, readable without the lock
  // Segments sealed by a roll whose data is not yet fsynced, oldest first; their files are not
  // trimmed yet either (Segment::Deactivate), so each still holds segment_bytes_max of disk.
  // Past kUnsyncedSealedMax a roll syncs the older half (Kafka flushes the previous segment
  // asynchronously; an fsync of a whole segment inside Append stalled it for tens of ms); any
  // flush, Tick() and Close() sync them all. The recovery point moves past a segment only once
  // it is trimmed and synced.
  std::vector<std::shared_ptr<Segment>> unsynced_sealed_ ABSL_GUARDED_BY(flush_mu_);
  // A segment was created since the directory was last fsynced.
  bool dir_unsynced_ ABSL_GUARDED_BY(flush_mu_) = false;

  mutable Mutex failed_mu_;
  absl::Status failed_ ABSL_GUARDED_BY(failed_mu_);

  mutable Mutex wait_mu_;
  mutable CondVar wait_cv_;
  mutable std::atomic<int> waiters_{0};
};

LogImpl::LogImpl(std::string dir, LogOptions options)
    : dir_(std::move(dir)),
      options_(std::move(options)),
      fs_(options_.file_system != nullptr ? options_.file_system : FileSystem::Default()),
      clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {
  segment_config_ = storage::SegmentConfig{
      .fs = fs_,
      .dir = dir_,
      .segment_bytes_max = options_.segment_bytes_max,
      .index_bytes_max = options_.index_bytes_max,
      .index_interval_bytes = options_.index_interval_bytes,
      .mapped_append_bytes_max = options_.mapped_append_bytes_max,
  };
}

LogImpl::~LogImpl() {
  absl::Status s = Close();
  if (!s.ok()) Say(LogLevel::kError, fmt::format("closing log {}: {}", dir_, s));
  // Close woke every WaitForAppend; let them leave before their mutex and condvar go.
  while (waiters_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
}

void LogImpl::Say(LogLevel level, const std::string& message) const {
  if (options_.logger) {
    options_.logger(level, message);
  } else if (level != LogLevel::kInfo) {
    std::fprintf(stderr, "brook: %s\n", message.c_str());
  }
}

absl::StatusOr<std::unique_ptr<LogImpl>> LogImpl::Open(const std::string& dir, LogOptions options) {
  BROOK_RETURN_IF_ERROR(options.Validate());
  if (dir.empty()) return absl::InvalidArgumentError("Log::Open: empty directory path");
  std::unique_ptr<LogImpl> log(new LogImpl(dir, std::move(options)));
  BROOK_RETURN_IF_ERROR(log->CheckDirectory());
  BROOK_RETURN_IF_ERROR(log->Load());
  return log;
}

absl::Status LogImpl::LockDirectory() {
  BROOK_ASSIGN_OR_RETURN(lock_, fs_->Lock(dir_ + "/" + kLockFile));
  // A Broker opens its partitions without their own locks (its lock covers them), so a Log
  // opened on a running Broker's partition must find the Broker's lock taken.
  // "b/t-0/", "b/t-0/." and "." (run inside b/t-0) all name b/t-0: its parent is b.
  std::filesystem::path self = std::filesystem::absolute(dir_).lexically_normal();
  if (!self.has_filename()) self = self.parent_path();
  const std::string parent = self.parent_path().string();
  for (const char* marker : {storage::kBrokerRegistryFile, kBrokerLockFile}) {
    BROOK_ASSIGN_OR_RETURN(bool exists, fs_->Exists(parent + "/" + marker));
    if (!exists) return absl::OkStatus();  // not a Broker's directory
  }
  absl::StatusOr<std::unique_ptr<FileLock>> broker = fs_->Lock(parent + "/" + kBrokerLockFile);
  if (absl::IsFailedPrecondition(broker.status())) {
    return absl::FailedPreconditionError(
        fmt::format("log {} is a partition of the Broker directory {}, which is in use: {}", dir_,
                    parent, broker.status().message()));
  }
  if (!broker.ok()) {
    return Annotate(broker.status(),
                    fmt::format("log {}: checking that no Broker has {} open", dir_, parent));
  }
  broker_lock_ = std::move(*broker);
  return absl::OkStatus();
}

absl::Status LogImpl::CheckDirectory() {
  BROOK_ASSIGN_OR_RETURN(bool exists, fs_->Exists(dir_));
  if (!exists) {
    if (!options_.create_if_missing) {
      return absl::NotFoundError(fmt::format("log directory {} does not exist", dir_));
    }
    BROOK_RETURN_IF_ERROR(fs_->CreateDirs(dir_));
  }
  BROOK_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  bool has_meta = std::find(names.begin(), names.end(), kMetaFile) != names.end();
  if (!has_meta && !std::all_of(names.begin(), names.end(), [](const std::string& n) {
        return n == kLockFile || n == std::string(kMetaFile) + ".tmp";
      })) {
    // Refused before the lock file goes in, so someone else's directory is left as it was.
    return absl::FailedPreconditionError(fmt::format(
        "{} is not a brook log: it holds files but no {}; refusing to touch it", dir_, kMetaFile));
  }
  if (options_.lock_directory) BROOK_RETURN_IF_ERROR(LockDirectory());
  if (!has_meta) {
    return storage::WriteCheckpoint(fs_, dir_, kMetaFile, "brook-log", {kFormatVersion});
  }
  absl::StatusOr<std::vector<int64_t>> meta =
      storage::ReadCheckpoint(fs_, dir_, kMetaFile, "brook-log");
  if (!meta.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("{} is not a readable brook log: {}", dir_, meta.status()));
  }
  if (meta->size() != 1 || (*meta)[0] != kFormatVersion) {
    return absl::FailedPreconditionError(
        fmt::format("{} has brook log format version {}, this build reads version {}", dir_,
                    meta->empty() ? -1 : (*meta)[0], kFormatVersion));
  }
  return absl::OkStatus();
}

absl::Status LogImpl::RecoverSwaps(std::vector<std::string>* names) {
  // A `<base>.log.swap` is a compacted segment whose swap began (its data is complete and
  // synced) but may not have finished: finish it. It replaces every segment from `base` up to
  // its own end (the compactor keeps the last batch of every group, so the end is exact).
  std::vector<int64_t> swaps;
  std::vector<int64_t> bases;
  for (const std::string& name : *names) {
    if (name.ends_with(storage::kSwapSuffix)) {
      std::string_view stem(name);
      stem.remove_suffix(std::string_view(storage::kSwapSuffix).size());
      if (std::optional<int64_t> base = ParseSegmentName(stem, ".log")) swaps.push_back(*base);
    } else if (std::optional<int64_t> base = ParseSegmentName(name, ".log")) {
      bases.push_back(*base);
    }
  }
  if (swaps.empty()) return absl::OkStatus();
  std::sort(swaps.begin(), swaps.end());
  for (int64_t base : swaps) {
    std::string stem = fmt::format("{}/{}", dir_, storage::SegmentFileStem(base));
    for (const char* ext : {".index", ".timeindex"}) {
      for (const char* suffix : {"", storage::kSwapSuffix, storage::kCleanedSuffix}) {
        absl::Status s = fs_->Remove(stem + ext + suffix);
        if (!s.ok() && !absl::IsNotFound(s)) return s;
      }
    }
    storage::SegmentScan scan;
    BROOK_ASSIGN_OR_RETURN(
        std::unique_ptr<Segment> swap,
        Segment::Open(segment_config_, base, /*trusted=*/false,
                      /*active=*/false, clock_->NowMs(), &scan, storage::kSwapSuffix));
    if (!scan.problem.empty()) {
      return absl::DataLossError(fmt::format(
          "log {}: the compacted segment {} is damaged ({}); it was synced before the swap, so "
          "the disk lost it; refusing to guess",
          dir_, swap->log_path(), scan.problem));
    }
    for (int64_t b : bases) {
      if (b > base && b < swap->next_offset()) {
        BROOK_RETURN_IF_ERROR(Segment::RemoveFiles(segment_config_, b));
      }
    }
    BROOK_RETURN_IF_ERROR(swap->SyncAll());
    BROOK_RETURN_IF_ERROR(swap->Rename(""));
    BROOK_RETURN_IF_ERROR(fs_->SyncDir(dir_));
    Say(LogLevel::kWarning,
        fmt::format("log {}: finished an interrupted compaction swap at {}", dir_, base));
  }
  BROOK_ASSIGN_OR_RETURN(*names, fs_->ListDir(dir_));
  return absl::OkStatus();
}

absl::Status LogImpl::Load() {
  BROOK_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  BROOK_RETURN_IF_ERROR(RecoverSwaps(&names));
  std::vector<int64_t> bases;
  std::vector<std::string> orphans;
  for (const std::string& name : names) {
    // Half-written checkpoints and compaction output that never reached its swap.
    if (name.ends_with(".tmp") || name.ends_with(storage::kCleanedSuffix) ||
        name.ends_with(storage::kSwapSuffix)) {
      orphans.push_back(name);
    } else if (std::optional<int64_t> base = ParseSegmentName(name, ".log")) {
      bases.push_back(*base);
    }
  }
  std::sort(bases.begin(), bases.end());
  for (const std::string& name : names) {
    for (std::string_view ext : {".index", ".timeindex"}) {
      std::optional<int64_t> base = ParseSegmentName(name, ext);
      if (base && !std::binary_search(bases.begin(), bases.end(), *base)) orphans.push_back(name);
    }
  }
  for (const std::string& name : orphans) {
    BROOK_RETURN_IF_ERROR(fs_->Remove(dir_ + "/" + name));
  }

  absl::StatusOr<std::vector<int64_t>> clean =
      storage::ReadCheckpoint(fs_, dir_, kCleanShutdownFile, "clean-shutdown");
  bool clean_shutdown = clean.ok() && clean->size() == 1;
  if (!clean_shutdown && (clean.ok() || !absl::IsNotFound(clean.status()))) {
    BROOK_RETURN_IF_ERROR(fs_->Remove(dir_ + "/" + kCleanShutdownFile));
    BROOK_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  }
  // A valid marker stays until the first change to the log (ForgetCleanShutdownLocked): opening
  // changes nothing a clean reopen trusts without checking (the active segment's preallocated
  // zeros fail its tail check, which then scans), so an idle partition never pays for removing
  // it (a directory fsync each: most of opening 10,000 partitions).
  auto read_offset = [&](const char* file, const char* name) -> int64_t {
    absl::StatusOr<std::vector<int64_t>> v = storage::ReadCheckpoint(fs_, dir_, file, name);
    if (v.ok() && v->size() == 1 && (*v)[0] >= 0) return (*v)[0];
    if (!v.ok() && !absl::IsNotFound(v.status())) {
      Say(LogLevel::kWarning, fmt::format("ignoring {}: {}", file, v.status()));
    }
    return 0;
  };
  int64_t recovery_point = read_offset(kRecoveryPointFile, "recovery-point");
  int64_t log_start = read_offset(kStartOffsetFile, "log-start-offset");
  int64_t first_dirty = read_offset(kCleanerCheckpointFile, "cleaner-offset");
  BROOK_ASSIGN_OR_RETURN(producer_ids_, storage::ProducerIdAllocator::Open(fs_, dir_));

  recovery_.clean_shutdown = clean_shutdown;
  int64_t now_ms = clock_->NowMs();
  auto set = std::make_shared<SegmentSet>();
  for (size_t i = 0; i < bases.size(); ++i) {
    bool active = i + 1 == bases.size();
    bool trusted = clean_shutdown || (!active && bases[i + 1] <= recovery_point);
    storage::SegmentScan scan;
    BROOK_ASSIGN_OR_RETURN(
        std::unique_ptr<Segment> segment,
        Segment::Open(segment_config_, bases[i], trusted, active, now_ms, &scan));
    ++recovery_.segments_opened;
    if (scan.scanned) {
      ++recovery_.segments_scanned;
      ++recovery_.indexes_rebuilt;
      recovery_.batches_scanned += scan.batches;
    }
    bool overlaps =
        !set->segments.empty() && set->segments.back()->next_offset() > segment->base_offset();
    if (overlaps) {
      // Offsets must increase across segments; what follows an overlap cannot be trusted.
      scan.problem =
          fmt::format("segment {} overlaps the offsets of the one before it", segment->log_path());
      BROOK_RETURN_IF_ERROR(segment->Remove());
      ++recovery_.segments_deleted;
    } else {
      if (scan.scanned && !active && scan.problem.empty() &&
          segment->next_offset() < bases[i + 1]) {
        // A sealed segment not yet fsynced when the machine went down lost its tail: its data
        // ends before the next segment begins. Nothing after it was flushed (a flush syncs the
        // sealed segments first), so the log ends here.
        scan.problem = fmt::format("segment {} ends at offset {} but the next begins at {}",
                                   segment->log_path(), segment->next_offset(), bases[i + 1]);
      }
      set->segments.push_back(std::move(segment));
    }
    if (!scan.problem.empty()) {
      recovery_.bytes_truncated += static_cast<int64_t>(scan.truncated_bytes);
      recovery_.truncated_at_offset = set->segments.back()->next_offset();
      std::string message = fmt::format("log {}: {}; truncated to offset {}", dir_, scan.problem,
                                        recovery_.truncated_at_offset);
      // Everything after the first bad batch goes: a log never has holes.
      for (size_t j = i + 1; j < bases.size(); ++j) {
        BROOK_RETURN_IF_ERROR(Segment::RemoveFiles(segment_config_, bases[j]));
        ++recovery_.segments_deleted;
      }
      if (recovery_.segments_deleted > 0) {
        message += fmt::format(", {} later segment(s) deleted", recovery_.segments_deleted);
      }
      Say(LogLevel::kWarning, message);
      recovery_.message = message;
      if (!active || overlaps) BROOK_RETURN_IF_ERROR(set->segments.back()->Reactivate());
      break;
    }
  }
  if (!set->segments.empty() && set->segments.back()->next_offset() < log_start) {
    // Everything left is below the checkpointed start (Kafka: start afresh at the log start).
    for (auto& s : set->segments) BROOK_RETURN_IF_ERROR(s->Remove());
    set->segments.clear();
  }
  if (set->segments.empty()) {
    BROOK_ASSIGN_OR_RETURN(std::unique_ptr<Segment> segment,
                           Segment::Create(segment_config_, log_start, now_ms));
    set->segments.push_back(std::move(segment));
    BROOK_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  }
  // The marker may stay only while the files are as the last Close left them: a scan during
  // this open (a check failed) may have rebuilt indexes or cut a tail.
  const bool marker_stays =
      clean_shutdown && recovery_.segments_scanned == 0 && recovery_.segments_deleted == 0;
  if (clean_shutdown && !marker_stays) {
    BROOK_RETURN_IF_ERROR(fs_->Remove(dir_ + "/" + kCleanShutdownFile));
    BROOK_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  }
  const Segment& active = *set->segments.back();
  if (!clean_shutdown) {
    // What the scan found may still sit only in the page cache (a killed process): make it
    // durable so flushed_offset can start at the end.
    BROOK_RETURN_IF_ERROR(set->segments.back()->SyncAll());
  }
  int64_t end = active.next_offset();
  start_offset_.store(std::max(log_start, set->segments.front()->base_offset()));
  end_offset_.store(end);
  flushed_offset_.store(end);
  last_flush_nanos_.store(NowNanos());
  Publish(std::move(set));
  {
    MutexLock l(&append_mu_);
    first_dirty_ = first_dirty;
    last_expiry_check_ms_ = now_ms;
    clean_marker_ = marker_stays;
    BROOK_RETURN_IF_ERROR(LoadProducerState(end));
  }
  if (recovery_.message.empty()) {
    recovery_.message =
        clean_shutdown
            ? fmt::format("clean shutdown; {} segment(s), offsets [{}, {})",
                          recovery_.segments_opened, start_offset(), end)
            : fmt::format(
                  "recovered {} segment(s), {} batch(es) scanned, offsets "
                  "[{}, {}); nothing truncated",
                  recovery_.segments_scanned, recovery_.batches_scanned, start_offset(), end);
  }
  Say(LogLevel::kInfo, fmt::format("opened log {}: {}", dir_, recovery_.message));
  return absl::OkStatus();
}

absl::Status LogImpl::ForgetCleanShutdownLocked() {
  if (!clean_marker_) return absl::OkStatus();
  absl::Status s = fs_->Remove(dir_ + "/" + kCleanShutdownFile);
  if (absl::IsNotFound(s)) s = absl::OkStatus();
  if (s.ok()) s = fs_->SyncDir(dir_);
  if (!s.ok()) return Fail(s);
  clean_marker_ = false;
  return absl::OkStatus();
}

absl::Status LogImpl::CheckWritable() const {
  if (closed_.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError(fmt::format("log {} is closed", dir_));
  }
  if (failed_flag_.load(std::memory_order_acquire)) {
    MutexLock l(&failed_mu_);
    return WithErrorCode(
        absl::FailedPreconditionError(
            fmt::format("log {} failed after an I/O error and refuses writes until reopened: {}",
                        dir_, failed_)),
        ErrorCode::kKafkaStorageError);
  }
  return absl::OkStatus();
}

absl::Status LogImpl::Fail(absl::Status cause) {
  {
    MutexLock l(&failed_mu_);
    if (failed_.ok()) failed_ = cause;
  }
  failed_flag_.store(true, std::memory_order_release);
  Say(LogLevel::kError, fmt::format("log {} is now failed: {}", dir_, cause));
  return CheckWritable();
}

absl::Status LogImpl::health() const {
  if (!failed_flag_.load(std::memory_order_acquire)) return absl::OkStatus();
  MutexLock l(&failed_mu_);
  return failed_;
}

absl::StatusOr<AppendResult> LogImpl::Append(std::span<const std::byte> bytes,
                                             AppendOptions options) {
  auto too_large = [&](const char* limit, uint64_t value) {
    return WithErrorCode(
        absl::InvalidArgumentError(fmt::format("batch of {} bytes exceeds {} ({}) of log {}",
                                               bytes.size(), limit, value, dir_)),
        ErrorCode::kMessageTooLarge);
  };
  if (bytes.size() > options_.batch_bytes_max) {
    return too_large("batch_bytes_max", options_.batch_bytes_max);
  }
  if (bytes.size() > options_.segment_bytes_max) {
    return too_large("segment_bytes_max", options_.segment_bytes_max);
  }
  // Validation needs no lock: it only reads the caller's bytes. A compacted log decompresses a
  // compressed batch to check its keys (as Kafka's broker does), and that decompression checks
  // the records as Verify::kFull does: with kFull, Parse leaves those checks to it, which then
  // runs at once, in Parse's place, so errors come in the same order as on any other log.
  Verify verify = options.verify;
  if (verify == Verify::kFull && compacting()) {
    absl::StatusOr<RecordBatchView> header = RecordBatchView::Parse(bytes, Verify::kHeader);
    if (header.ok() && header->compression() != Compression::kNone) verify = Verify::kChecksum;
  }
  absl::StatusOr<RecordBatchView> parsed = RecordBatchView::Parse(bytes, verify);
  if (!parsed.ok()) {
    return Annotate(parsed.status(), fmt::format("Append to log {}", dir_));
  }
  const RecordBatchView& batch = *parsed;
  std::optional<std::vector<std::byte>> plain;  // the batch decompressed, for a compacted log
  auto inflate = [&]() -> absl::Status {
    absl::StatusOr<std::vector<std::byte>> inflated =
        DecompressBatch(batch, kMaxDecompressedRecordsBytes);
    if (!inflated.ok()) return Annotate(inflated.status(), fmt::format("Append to log {}", dir_));
    plain = std::move(*inflated);
    return absl::OkStatus();
  };
  if (verify != options.verify) BROOK_RETURN_IF_ERROR(inflate());
  auto invalid = [&](std::string why) {
    return WithErrorCode(absl::InvalidArgumentError(fmt::format("Append to log {}: {}", dir_, why)),
                         ErrorCode::kInvalidRecord);
  };
  if (batch.size_bytes() != bytes.size()) {
    return invalid(fmt::format("{} bytes follow the batch; Append takes exactly one batch",
                               bytes.size() - batch.size_bytes()));
  }
  if (batch.records_count() == 0) return invalid("the batch has no records");
  if (batch.last_offset_delta() + 1 != batch.records_count()) {
    return invalid(fmt::format("last offset delta {} does not match {} records",
                               batch.last_offset_delta(), batch.records_count()));
  }
  if (batch.is_control()) return invalid("control batches cannot be appended by clients");
  if (batch.is_transactional()) return invalid("transactional batches are not supported yet");
  if (batch.producer_id() >= 0 && (batch.producer_epoch() < 0 || batch.base_sequence() < 0)) {
    return invalid(
        fmt::format("producer {} sent epoch {} and base sequence {}; neither may be "
                    "negative",
                    batch.producer_id(), batch.producer_epoch(), batch.base_sequence()));
  }
  if (compacting()) {
    // Compaction keeps records by key, so every record needs one.
    if (batch.compression() != Compression::kNone && !plain) BROOK_RETURN_IF_ERROR(inflate());
    const RecordBatchView records =
        plain ? *RecordBatchView::Parse(*plain, Verify::kHeader) : batch;
    for (const RecordView& record : records.records()) {
      if (!record.has_key()) {
        return invalid(fmt::format(
            "record {} of the batch has no key; a compacted log needs a key on every record",
            record.offset()));
      }
    }
  }

  AppendResult result;
  bool flush = options.durability == Durability::kFlushed;
  {
    MutexLock l(&append_mu_);
    BROOK_RETURN_IF_ERROR(CheckWritable());
    BROOK_RETURN_IF_ERROR(ForgetCleanShutdownLocked());
    if (batch.producer_id() >= 0) {
      storage::ProducerBatch original;
      absl::Status rejected;
      switch (producers_.Check(batch.producer_id(), batch.producer_epoch(), batch.base_sequence(),
                               batch.last_offset_delta(), &original, &rejected)) {
        case storage::ProducerStateMap::Verdict::kAppend:
          break;
        case storage::ProducerStateMap::Verdict::kDuplicate:  // written before: not again
          result = {.base_offset = original.first_offset,
                    .last_offset = original.last_offset,
                    .duplicate = true};
          break;
        case storage::ProducerStateMap::Verdict::kRejected:
          return Annotate(rejected, fmt::format("Append to log {}", dir_));
      }
    }
    if (!result.duplicate) {
      int64_t base = end_offset_.load(std::memory_order_relaxed);
      if (base > std::numeric_limits<int64_t>::max() - 1 - batch.last_offset_delta()) {
        return WithErrorCode(absl::OutOfRangeError(fmt::format(
                                 "log {} is out of offsets: end offset {}", dir_, base)),
                             ErrorCode::kOffsetOutOfRange);
      }
      int64_t last = base + batch.last_offset_delta();
      std::shared_ptr<const SegmentSet> set = snapshot();
      if (set->segments.back()->ShouldRoll(batch.size_bytes(), last, clock_->NowMs(),
                                           options_.segment_age_max.count())) {
        BROOK_RETURN_IF_ERROR(Roll(base));
        set = snapshot();
      }
      absl::Status s = set->segments.back()->Append(batch, base);
      if (!s.ok()) {
        return Annotate(s, fmt::format("Append to log {}", dir_));
      }
      if (batch.producer_id() >= 0) {
        producers_.Record(batch.producer_id(), batch.producer_epoch(),
                          storage::ProducerBatch{
                              .first_sequence = batch.base_sequence(),
                              .last_sequence = storage::IncrementSequence(
                                  batch.base_sequence(), batch.last_offset_delta()),
                              .first_offset = base,
                              .last_offset = last,
                              .max_timestamp = batch.max_timestamp(),
                          });
      }
      appended_bytes_.fetch_add(batch.size_bytes(), std::memory_order_relaxed);
      end_offset_.store(last + 1, std::memory_order_seq_cst);
      result = {.base_offset = base, .last_offset = last};
    }
    flush = flush || FlushPolicyDue();
  }
  if (!result.duplicate) NotifyWaiters();
  if (flush) {
    absl::Status s = FlushTo(result.last_offset + 1);
    if (!s.ok()) {
      return Annotate(s, fmt::format("appended offsets {}..{} to log {} but could not flush",
                                     result.base_offset, result.last_offset, dir_));
    }
  }
  return result;
}

bool LogImpl::FlushPolicyDue() const {
  const FlushPolicy& p = options_.flush;
  if (p.records > 0 && end_offset_.load(std::memory_order_relaxed) -
                               flushed_offset_.load(std::memory_order_relaxed) >=
                           p.records) {
    return true;
  }
  if (p.bytes > 0 && appended_bytes_.load(std::memory_order_relaxed) -
                             flushed_bytes_mark_.load(std::memory_order_relaxed) >=
                         static_cast<uint64_t>(p.bytes)) {
    return true;
  }
  // In milliseconds: Kafka's default flush.ms, Long.MAX_VALUE, overflows as nanoseconds.
  if (p.interval.count() > 0 &&
      (NowNanos() - last_flush_nanos_.load(std::memory_order_relaxed)) / 1'000'000 >=
          p.interval.count()) {
    return true;
  }
  return false;
}

bool LogImpl::LeadFlush(int64_t target) {
  if (target >= 0) {
    // Waiting for a running fdatasync to cover us: yield-spin (kFlushWaitSpin) first.
    // A futex wake-up costs tens of µs on a VM, and the woken appenders' next appends would
    // then miss the next sync.
    auto until = std::chrono::steady_clock::now() + kFlushWaitSpin;
    while (flush_running_.load(std::memory_order_acquire) &&
           std::chrono::steady_clock::now() < until) {
      if (flushed_offset_.load(std::memory_order_acquire) >= target) return false;
      std::this_thread::yield();
    }
  }
  MutexLock l(&flush_mu_);
  while (true) {
    if (target >= 0 && flushed_offset_.load(std::memory_order_acquire) >= target) return false;
    if (!flush_leader_) break;
    flush_cv_.Wait(&flush_mu_);
  }
  flush_leader_ = true;
  flush_running_.store(true, std::memory_order_release);
  return true;
}

void LogImpl::EndFlush() {
  {
    MutexLock l(&flush_mu_);
    flush_leader_ = false;
    flush_running_.store(false, std::memory_order_release);
  }
  flush_cv_.SignalAll();
}

absl::Status LogImpl::SyncDirIfNeeded() {
  {
    MutexLock l(&flush_mu_);
    if (!dir_unsynced_) return absl::OkStatus();
    dir_unsynced_ = false;
  }
  absl::Status s = fs_->SyncDir(dir_);
  if (!s.ok()) return Fail(s);
  return absl::OkStatus();
}

bool LogImpl::TrimUnsynced() {
  std::vector<std::shared_ptr<Segment>> sealed;
  {
    MutexLock l(&flush_mu_);
    sealed = unsynced_sealed_;
  }
  for (const auto& segment : sealed) {
    absl::Status s = segment->TrimFiles();
    if (!s.ok()) return false;  // the retried create reports the space problem
  }
  return !sealed.empty();
}

absl::Status LogImpl::SyncSealed(size_t keep) {
  std::vector<std::shared_ptr<Segment>> to_sync;
  {
    MutexLock l(&flush_mu_);
    if (unsynced_sealed_.size() > keep) {
      auto last = unsynced_sealed_.end() - static_cast<std::ptrdiff_t>(keep);
      to_sync.assign(unsynced_sealed_.begin(), last);
      unsynced_sealed_.erase(unsynced_sealed_.begin(), last);
    }
  }
  // After taking the list: every segment on it (and the caller's active segment) was created
  // before this directory sync, so their names are durable before their data counts as flushed.
  BROOK_RETURN_IF_ERROR(SyncDirIfNeeded());
  if (to_sync.empty()) return absl::OkStatus();
  for (const auto& segment : to_sync) {
    absl::Status s = segment->TrimFiles();  // a roll leaves that to us (see Deactivate)
    if (s.ok()) s = segment->SyncAll();
    if (!s.ok()) return Fail(s);
  }
  // Everything below the next segment's base is on disk now.
  int64_t synced_to = to_sync.back()->next_offset();
  StoreMax(flushed_offset_, synced_to);
  absl::Status s =
      storage::WriteCheckpoint(fs_, dir_, kRecoveryPointFile, "recovery-point", {synced_to});
  if (!s.ok()) {
    // Not fatal: a crash would just scan more.
    Say(LogLevel::kWarning, fmt::format("log {}: could not write the recovery point: {}", dir_, s));
  }
  return absl::OkStatus();
}

absl::Status LogImpl::FlushTo(int64_t target) {
  if (flushed_offset_.load(std::memory_order_acquire) >= target) return absl::OkStatus();
  if (!LeadFlush(target)) return absl::OkStatus();  // a sync by another caller covered us
  absl::Status result = [&]() -> absl::Status {
    BROOK_RETURN_IF_ERROR(CheckWritable());
    // Order matters: the end offset first, then the segment set, then the sealed-but-unsynced
    // list. A roll puts the old segment on that list before it publishes the new set, so every
    // offset below `end` is in a listed segment or in the active segment of `set`.
    int64_t end = end_offset_.load(std::memory_order_acquire);
    uint64_t bytes_mark = appended_bytes_.load(std::memory_order_acquire);
    std::shared_ptr<const SegmentSet> set = snapshot();
    BROOK_RETURN_IF_ERROR(SyncSealed(0));
    absl::Status s = set->segments.back()->Sync();
    if (!s.ok()) return Fail(s);
    StoreMax(flushed_offset_, end);
    flushed_bytes_mark_.store(bytes_mark, std::memory_order_relaxed);
    last_flush_nanos_.store(NowNanos(), std::memory_order_relaxed);
    return absl::OkStatus();
  }();
  EndFlush();
  return result;
}

absl::Status LogImpl::Roll(int64_t base_offset) {
  std::shared_ptr<const SegmentSet> set = snapshot();
  absl::StatusOr<std::unique_ptr<Segment>> created =
      Segment::Create(segment_config_, base_offset, clock_->NowMs());
  if (absl::IsResourceExhausted(created.status()) && TrimUnsynced()) {
    // Sealed segments not yet trimmed still hold their preallocated space: give it back, retry.
    created = Segment::Create(segment_config_, base_offset, clock_->NowMs());
  }
  BROOK_RETURN_IF_ERROR(created.status());
  std::unique_ptr<Segment> next = std::move(*created);
  // Finish the old segment's files later, with its fsync (see unsynced_sealed_): an fdatasync of
  // a whole segment inside Append would stall the appender for tens of milliseconds, and even
  // trimming the files can wait milliseconds behind the journal while that fsync runs.
  absl::Status s = set->segments.back()->Deactivate();
  if (!s.ok()) {
    next->Remove().IgnoreError();
    return Fail(s);
  }
  size_t unsynced;
  {
    MutexLock l(&flush_mu_);
    unsynced_sealed_.push_back(set->segments.back());
    unsynced = unsynced_sealed_.size();
    dir_unsynced_ = true;  // the new segment's name is not durable until the next SyncDir
  }
  auto rolled = std::make_shared<SegmentSet>(*set);
  rolled->segments.push_back(std::move(next));
  Publish(std::move(rolled));
  // Producer state as of the new segment's base, so a restart replays at most the segments
  // after it. Not synced: a lost or torn snapshot fails its checksum and an older one is used.
  s = WriteSnapshot(base_offset, /*sync=*/false);
  if (!s.ok()) {
    Say(LogLevel::kWarning,
        fmt::format("log {}: could not write a producer snapshot: {}", dir_, s));
  }
  if (unsynced > kUnsyncedSealedMax && LeadFlush()) {
    s = SyncSealed(kUnsyncedSealedMax / 2);
    EndFlush();
    BROOK_RETURN_IF_ERROR(s);
    unsynced = kUnsyncedSealedMax / 2;
  }
  if (unsynced >= kUnsyncedSealedMax / 2 && options_.on_unsynced_segments) {
    options_.on_unsynced_segments();  // half way there: a sync in the background
  }
  return EnforceRetentionLocked().status();
}

absl::StatusOr<int> LogImpl::EnforceRetention() {
  MutexLock l(&append_mu_);
  if (closed_.load()) return 0;
  // A failed log changes no files: its state on disk is what a reopen recovers from.
  BROOK_RETURN_IF_ERROR(CheckWritable());
  return EnforceRetentionLocked();
}

absl::StatusOr<int> LogImpl::EnforceRetentionLocked() {
  std::shared_ptr<const SegmentSet> set = snapshot();
  const auto& segments = set->segments;
  uint64_t total = 0;
  for (const auto& s : segments) total += s->size();
  int64_t now_ms = clock_->NowMs();
  int64_t start = start_offset_.load(std::memory_order_relaxed);
  bool deletes = options_.cleanup_policy != CleanupPolicy::kCompact;
  size_t k = 0;
  for (; k + 1 < segments.size(); ++k) {  // never the active segment
    const Segment& s = *segments[k];
    bool below_start = s.next_offset() <= start;
    bool too_big = deletes && options_.retention_bytes >= 0 &&
                   total - s.size() >= static_cast<uint64_t>(options_.retention_bytes);
    bool too_old = deletes && options_.retention_age.count() >= 0 &&
                   s.max_timestamp() != kNoTimestamp &&
                   s.max_timestamp() < now_ms - options_.retention_age.count();
    if (!below_start && !too_big && !too_old) break;
    total -= s.size();
  }
  if (k == 0) return 0;
  BROOK_RETURN_IF_ERROR(ForgetCleanShutdownLocked());
  auto kept = std::make_shared<SegmentSet>();
  kept->segments.assign(segments.begin() + static_cast<std::ptrdiff_t>(k), segments.end());
  int64_t new_start = std::max(start, kept->segments.front()->base_offset());
  {
    // Deleted segments need no fsync any more. Whatever is below the new start is gone, so
    // flushed_offset (which speaks only of retained records) moves up to it.
    MutexLock l(&flush_mu_);
    std::erase_if(unsynced_sealed_,
                  [&](const auto& seg) { return seg->next_offset() <= new_start; });
  }
  Publish(kept);
  start_offset_.store(new_start, std::memory_order_release);
  StoreMax(flushed_offset_, new_start);
  // Readers holding the old set keep the mappings alive; the files can go now.
  for (size_t i = 0; i < k; ++i) BROOK_RETURN_IF_ERROR(segments[i]->Remove());
  BROOK_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  // Producers whose every batch is gone are forgotten (their next batch is accepted as from an
  // unknown producer), and so are the snapshots of deleted segments.
  producers_.RemoveBefore(new_start);
  RemoveStraySnapshots(end_offset_.load(std::memory_order_relaxed));
  return static_cast<int>(k);
}

absl::Status LogImpl::DeleteRecordsBefore(int64_t offset) {
  MutexLock l(&append_mu_);
  BROOK_RETURN_IF_ERROR(CheckWritable());
  BROOK_RETURN_IF_ERROR(ForgetCleanShutdownLocked());
  int64_t end = end_offset_.load(std::memory_order_relaxed);
  if (offset > end || offset < 0) {
    return WithErrorCode(absl::OutOfRangeError(fmt::format(
                             "DeleteRecordsBefore({}) on log {}: offset is past the end offset {}",
                             offset, dir_, end)),
                         ErrorCode::kOffsetOutOfRange);
  }
  if (offset <= start_offset_.load(std::memory_order_relaxed)) return absl::OkStatus();
  // Keep start_offset <= flushed_offset: what is deleted before must first be on disk.
  BROOK_RETURN_IF_ERROR(FlushTo(offset));
  BROOK_RETURN_IF_ERROR(
      storage::WriteCheckpoint(fs_, dir_, kStartOffsetFile, "log-start-offset", {offset}));
  start_offset_.store(offset, std::memory_order_release);
  producers_.RemoveBefore(offset);
  return EnforceRetentionLocked().status();
}

absl::StatusOr<int64_t> LogImpl::TruncateTo(int64_t offset) {
  // A compaction pass reads sealed segments without a lock, and a truncation may reactivate and
  // rewrite one: stop the pass (it checks the flag between batches) and keep the next one out.
  cancel_compaction_.store(true, std::memory_order_release);
  MutexLock c(&compact_mu_);
  cancel_compaction_.store(compaction_stopped_.load(std::memory_order_acquire),
                           std::memory_order_release);
  MutexLock l(&append_mu_);
  BROOK_RETURN_IF_ERROR(CheckWritable());
  BROOK_RETURN_IF_ERROR(ForgetCleanShutdownLocked());
  LeadFlush();
  int64_t end = end_offset_.load(std::memory_order_relaxed);
  if (offset < end) truncation_count_.fetch_add(1, std::memory_order_acq_rel);  // before the cut
  absl::StatusOr<int64_t> result = TruncateToLocked(offset);
  EndFlush();
  if (!result.ok() || *result >= end) return result;
  ++truncations_;
  if (first_dirty_ > *result) {
    // What is appended past the cut was never compacted (Kafka's maybeTruncateCheckpoint).
    first_dirty_ = *result;
    absl::Status s = storage::WriteCheckpoint(fs_, dir_, kCleanerCheckpointFile, "cleaner-offset",
                                              {first_dirty_});
    if (!s.ok()) return Fail(s);
  }
  // Rebuild the producers from the newest snapshot at or below the new end. An epoch begun by
  // InitProducer that has no batch yet was handed out, so it (and the fence it set) outlives the
  // cut, whatever snapshot is reloaded. (A producer whose batches are cut is forgotten or set
  // back, as in Kafka.)
  std::vector<storage::ProducerEntry> before = producers_.Entries();
  absl::Status s = LoadProducerState(*result);
  if (!s.ok()) return Fail(s);
  bool raised = false;
  for (const storage::ProducerEntry& e : before) {
    if (e.batch_count > 0) continue;
    const storage::ProducerEntry* now = producers_.Find(e.producer_id);
    if (now == nullptr || now->epoch < e.epoch) {
      producers_.BeginEpoch(e.producer_id, e.epoch, e.last_timestamp);
      raised = true;
    }
  }
  if (raised) {
    s = WriteSnapshot(*result, /*sync=*/true);
    if (!s.ok()) return Fail(s);
  }
  return result;
}

absl::StatusOr<int64_t> LogImpl::TruncateToLocked(int64_t offset) {
  // No sealed segment may wait for a sync across a truncation that could reactivate it.
  BROOK_RETURN_IF_ERROR(SyncSealed(0));
  int64_t end = end_offset_.load(std::memory_order_relaxed);
  if (offset >= end) return end;
  int64_t start = start_offset_.load(std::memory_order_relaxed);
  if (offset < start) {
    return WithErrorCode(
        absl::OutOfRangeError(fmt::format("TruncateTo({}) on log {}: below the start offset {}",
                                          offset, dir_, start)),
        ErrorCode::kOffsetOutOfRange);
  }
  std::shared_ptr<const SegmentSet> set = snapshot();
  const auto& segments = set->segments;
  auto it = std::upper_bound(segments.begin(), segments.end(), offset,
                             [](int64_t o, const auto& s) { return o < s->base_offset(); });
  BROOK_CHECK(it != segments.begin());
  size_t index = static_cast<size_t>(it - segments.begin()) - 1;
  Segment& segment = *segments[index];
  uint64_t position = segment.FindPosition(offset);
  int64_t new_end = segment.next_offset();
  std::span<const std::byte> bytes = segment.bytes();
  if (position < bytes.size()) {
    new_end = detail::LoadBig<int64_t>(bytes.data() + position + batch_layout::kBaseOffset);
  }
  if (new_end < start) {
    // The batch holding `offset` begins below the start offset (DeleteRecordsBefore cut into it),
    // so nothing at or after `start` survives: empty the log and continue at `start`, as Kafka's
    // truncateFullyAndStartAt does.
    BROOK_ASSIGN_OR_RETURN(std::unique_ptr<Segment> fresh,
                           Segment::Create(segment_config_, start, clock_->NowMs()));
    absl::Status s = fs_->SyncDir(dir_);
    if (s.ok()) {
      s = storage::WriteCheckpoint(fs_, dir_, kRecoveryPointFile, "recovery-point", {start});
    }
    if (!s.ok()) {
      fresh->Remove().IgnoreError();  // nothing else has changed yet
      return s;
    }
    auto empty = std::make_shared<SegmentSet>();
    empty->segments.push_back(std::move(fresh));
    Publish(empty);
    end_offset_.store(start, std::memory_order_seq_cst);
    flushed_offset_.store(start, std::memory_order_release);
    // From here on a failure leaves files the log no longer uses: fail rather than guess.
    for (const auto& old : segments) {
      if (s.ok()) s = old->Remove();
    }
    if (s.ok()) s = fs_->SyncDir(dir_);
    if (!s.ok()) return Fail(s);
    return start;
  }
  bool active = index + 1 == segments.size();
  if (!active) {
    // The cut segment is below the recovery point: pull the point down so a crash rescans it,
    // and make it appendable again. Both leave the log as it was if they fail.
    BROOK_RETURN_IF_ERROR(storage::WriteCheckpoint(fs_, dir_, kRecoveryPointFile, "recovery-point",
                                                   {segment.base_offset()}));
    BROOK_RETURN_IF_ERROR(segment.Reactivate());
    auto kept = std::make_shared<SegmentSet>();
    kept->segments.assign(segments.begin(),
                          segments.begin() + static_cast<std::ptrdiff_t>(index) + 1);
    Publish(kept);
    absl::Status s;
    for (size_t i = index + 1; i < segments.size(); ++i) {
      if (s.ok()) s = segments[i]->Remove();
    }
    if (s.ok()) s = fs_->SyncDir(dir_);
    if (!s.ok()) return Fail(s);  // the later segments are unpublished but may be on disk
  }
  absl::Status s = segment.TruncateAt(position, new_end);
  if (!s.ok()) return Fail(s);
  end_offset_.store(new_end, std::memory_order_seq_cst);
  if (flushed_offset_.load() > new_end) flushed_offset_.store(new_end, std::memory_order_release);
  return new_end;
}

absl::Status LogImpl::Tick() {
  if (closed_.load(std::memory_order_acquire)) return absl::OkStatus();
  const FlushPolicy& p = options_.flush;
  if (p.interval.count() > 0 && flushed_offset() < end_offset() && FlushPolicyDue()) {
    BROOK_RETURN_IF_ERROR(Flush());
  }
  if (LeadFlush()) {                                // sealed segments: keep the recovery scan short
    if (closed_.load(std::memory_order_acquire)) {  // closed while we waited for the lead
      EndFlush();
      return absl::OkStatus();
    }
    absl::Status s = CheckWritable();
    if (s.ok()) s = SyncSealed(0);
    EndFlush();
    BROOK_RETURN_IF_ERROR(s);
  }
  if (options_.retention_bytes >= 0 || options_.retention_age.count() >= 0) {
    BROOK_RETURN_IF_ERROR(EnforceRetention().status());
  }
  {
    MutexLock l(&append_mu_);
    ExpireProducers();
  }
  return absl::OkStatus();
}

void LogImpl::ExpireProducers() {
  // Like Kafka's producer.id.expiration.check.interval.ms (10 minutes), but never slower than
  // the expiration itself.
  int64_t now_ms = clock_->NowMs();
  int64_t idle_ms = options_.producer_id_expiration.count();
  int64_t interval_ms = std::min<int64_t>(idle_ms, 10 * 60 * 1000);
  if (now_ms - last_expiry_check_ms_ < interval_ms) return;
  last_expiry_check_ms_ = now_ms;
  producers_.RemoveExpired(now_ms, idle_ms);
}

absl::Status LogImpl::Close() {
  absl::Status result;
  {
    MutexLock l(&append_mu_);
    if (closed_.load(std::memory_order_acquire)) return absl::OkStatus();
    LeadFlush();
    if (!failed_flag_.load(std::memory_order_acquire) && snapshot() != nullptr) {
      // Seal = final time-index entry, files trimmed to their contents, everything fsynced;
      // then the marker that lets the next Open skip the scan.
      std::shared_ptr<const SegmentSet> set = snapshot();
      result = SyncSealed(0);
      if (result.ok()) result = set->segments.back()->Seal(/*sync=*/true);
      if (result.ok()) {
        result = WriteSnapshot(end_offset_.load(std::memory_order_relaxed), /*sync=*/true);
      }
      if (result.ok()) {
        int64_t end = end_offset_.load(std::memory_order_relaxed);
        StoreMax(flushed_offset_, end);
        result = storage::WriteCheckpoint(fs_, dir_, kCleanShutdownFile, "clean-shutdown", {end});
      }
    }
    closed_.store(true, std::memory_order_seq_cst);
    EndFlush();
    lock_.reset();
    broker_lock_.reset();
  }
  MutexLock w(&wait_mu_);
  wait_cv_.SignalAll();
  return result;
}

void LogImpl::NotifyWaiters() const {
  if (waiters_.load(std::memory_order_seq_cst) == 0) return;
  MutexLock l(&wait_mu_);
  wait_cv_.SignalAll();
}

absl::Status LogImpl::WaitForAppend(int64_t offset,
                                    std::chrono::steady_clock::time_point deadline) const {
  auto ready = [&] { return end_offset_.load(std::memory_order_seq_cst) > offset; };
  if (ready()) return absl::OkStatus();
  if (options_.wait_spin.count() > 0) {
    auto spin_until = std::min(deadline, std::chrono::steady_clock::now() + options_.wait_spin);
    while (std::chrono::steady_clock::now() < spin_until) {
      for (int i = 0; i < 64; ++i) {
        if (ready()) return absl::OkStatus();
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
      }
    }
  }
  waiters_.fetch_add(1, std::memory_order_seq_cst);
  absl::Status result;
  {
    MutexLock l(&wait_mu_);
    while (!ready()) {
      if (closed_.load(std::memory_order_acquire)) {
        result = absl::CancelledError(fmt::format("log {} was closed", dir_));
        break;
      }
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) {
        result = absl::DeadlineExceededError(
            fmt::format("no append past offset {} to log {} before the deadline", offset, dir_));
        break;
      }
      wait_cv_.WaitWithTimeout(&wait_mu_, deadline - now);
    }
  }
  waiters_.fetch_sub(1, std::memory_order_seq_cst);
  return result;
}

absl::Status LogImpl::CheckReadable() const {
  // Close released the directory lock: another process may now open the log and truncate the
  // files under our mappings (a read past a file's end is SIGBUS), so reads stop too.
  if (closed_.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError(fmt::format("log {} is closed", dir_));
  }
  return absl::OkStatus();
}

absl::StatusOr<ReadResult> LogImpl::Read(int64_t offset, ReadOptions options) const {
  BROOK_RETURN_IF_ERROR(CheckReadable());
  int64_t start = start_offset();
  int64_t end = end_offset();
  auto out_of_range = [&] {
    return WithErrorCode(absl::OutOfRangeError(fmt::format(
                             "offset {} is outside [{}, {}] of log {}", offset, start, end, dir_)),
                         ErrorCode::kOffsetOutOfRange);
  };
  if (offset < start || offset > end) return out_of_range();
  ReadResult result;
  result.next_offset_ = offset;
  if (offset == end) return result;
  std::shared_ptr<const SegmentSet> set = snapshot();
  const auto& segments = set->segments;
  auto it = std::upper_bound(segments.begin(), segments.end(), offset,
                             [](int64_t o, const auto& s) { return o < s->base_offset(); });
  if (it == segments.begin()) return out_of_range();  // retention moved past it meanwhile
  --it;
  uint64_t position = (*it)->FindPosition(offset);
  for (; it != segments.end(); ++it, position = 0) {
    std::span<const std::byte> bytes = (*it)->bytes();
    if (bytes.size() - std::min<uint64_t>(position, bytes.size()) > kWillNeedBehind) {
      // Far behind the end, maybe after a restart: the pages may be on disk only, and faults on
      // an active segment read them in one at a time.
      (*it)->WillNeed(position, options.max_bytes);
    }
    while (position < bytes.size()) {
      absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(
          bytes.subspan(position), options.verify ? Verify::kChecksum : Verify::kHeader);
      if (!batch.ok()) {
        return Annotate(absl::DataLossError(batch.status().message()),
                        fmt::format("{} at byte {}", (*it)->log_path(), position));
      }
      if (!result.batches_.empty() &&
          result.size_bytes_ + batch->size_bytes() > options.max_bytes) {
        result.pin_ = set;
        return result;
      }
      result.batches_.push_back(*batch);
      result.size_bytes_ += batch->size_bytes();
      result.next_offset_ = batch->next_offset();
      position += batch->size_bytes();
    }
  }
  result.pin_ = set;
  return result;
}

absl::StatusOr<int64_t> LogImpl::OffsetForTimestamp(int64_t timestamp_ms) const {
  BROOK_RETURN_IF_ERROR(CheckReadable());
  int64_t start = start_offset();
  std::shared_ptr<const SegmentSet> set = snapshot();
  for (const auto& segment : set->segments) {
    if (segment->next_offset() <= start || segment->max_timestamp() < timestamp_ms) continue;
    std::optional<int64_t> offset = segment->FindOffsetForTimestamp(timestamp_ms, start);
    if (offset) return *offset;
  }
  return absl::NotFoundError(
      fmt::format("log {} has no record with timestamp >= {}", dir_, timestamp_ms));
}

absl::Status LogImpl::WriteSnapshot(int64_t offset, bool sync) {
  // The durable snapshot at this offset already holds every batch below it, and whatever state
  // no batch holds (an epoch bump) was synced into it: overwriting it in place unsynced could
  // tear the only copy of such state.
  if (!sync && offset == synced_snapshot_) return absl::OkStatus();
  std::vector<std::byte> bytes = producers_.EncodeSnapshot(offset);
  std::string path = dir_ + "/" + storage::SnapshotFileName(offset);
  // Synced snapshots replace atomically (write, fsync, rename, fsync the directory), so a crash
  // leaves the old one or the new one; others are written in place and may tear (their CRC
  // then fails and an older snapshot is used).
  std::string target = sync ? path + ".tmp" : path;
  {
    BROOK_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs_->Open(target, OpenMode::kCreate));
    BROOK_RETURN_IF_ERROR(file->Truncate(0));
    BROOK_RETURN_IF_ERROR(file->Write(0, bytes));
    if (sync) BROOK_RETURN_IF_ERROR(file->Sync());
  }
  if (sync) {
    BROOK_RETURN_IF_ERROR(fs_->Rename(target, path));
    BROOK_RETURN_IF_ERROR(fs_->SyncDir(dir_));
    synced_snapshot_ = offset;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int64_t>> LogImpl::ListSnapshots() const {
  BROOK_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  std::vector<int64_t> offsets;
  for (const std::string& name : names) {
    if (auto offset = ParseSegmentName(name, storage::kSnapshotExtension)) {
      offsets.push_back(*offset);
    }
  }
  std::sort(offsets.begin(), offsets.end());
  return offsets;
}

absl::StatusOr<storage::ProducerStateMap> LogImpl::ReadSnapshot(int64_t offset) const {
  std::string path = dir_ + "/" + storage::SnapshotFileName(offset);
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs_->Open(path, OpenMode::kReadOnly));
  BROOK_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  if (size > storage::kSnapshotBytesMax) {
    return absl::DataLossError(
        fmt::format("snapshot {} is {} bytes, more than the {} a snapshot "
                    "can hold",
                    path, size, storage::kSnapshotBytesMax));
  }
  std::vector<std::byte> bytes(size);
  BROOK_ASSIGN_OR_RETURN(size_t n, file->Read(0, bytes));
  bytes.resize(n);
  return storage::ProducerStateMap::DecodeSnapshot(bytes, offset, path);
}

absl::Status LogImpl::LoadProducerState(int64_t end) {
  producers_.Clear();
  BROOK_ASSIGN_OR_RETURN(std::vector<int64_t> snapshots, ListSnapshots());
  int64_t from = -1;
  bool removed_any = false;
  for (auto it = snapshots.rbegin(); it != snapshots.rend() && from < 0; ++it) {
    // Snapshots past the end (after a truncation or a crash) describe batches that are gone.
    absl::StatusOr<storage::ProducerStateMap> loaded =
        *it > end ? absl::OutOfRangeError("past the end") : ReadSnapshot(*it);
    if (loaded.ok()) {
      producers_ = std::move(*loaded);
      from = *it;
      break;
    }
    // Never trusted: an older snapshot plus more of the log gives the same state.
    if (!absl::IsOutOfRange(loaded.status())) {
      Say(LogLevel::kWarning,
          fmt::format("log {}: skipping producer snapshot: {}", dir_, loaded.status()));
    }
    absl::Status removed = fs_->Remove(dir_ + "/" + storage::SnapshotFileName(*it));
    if (!removed.ok() && !absl::IsNotFound(removed)) return removed;
    removed_any = true;
  }
  if (removed_any) {
    // A snapshot past the end that came back after a crash would describe batches that are
    // gone: after a truncation, a retry of a cut batch would be answered as a duplicate.
    BROOK_RETURN_IF_ERROR(fs_->SyncDir(dir_));
  }
  int64_t start = start_offset();
  int64_t replay_from = std::max(from, start);
  int64_t batches = 0;
  for (int64_t offset = replay_from; offset < end;) {
    BROOK_ASSIGN_OR_RETURN(ReadResult read,
                           Read(offset, ReadOptions{.max_bytes = 1 << 20, .verify = false}));
    if (read.empty()) break;
    for (const RecordBatchView& batch : read) {
      if (batch.base_offset() < from || batch.base_offset() >= end) continue;
      producers_.Replay(batch);
      ++batches;
    }
    offset = read.next_offset();
  }
  producers_.RemoveBefore(start);
  producers_.RemoveExpired(clock_->NowMs(), options_.producer_id_expiration.count());
  if (from >= 0) synced_snapshot_ = from;  // it survived whatever happened before: on disk
  // Nothing to record for a new, empty log (no fsync on creation); otherwise the state as of the
  // end, so the next Open replays nothing.
  if (batches > 0 || (from >= 0 && from != end) || producers_.size() > 0) {
    // Synced: it may hold state no batch holds (an epoch InitProducer began), and the older
    // snapshots that held it go next.
    absl::Status s = WriteSnapshot(end, /*sync=*/true);
    if (!s.ok()) {
      Say(LogLevel::kWarning,
          fmt::format("log {}: could not write a producer snapshot: {}", dir_, s));
    }
  }
  RemoveStraySnapshots(end);
  return absl::OkStatus();
}

void LogImpl::RemoveStraySnapshots(int64_t end) {
  absl::StatusOr<std::vector<int64_t>> snapshots = ListSnapshots();
  if (!snapshots.ok() || snapshots->empty()) return;
  std::shared_ptr<const SegmentSet> set = snapshot();
  int64_t newest = -1;
  for (int64_t offset : *snapshots) {
    if (offset <= end) newest = offset;
  }
  for (int64_t offset : *snapshots) {
    bool at_segment = std::any_of(set->segments.begin(), set->segments.end(),
                                  [&](const auto& seg) { return seg->base_offset() == offset; });
    // Kept: the newest, the newest known to be on disk (the newer may be lost in a crash), and
    // one per segment (a truncation reloads from the one at or below its cut).
    if (offset == newest || offset == synced_snapshot_ || (at_segment && offset <= end)) {
      continue;
    }
    absl::Status s = fs_->Remove(dir_ + "/" + storage::SnapshotFileName(offset));
    if (!s.ok() && !absl::IsNotFound(s)) {
      Say(LogLevel::kWarning, fmt::format("log {}: could not remove a snapshot: {}", dir_, s));
    }
  }
}

absl::StatusOr<ProducerIdentity> LogImpl::InitProducer(std::optional<ProducerIdentity> previous) {
  MutexLock l(&append_mu_);
  BROOK_RETURN_IF_ERROR(CheckWritable());
  BROOK_RETURN_IF_ERROR(ForgetCleanShutdownLocked());
  int64_t now_ms = clock_->NowMs();
  if (previous) {
    if (previous->producer_id < 0 || previous->epoch < 0) {
      return absl::InvalidArgumentError(
          fmt::format("InitProducer on log {}: previous identity {}/{} is not one InitProducer "
                      "returns",
                      dir_, previous->producer_id, previous->epoch));
    }
    const storage::ProducerEntry* entry = producers_.Find(previous->producer_id);
    if (entry != nullptr && entry->epoch > previous->epoch) {
      return WithErrorCode(absl::FailedPreconditionError(fmt::format(
                               "InitProducer on log {}: producer {} epoch {} is fenced by epoch {}",
                               dir_, previous->producer_id, previous->epoch, entry->epoch)),
                           ErrorCode::kProducerFenced);
    }
    // Bump only an epoch the log knows to be the current one. An unknown producer (expired,
    // or its batches removed by retention) may have been bumped by another client since: a
    // fresh id can never collide.
    if (entry != nullptr && entry->epoch == previous->epoch &&
        previous->epoch < std::numeric_limits<int16_t>::max()) {
      auto epoch = static_cast<int16_t>(previous->epoch + 1);
      std::optional<storage::ProducerEntry> before;
      if (entry != nullptr) before = *entry;
      // Durable before it is handed out: lost in a crash, the old epoch would be unfenced and
      // a second InitProducer(previous) would hand the same identity to another client. The
      // log is flushed first, so the snapshot is not past the end a crash can leave.
      int64_t end = end_offset_.load(std::memory_order_relaxed);
      BROOK_RETURN_IF_ERROR(FlushTo(end));
      producers_.BeginEpoch(previous->producer_id, epoch, now_ms);
      absl::Status s = WriteSnapshot(end, /*sync=*/true);
      if (!s.ok()) {
        producers_.Restore(previous->producer_id, before);  // the caller may retry
        return Annotate(s, fmt::format("InitProducer on log {}", dir_));
      }
      return ProducerIdentity{.producer_id = previous->producer_id, .epoch = epoch};
    }
    // Unknown, or the epoch is exhausted: a new id, as Kafka does.
  }
  BROOK_ASSIGN_OR_RETURN(int64_t id, producer_ids_->Allocate());
  producers_.BeginEpoch(id, 0, now_ms);
  return ProducerIdentity{.producer_id = id, .epoch = 0};
}

std::vector<ProducerInfo> LogImpl::Producers() const {
  MutexLock l(&append_mu_);
  std::vector<ProducerInfo> infos;
  for (const storage::ProducerEntry& e : producers_.Entries()) {
    const storage::ProducerBatch* last = e.last_batch();
    infos.push_back({
        .producer_id = e.producer_id,
        .epoch = e.epoch,
        .last_sequence = e.last_sequence(),
        .last_offset = last != nullptr ? last->last_offset : -1,
        .last_timestamp = e.last_timestamp,
        .batches_retained = e.batch_count,
    });
  }
  return infos;
}

CompactionState LogImpl::ComputeCompactionState(const SegmentSet& set, int64_t now_ms) const {
  CompactionState state;
  int64_t start = start_offset();
  int64_t end = end_offset();
  // Below the start: those records are gone. Past the end (a crash lost an unflushed tail after
  // the checkpoint was written): everything that is left was compacted.
  state.first_dirty_offset = std::clamp(first_dirty_, start, end);
  // Never the active segment, never data not yet on disk (a sealed segment waiting for its
  // fsync), never records younger than min_lag.
  const auto& segments = set.segments;
  int64_t flushed = flushed_offset();
  int64_t uncleanable = segments.back()->base_offset();
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    const Segment& s = *segments[i];
    bool young = options_.compaction.min_lag.count() > 0 && s.max_timestamp() != kNoTimestamp &&
                 s.max_timestamp() > now_ms - options_.compaction.min_lag.count();
    if (s.next_offset() > flushed || (s.next_offset() > state.first_dirty_offset && young)) {
      uncleanable = s.base_offset();
      break;
    }
  }
  state.first_uncleanable_offset = std::max(uncleanable, state.first_dirty_offset);
  bool overdue = false;
  for (const auto& s : segments) {
    if (s->base_offset() >= state.first_uncleanable_offset) break;
    if (s->next_offset() <= state.first_dirty_offset) {
      state.clean_bytes += s->size();
      continue;
    }
    state.dirty_bytes += s->size();
    if (options_.compaction.max_lag != std::chrono::milliseconds::max() && s->size() > 0) {
      absl::StatusOr<RecordBatchView> first = RecordBatchView::Parse(s->bytes(), Verify::kHeader);
      int64_t ts =
          first.ok() && !first->has_delete_horizon() ? first->base_timestamp() : s->max_timestamp();
      overdue =
          overdue || (ts != kNoTimestamp && ts < now_ms - options_.compaction.max_lag.count());
    }
  }
  uint64_t total = state.clean_bytes + state.dirty_bytes;
  state.dirty_ratio = total == 0 ? 0 : static_cast<double>(state.dirty_bytes) / total;
  state.due = compacting() && CheckWritable().ok() && state.dirty_bytes > 0 &&
              (state.dirty_ratio > options_.compaction.min_cleanable_dirty_ratio || overdue);
  return state;
}

CompactionState LogImpl::compaction_state() const {
  MutexLock l(&append_mu_);
  return ComputeCompactionState(*snapshot(), clock_->NowMs());
}

void LogImpl::StopCompaction() {
  compaction_stopped_.store(true, std::memory_order_release);
  cancel_compaction_.store(true, std::memory_order_release);
}

absl::StatusOr<CompactionResult> LogImpl::Compact(const CompactOptions& options, bool force) {
  if (!compacting()) {
    return absl::FailedPreconditionError(
        fmt::format("log {} does not compact: its cleanup_policy is delete", dir_));
  }
  MutexLock c(&compact_mu_);
  CompactionResult total;
  total.segments_before = static_cast<int>(snapshot()->segments.size());
  total.segments_after = total.segments_before;
  if (compaction_stopped_.load(std::memory_order_acquire)) return total;
  while (true) {
    bool more = false;
    BROOK_ASSIGN_OR_RETURN(CompactionResult pass, CompactPass(options, force, &more));
    total.passes += pass.passes;
    total.cleaned_to = pass.cleaned_to;
    total.bytes_read += pass.bytes_read;
    total.bytes_written += pass.bytes_written;
    total.records_removed += pass.records_removed;
    total.tombstones_removed += pass.tombstones_removed;
    total.keys = std::max(total.keys, pass.keys);
    total.throttled += pass.throttled;
    // CompactIfDue runs one pass; Compact runs until the offset map has covered everything
    // cleanable (each pass also recopies the clean section, so one pass is enough otherwise).
    if (!force || !more) break;
  }
  total.segments_after = static_cast<int>(snapshot()->segments.size());
  return total;
}

absl::StatusOr<CompactionResult> LogImpl::CompactPass(const CompactOptions& options, bool force,
                                                      bool* more) {
  // Sealed segments waiting for their fsync are synced first: compaction only replaces data
  // that is on disk.
  if (LeadFlush()) {
    absl::Status s = CheckWritable();
    if (s.ok()) s = SyncSealed(0);
    EndFlush();
    BROOK_RETURN_IF_ERROR(s);
  }
  storage::CompactionInput input;
  std::shared_ptr<const SegmentSet> before;
  int64_t truncations;
  int64_t uncleanable;
  CompactionResult result;
  {
    MutexLock l(&append_mu_);
    BROOK_RETURN_IF_ERROR(CheckWritable());
    before = snapshot();
    input.now_ms = clock_->NowMs();
    CompactionState state = ComputeCompactionState(*before, input.now_ms);
    result.cleaned_to = state.first_dirty_offset;
    uncleanable = state.first_uncleanable_offset;
    // On demand, the clean section is recopied too (tombstones past their horizon go, small
    // segments merge) even when nothing is dirty.
    if (!state.due && !(force && state.clean_bytes + state.dirty_bytes > 0)) return result;
    for (const auto& s : before->segments) {
      if (s->base_offset() >= state.first_uncleanable_offset) break;
      input.segments.push_back(s);
    }
    input.start_offset = start_offset();
    input.first_dirty = state.first_dirty_offset;
    for (const storage::ProducerEntry& e : producers_.Entries()) {
      if (e.last_batch() != nullptr)
        input.producer_last_offsets.push_back(e.last_batch()->last_offset);
    }
    std::sort(input.producer_last_offsets.begin(), input.producer_last_offsets.end());
    truncations = truncations_;
  }
  storage::OffsetMap map(options_.compaction.offset_map_bytes);
  input.config = segment_config_;
  input.map = &map;
  input.delete_retention_ms = options_.compaction.delete_retention.count();
  input.io_bytes_per_second = options_.compaction.io_bytes_per_second;
  input.progress = options.progress;
  input.cancel = &cancel_compaction_;
  absl::StatusOr<storage::CompactionPass> compacted = storage::CompactSegments(input);
  if (!compacted.ok()) {
    // Stopped for a truncation: not an error, a pass to do again.
    if (absl::IsCancelled(compacted.status())) return result;
    return compacted.status();
  }
  storage::CompactionPass& pass = *compacted;
  result.passes = 1;
  result.bytes_read = pass.bytes_read;
  result.bytes_written = pass.bytes_written;
  result.records_removed = pass.records_removed;
  result.tombstones_removed = pass.tombstones_removed;
  result.keys = pass.keys;
  result.throttled = pass.throttled;
  MutexLock l(&append_mu_);
  std::shared_ptr<const SegmentSet> now = snapshot();
  bool unchanged = truncations == truncations_ && now->segments.size() >= input.segments.size() &&
                   std::equal(input.segments.begin(), input.segments.end(), now->segments.begin());
  if (!unchanged || !CheckWritable().ok()) {
    // Truncated or trimmed by retention meanwhile: the output may hold what is gone.
    for (auto& group : pass.groups) group.segment->Remove().IgnoreError();
    result.passes = 0;
    return result;
  }
  BROOK_RETURN_IF_ERROR(ForgetCleanShutdownLocked());
  BROOK_RETURN_IF_ERROR(SwapIn(*now, &pass.groups));
  // The map filled before the end of what was cleanable: another pass has work.
  *more = pass.cleaned_to > first_dirty_ && pass.cleaned_to < uncleanable;
  if (pass.cleaned_to != first_dirty_) {
    first_dirty_ = pass.cleaned_to;
    absl::Status s = storage::WriteCheckpoint(fs_, dir_, kCleanerCheckpointFile, "cleaner-offset",
                                              {first_dirty_});
    // Not fatal: the next pass would just recompact what this one did.
    if (!s.ok()) Say(LogLevel::kWarning, fmt::format("log {}: cleaner checkpoint: {}", dir_, s));
  }
  result.cleaned_to = first_dirty_;
  return result;
}

absl::Status LogImpl::SwapIn(const SegmentSet& before, std::vector<storage::CleanedGroup>* groups) {
  if (groups->empty()) return absl::OkStatus();
  // Kafka's replaceSegments: `.cleaned` -> `.swap` (the commit point: recovery rolls a `.swap`
  // forward), then the old segments go, then `.swap` -> the live names.
  for (size_t i = 0; i < groups->size(); ++i) {
    absl::Status s = (*groups)[i].segment->Rename(storage::kSwapSuffix);
    if (!s.ok()) {
      // A `.swap` left behind would be rolled forward by a later Open over whatever the log
      // holds by then: its removal must be durable, or the log stops here.
      absl::Status cleanup;
      for (auto& group : *groups) {
        absl::Status r = group.segment->Remove();
        if (cleanup.ok() && !r.ok() && !absl::IsNotFound(r)) cleanup = r;
      }
      if (cleanup.ok()) cleanup = fs_->SyncDir(dir_);
      if (!cleanup.ok()) return Fail(cleanup);
      return s;
    }
  }
  absl::Status s = fs_->SyncDir(dir_);
  if (!s.ok()) return Fail(s);  // some `.swap` may be durable: a reopen finishes them
  auto after = std::make_shared<SegmentSet>();
  size_t next = 0;
  for (auto& group : *groups) {
    for (; next < group.first; ++next) after->segments.push_back(before.segments[next]);
    after->segments.push_back(std::shared_ptr<Segment>(std::move(group.segment)));
    next = group.first + group.count;
  }
  for (; next < before.segments.size(); ++next) after->segments.push_back(before.segments[next]);
  std::shared_ptr<const SegmentSet> published = after;
  Publish(std::move(after));
  // Readers holding the old set keep the old mappings. The first segment of each group is
  // replaced by the rename; the others are unlinked.
  for (const auto& group : *groups) {
    for (size_t i = group.first + 1; i < group.first + group.count && s.ok(); ++i) {
      s = before.segments[i]->Remove();
    }
  }
  for (const auto& segment : published->segments) {
    if (s.ok() && segment->suffix() == storage::kSwapSuffix) s = segment->Rename("");
  }
  if (s.ok()) s = fs_->SyncDir(dir_);
  if (!s.ok()) return Fail(s);
  RemoveStraySnapshots(end_offset_.load(std::memory_order_relaxed));
  return absl::OkStatus();
}

std::vector<SegmentInfo> LogImpl::Segments() const {
  std::shared_ptr<const SegmentSet> set = snapshot();
  std::vector<SegmentInfo> infos;
  bool closed = closed_.load(std::memory_order_acquire);
  for (size_t i = 0; i < set->segments.size(); ++i) {
    infos.push_back(set->segments[i]->Info(!closed && i + 1 == set->segments.size()));
  }
  return infos;
}

}  // namespace detail

Log::Log(std::unique_ptr<detail::LogImpl> impl) : impl_(std::move(impl)) {}
Log::~Log() = default;

absl::StatusOr<std::unique_ptr<Log>> Log::Open(const std::string& dir, LogOptions options) {
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<detail::LogImpl> impl,
                         detail::LogImpl::Open(dir, std::move(options)));
  return std::unique_ptr<Log>(new Log(std::move(impl)));
}

absl::StatusOr<AppendResult> Log::Append(std::span<const std::byte> batch, AppendOptions options) {
  return impl_->Append(batch, options);
}
absl::StatusOr<ReadResult> Log::Read(int64_t offset, ReadOptions options) const {
  return impl_->Read(offset, options);
}
absl::StatusOr<int64_t> Log::OffsetForTimestamp(int64_t timestamp_ms) const {
  return impl_->OffsetForTimestamp(timestamp_ms);
}
absl::Status Log::WaitForAppend(int64_t offset,
                                std::chrono::steady_clock::time_point deadline) const {
  return impl_->WaitForAppend(offset, deadline);
}
int64_t Log::start_offset() const { return impl_->start_offset(); }
int64_t Log::end_offset() const { return impl_->end_offset(); }
int64_t Log::truncations() const { return impl_->truncations(); }
int64_t Log::flushed_offset() const { return impl_->flushed_offset(); }
absl::Status Log::Flush() { return impl_->Flush(); }
absl::StatusOr<int64_t> Log::TruncateTo(int64_t offset) { return impl_->TruncateTo(offset); }
absl::Status Log::DeleteRecordsBefore(int64_t offset) { return impl_->DeleteRecordsBefore(offset); }
absl::StatusOr<int> Log::EnforceRetention() { return impl_->EnforceRetention(); }
absl::Status Log::Tick() { return impl_->Tick(); }
absl::Status Log::Close() { return impl_->Close(); }
std::vector<SegmentInfo> Log::Segments() const { return impl_->Segments(); }
const RecoverySummary& Log::recovery_summary() const { return impl_->recovery_summary(); }
const std::string& Log::dir() const { return impl_->dir(); }
absl::StatusOr<ProducerIdentity> Log::InitProducer(std::optional<ProducerIdentity> previous) {
  return impl_->InitProducer(previous);
}
std::vector<ProducerInfo> Log::Producers() const { return impl_->Producers(); }
absl::StatusOr<CompactionResult> Log::Compact(CompactOptions options) {
  return impl_->Compact(options, /*force=*/true);
}
absl::StatusOr<CompactionResult> Log::CompactIfDue() {
  return impl_->Compact(CompactOptions{}, /*force=*/false);
}
CompactionState Log::compaction_state() const { return impl_->compaction_state(); }
void Log::StopCompaction() { impl_->StopCompaction(); }
absl::Status Log::health() const { return impl_->health(); }

}  // namespace brook
