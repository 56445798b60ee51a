#include "brook/broker.h"

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <thread>

#include "broker/topic_registry.h"
#include "brook/log_cleaner.h"
#include "brook/status.h"
#include "fmt/format.h"
#include "fs/fd_limited_file_system.h"
#include "group/group_coordinator.h"
#include "storage/producer_id_allocator.h"
#include "util/format.h"
#include "util/mutex.h"
#include "util/status_macros.h"

namespace brook {

inline constexpr char kOffsetsTopic[] = "__consumer_offsets";

namespace detail {
namespace {

using storage::kBrokerLockFile;
// Threads that open partitions on Broker::Open (they mostly wait on fsyncs; 16 measured 10-15%
// faster than 8 and no slower than 32 on the 2-vCPU VM of docs/benchmarks.md).
constexpr size_t kOpenThreads = 16;

// "orders-12" -> {"orders", 12}.
std::optional<std::pair<std::string, int32_t>> ParsePartitionDir(std::string_view name) {
  size_t dash = name.rfind('-');
  if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) return std::nullopt;
  int32_t p = 0;
  const char* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(name.data() + dash + 1, end, p);
  if (ec != std::errc() || ptr != end || p < 0) return std::nullopt;
  return std::make_pair(std::string(name.substr(0, dash)), p);
}

// Removes a partition's log directory. brook.meta goes last, so a directory interrupted half way
// still reads as a brook log and is removed again as an orphan by the next Open.
absl::Status RemoveTree(FileSystem* fs, const std::string& path) {
  BROOK_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->ListDir(path));
  std::stable_partition(names.begin(), names.end(),
                        [](const std::string& n) { return n != "brook.meta"; });
  for (const std::string& n : names) {
    absl::Status s = fs->Remove(path + "/" + n);
    if (!s.ok() && !absl::IsNotFound(s)) return s;
  }
  return fs->RemoveDir(path);
}

// Half the soft limit on open files, leaving the rest to the application; at least 64.
size_t DefaultMaxOpenFiles() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return std::max<size_t>(64, static_cast<size_t>(limit.rlim_cur / 2));
}

}  // namespace

class BrokerImpl {
 public:
  BrokerImpl(std::string dir, BrokerOptions options)
      : dir_(std::move(dir)),
        options_(std::move(options)),
        limited_fs_(std::make_shared<fs::FdLimitedFileSystem>(
            options_.file_system != nullptr ? options_.file_system : FileSystem::Default(),
            options_.max_open_files != 0 ? options_.max_open_files : DefaultMaxOpenFiles())),
        fs_(limited_fs_.get()),
        clock_(options_.clock != nullptr ? options_.clock : Clock::Real()) {
    if (!options_.logger) {
      options_.logger = [](LogLevel level, std::string_view message) {
        if (level != LogLevel::kInfo) fmt::print(stderr, "brook: {}\n", message);
      };
    }
  }

  ~BrokerImpl() {
    absl::Status s = Close();
    if (!s.ok()) Say(LogLevel::kError, fmt::format("closing broker {}: {}", dir_, s));
  }

  absl::Status Open();
  // FailedPrecondition when dir_ holds anything but a lock file and a half-written registry:
  // without a registry, it is someone else's directory, not a broker's to take over.
  absl::Status CheckEmptyOfOthers();
  // The error for a directory whose lock another Broker or process holds (`lock` says which).
  absl::Status InUse(const absl::Status& lock) const;
  absl::Status CreateTopic(const std::string& name, TopicConfig config, bool internal);
  absl::Status DeleteTopic(const std::string& name);
  absl::Status AddPartitions(const std::string& name, int32_t total);
  absl::StatusOr<std::shared_ptr<Topic>> GetTopic(const std::string& name) const;
  absl::StatusOr<std::shared_ptr<Topic>> GetOrCreateTopic(const std::string& name);
  absl::StatusOr<TopicDescription> DescribeTopic(const std::string& name) const;
  std::vector<std::string> ListTopics(bool include_internal) const;
  absl::StatusOr<GroupDescription> DescribeGroup(const std::string& group_id) const;
  absl::Status Tick();
  absl::StatusOr<bool> CompactStep() { return cleaner_->RunOnce(); }
  absl::Status Close();

  const std::string& dir() const { return dir_; }
  const BrokerOptions& options() const { return options_; }
  Clock* clock() const { return clock_; }
  GroupCoordinator& coordinator() { return *coordinator_; }
  absl::StatusOr<int64_t> AllocateProducerId() { return producer_ids_->Allocate(); }

 private:
  void Say(LogLevel level, std::string_view message) const { options_.logger(level, message); }
  std::string PartitionDir(const std::string& topic, int32_t p) const {
    return fmt::format("{}/{}-{}", dir_, topic, p);
  }
  absl::StatusOr<std::shared_ptr<Partition>> OpenPartition(const std::string& topic, int32_t p,
                                                           const TopicConfig& config, bool create);
  absl::Status WriteRegistryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(topics_mu_);
  // After a registry write failed with `cause`, with topics_ put back as it was: the failed
  // write may have replaced the file before failing (its directory sync, say), so write topics_
  // again. True if the registry on disk now matches topics_; otherwise registry_failed_ is set
  // and admin changes are refused, since what a reopen would find is not known.
  bool RestoreRegistryLocked(const absl::Status& cause)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_, topics_mu_);
  // Marks the topic and its partitions deleted (every call on them fails), stops their cleaning
  // and closes their logs. Their directories stay.
  void TakeOutOfService(const std::string& name, Topic& topic);
  // FailedPrecondition once the registry could not be restored.
  absl::Status CheckRegistry() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(admin_mu_);
  absl::Status RemoveOrphans(const broker::TopicRegistry& registry);
  struct OpenTask {
    const std::string* topic;
    const TopicConfig* config;
    int32_t partition;
    std::shared_ptr<Partition>* out;
  };
  // Opens (or creates) the partitions of `tasks` on a few threads; all or nothing.
  absl::Status OpenPartitions(std::vector<OpenTask>& tasks, bool create);
  absl::StatusOr<std::vector<std::shared_ptr<Partition>>> OpenRange(const std::string& topic,
                                                                    const TopicConfig& config,
                                                                    int32_t from, int32_t to,
                                                                    bool create);
  absl::Status OpenAllPartitions(const broker::TopicRegistry& registry);
  void StartBackground();
  void StopBackground();
  void TickerLoop();
  // One partition's share of Tick(): Log::Tick, then a wake-up for readers of a flushed-only
  // partition whose high watermark moved. Errors are logged and returned.
  absl::Status TickPartition(Partition& p);
  // A partition's log has sealed segments to sync: the ticker syncs them soon
  // (LogOptions::on_unsynced_segments).
  void SyncSoon(std::weak_ptr<Partition> p) ABSL_LOCKS_EXCLUDED(ticker_mu_);

  const std::string dir_;
  BrokerOptions options_;
  // Every file goes through it; shared with the Files, which may outlive the Broker.
  const std::shared_ptr<fs::FdLimitedFileSystem> limited_fs_;
  FileSystem* const fs_;
  Clock* const clock_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<storage::ProducerIdAllocator> producer_ids_;
  std::unique_ptr<LogCleaner> cleaner_;
  std::unique_ptr<GroupCoordinator> coordinator_;

  // Serializes topic creation, deletion and partition additions (registry writes).
  Mutex admin_mu_ ABSL_ACQUIRED_BEFORE(topics_mu_);
  absl::Status registry_failed_ ABSL_GUARDED_BY(admin_mu_);
  mutable Mutex topics_mu_;
  std::map<std::string, std::shared_ptr<Topic>> topics_ ABSL_GUARDED_BY(topics_mu_);

  // Logs a tick's error for `what` (a partition, the group coordinator) once, not at every tick
  // while it lasts; an OK status forgets it, so a new failure is logged again.
  void ReportTickError(const std::string& what, const absl::Status& s);
  Mutex tick_errors_mu_;
  std::map<std::string, std::string> tick_errors_ ABSL_GUARDED_BY(tick_errors_mu_);

  Mutex ticker_mu_;
  CondVar ticker_cv_;
  bool stopping_ ABSL_GUARDED_BY(ticker_mu_) = false;
  // Partitions whose logs asked for a sync since the ticker last looked, each once.
  std::vector<std::weak_ptr<Partition>> rolled_ ABSL_GUARDED_BY(ticker_mu_);
  std::thread ticker_;
  bool cleaner_thread_ = false;
  bool closed_ = false;
};

absl::StatusOr<std::shared_ptr<Partition>> BrokerImpl::OpenPartition(const std::string& topic,
                                                                     int32_t p,
                                                                     const TopicConfig& config,
                                                                     bool create) {
  LogOptions log_options = config.ToLogOptions();
  log_options.file_system = fs_;
  log_options.clock = clock_;
  log_options.logger = options_.logger;
  log_options.create_if_missing = create;
  log_options.lock_directory = false;  // the Broker's lock covers its partitions
  // The partition does not exist yet when its log is opened; it is filled in before the
  // partition is published, so before any append can roll the log. `this` outlives every call:
  // each log a Broker opens is closed (no more appends, so no more rolls) before it goes.
  auto self = std::make_shared<std::weak_ptr<Partition>>();
  if (options_.background_threads > 0) {
    log_options.on_unsynced_segments = [this, self] { SyncSoon(*self); };
  }
  std::string path = PartitionDir(topic, p);
  if (create) {
    // A new partition starts empty: whatever a failed deletion left here is not its data.
    BROOK_ASSIGN_OR_RETURN(bool exists, fs_->Exists(path));
    if (exists) BROOK_RETURN_IF_ERROR(RemoveTree(fs_, path));
  }
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(path, log_options);
  if (!log.ok()) {
    return absl::Status(log.status().code(),
                        fmt::format("partition {}-{}: {}", topic, p, log.status().message()));
  }
  auto partition = std::make_shared<Partition>(TopicPartition{topic, p}, std::move(*log),
                                               config.flushed_reads_only);
  *self = partition;
  if (config.cleanup_policy != CleanupPolicy::kDelete) cleaner_->Add(&partition->log());
  return partition;
}

absl::Status BrokerImpl::InUse(const absl::Status& lock) const {
  return absl::FailedPreconditionError(
      fmt::format("broker directory {} is in use by another Broker or process: {}", dir_, lock));
}

absl::Status BrokerImpl::CheckEmptyOfOthers() {
  BROOK_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  for (const std::string& n : names) {
    if (n != kBrokerLockFile && n != std::string(broker::kRegistryFile) + ".tmp") {
      return absl::FailedPreconditionError(
          fmt::format("{} is not a brook broker directory: it holds '{}' but no topic registry; "
                      "refusing to touch it",
                      dir_, n));
    }
  }
  return absl::OkStatus();
}

absl::Status BrokerImpl::Open() {
  BROOK_RETURN_IF_ERROR(options_.Validate());
  BROOK_ASSIGN_OR_RETURN(bool exists, fs_->Exists(dir_));
  if (!exists) {
    if (!options_.create_if_missing) {
      return absl::NotFoundError(fmt::format("broker directory {} does not exist", dir_));
    }
    BROOK_RETURN_IF_ERROR(fs_->CreateDirs(dir_));
  }
  // Checked before the lock file goes in, so that a refused directory is left as it was; checked
  // again under the lock below.
  BROOK_ASSIGN_OR_RETURN(bool registered,
                         fs_->Exists(dir_ + "/" + std::string(broker::kRegistryFile)));
  if (!registered) {
    if (!options_.create_if_missing) {
      // A Broker creating the directory right now holds its lock: that is "in use", not "not a
      // broker directory". The lock file is only opened if it is there already.
      BROOK_ASSIGN_OR_RETURN(bool locked_before, fs_->Exists(dir_ + "/" + kBrokerLockFile));
      if (locked_before) {
        absl::StatusOr<std::unique_ptr<FileLock>> lock = fs_->Lock(dir_ + "/" + kBrokerLockFile);
        if (absl::IsFailedPrecondition(lock.status())) return InUse(lock.status());
      }
      return absl::NotFoundError(fmt::format(
          "{} is not a broker directory (it has no topic registry); create_if_missing makes one",
          dir_));
    }
    BROOK_RETURN_IF_ERROR(CheckEmptyOfOthers());
  }
  absl::StatusOr<std::unique_ptr<FileLock>> lock = fs_->Lock(dir_ + "/" + kBrokerLockFile);
  if (absl::IsFailedPrecondition(lock.status())) return InUse(lock.status());
  if (!lock.ok()) {  // no permission, a read-only file system, ...: said as it is
    return Annotate(lock.status(), fmt::format("locking broker directory {}", dir_));
  }
  lock_ = std::move(*lock);

  absl::StatusOr<broker::TopicRegistry> registry = broker::ReadTopicRegistry(fs_, dir_);
  bool fresh = false;
  if (absl::IsNotFound(registry.status())) {
    if (!options_.create_if_missing) {
      return absl::NotFoundError(fmt::format(
          "{} is not a broker directory (it has no topic registry); create_if_missing makes one",
          dir_));
    }
    BROOK_RETURN_IF_ERROR(CheckEmptyOfOthers());
    registry = broker::TopicRegistry{};
    fresh = true;
  }
  BROOK_RETURN_IF_ERROR(registry.status());
  BROOK_ASSIGN_OR_RETURN(producer_ids_, storage::ProducerIdAllocator::Open(fs_, dir_));
  cleaner_ = std::make_unique<LogCleaner>(
      LogCleanerOptions{.backoff = options_.cleaner_backoff, .logger = options_.logger});

  BROOK_RETURN_IF_ERROR(RemoveOrphans(*registry));
  BROOK_RETURN_IF_ERROR(OpenAllPartitions(*registry));
  if (fresh) BROOK_RETURN_IF_ERROR(broker::WriteTopicRegistry(fs_, dir_, {}));
  if (!registry->contains(kOffsetsTopic)) {
    TopicConfig offsets;
    offsets.partitions = options_.offsets_topic_partitions;
    offsets.cleanup_policy = CleanupPolicy::kCompact;
    offsets.segment_bytes_max = options_.offsets_topic_segment_bytes;
    offsets.segment_index_bytes = uint64_t{64} << 10;
    // A commit is one batch: room for the offsets of ~100k partitions.
    offsets.batch_bytes_max =
        static_cast<uint32_t>(std::min<uint64_t>(uint64_t{8} << 20, offsets.segment_bytes_max));
    BROOK_RETURN_IF_ERROR(CreateTopic(kOffsetsTopic, offsets, /*internal=*/true));
  }
  BROOK_ASSIGN_OR_RETURN(std::shared_ptr<Topic> offsets_topic, GetTopic(kOffsetsTopic));

  CoordinatorOptions coordinator_options;
  coordinator_options.min_session_timeout = options_.group_min_session_timeout;
  coordinator_options.max_session_timeout = options_.group_max_session_timeout;
  coordinator_options.initial_rebalance_delay = options_.group_initial_rebalance_delay;
  coordinator_options.offsets_retention = options_.offsets_retention;
  coordinator_options.commit_durability = options_.offsets_commit_durability;
  coordinator_options.clock = clock_;
  coordinator_options.logger = options_.logger;
  coordinator_options.offsets_partitions = offsets_topic->partitions();
  auto counts_of = [this](const std::vector<std::string>& names, bool internal) {
    std::map<std::string, int32_t> counts;
    MutexLock l(&topics_mu_);
    for (const std::string& n : names) {
      auto it = topics_.find(n);
      if (it != topics_.end() && (internal || !it->second->internal())) {
        counts[n] = it->second->partition_count();
      }
    }
    return counts;
  };
  coordinator_options.partition_counts = [counts_of](const std::vector<std::string>& names) {
    return counts_of(names, /*internal=*/false);
  };
  coordinator_options.existing_partitions = [counts_of](const std::vector<std::string>& names) {
    return counts_of(names, /*internal=*/true);
  };
  coordinator_ = std::make_unique<GroupCoordinator>(std::move(coordinator_options));
  BROOK_RETURN_IF_ERROR(coordinator_->Load());
  BROOK_RETURN_IF_ERROR(coordinator_->DeleteOffsetsOfMissingTopics());
  BROOK_RETURN_IF_ERROR(
      coordinator_->ClampOffsetsPastEnd([this](const TopicPartition& tp) -> std::optional<int64_t> {
        absl::StatusOr<std::shared_ptr<Topic>> topic = GetTopic(tp.topic);
        if (!topic.ok()) return std::nullopt;
        std::shared_ptr<Partition> p = (*topic)->partition(tp.partition);
        // After a clean shutdown nothing was lost: a commit past the end is the committer's
        // own doing, and the consumer's auto_offset_reset decides, as in Kafka.
        if (p == nullptr || p->log().recovery_summary().clean_shutdown) return std::nullopt;
        return p->end_offset();
      }));
  StartBackground();
  return absl::OkStatus();
}

absl::Status BrokerImpl::OpenPartitions(std::vector<OpenTask>& tasks, bool create) {
  // Opening a log is mostly waiting (directory fsyncs, file opens), so a few threads overlap it.
  std::atomic<size_t> next{0};
  Mutex error_mu;
  absl::Status first_error;
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < tasks.size(); i = next.fetch_add(1)) {
      OpenTask& t = tasks[i];
      absl::StatusOr<std::shared_ptr<Partition>> partition =
          OpenPartition(*t.topic, t.partition, *t.config, create);
      if (partition.ok()) {
        *t.out = std::move(*partition);
      } else {
        MutexLock l(&error_mu);
        if (first_error.ok()) first_error = partition.status();
      }
    }
  };
  std::vector<std::thread> threads;
  size_t thread_count = std::min<size_t>(kOpenThreads, tasks.size());
  for (size_t i = 1; i < thread_count; ++i) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  if (first_error.ok()) return first_error;
  for (OpenTask& t : tasks) {  // all or nothing
    if (*t.out == nullptr) continue;
    cleaner_->Remove(&(*t.out)->log());
    (void)(*t.out)->log().Close();
    if (create) (void)RemoveTree(fs_, (*t.out)->log().dir());
    t.out->reset();
  }
  return first_error;
}

absl::StatusOr<std::vector<std::shared_ptr<Partition>>> BrokerImpl::OpenRange(
    const std::string& topic, const TopicConfig& config, int32_t from, int32_t to, bool create) {
  std::vector<std::shared_ptr<Partition>> partitions(static_cast<size_t>(to - from));
  std::vector<OpenTask> tasks;
  for (int32_t p = from; p < to; ++p) {
    tasks.push_back({&topic, &config, p, &partitions[static_cast<size_t>(p - from)]});
  }
  BROOK_RETURN_IF_ERROR(OpenPartitions(tasks, create));
  return partitions;
}

absl::Status BrokerImpl::OpenAllPartitions(const broker::TopicRegistry& registry) {
  std::map<std::string, std::vector<std::shared_ptr<Partition>>> opened;
  std::vector<OpenTask> tasks;
  for (const auto& [name, entry] : registry) {
    auto& slots = opened[name];
    slots.resize(static_cast<size_t>(entry.config.partitions));
    for (int32_t p = 0; p < entry.config.partitions; ++p) {
      tasks.push_back({&name, &entry.config, p, &slots[static_cast<size_t>(p)]});
    }
  }
  BROOK_RETURN_IF_ERROR(OpenPartitions(tasks, /*create=*/false));
  MutexLock l(&topics_mu_);
  for (auto& [name, slots] : opened) {
    const broker::RegisteredTopic& entry = registry.at(name);
    auto topic = std::make_shared<Topic>(name, entry.config, entry.internal);
    topic->AddPartitions(std::move(slots));
    topics_.emplace(name, std::move(topic));
  }
  return absl::OkStatus();
}

absl::Status BrokerImpl::RemoveOrphans(const broker::TopicRegistry& registry) {
  BROOK_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  for (const std::string& n : names) {
    std::optional<std::pair<std::string, int32_t>> parsed = ParsePartitionDir(n);
    if (!parsed) continue;
    auto it = registry.find(parsed->first);
    if (it != registry.end() && parsed->second < it->second.config.partitions) continue;
    // A topic deleted (or a creation not finished) before a crash.
    BROOK_ASSIGN_OR_RETURN(bool is_log, fs_->Exists(dir_ + "/" + n + "/brook.meta"));
    if (!is_log) continue;
    Say(LogLevel::kInfo, fmt::format("removing {}/{}: not in the topic registry", dir_, n));
    BROOK_RETURN_IF_ERROR(RemoveTree(fs_, dir_ + "/" + n));
  }
  return fs_->SyncDir(dir_);
}

absl::Status BrokerImpl::WriteRegistryLocked() {
  broker::TopicRegistry registry;
  for (const auto& [name, topic] : topics_) {
    registry[name] = broker::RegisteredTopic{topic->config(), topic->internal()};
  }
  return broker::WriteTopicRegistry(fs_, dir_, registry);
}

bool BrokerImpl::RestoreRegistryLocked(const absl::Status& cause) {
  absl::Status s = WriteRegistryLocked();
  if (s.ok()) return true;
  registry_failed_ = absl::FailedPreconditionError(fmt::format(
      "the topic registry in {} could not be written ({}), nor restored ({}): what a reopen "
      "finds is not known, so topics are no longer created, deleted or grown; reopen the broker",
      dir_, cause.message(), s.message()));
  Say(LogLevel::kError, std::string(registry_failed_.message()));
  return false;
}

absl::Status BrokerImpl::CheckRegistry() const { return registry_failed_; }

absl::Status BrokerImpl::CreateTopic(const std::string& name, TopicConfig config, bool internal) {
  if (closed_) return absl::FailedPreconditionError("broker is closed");
  if (!internal) {
    BROOK_RETURN_IF_ERROR(broker::ValidateTopicName(name));
    if (name.starts_with("__")) {
      return WithErrorCode(absl::InvalidArgumentError(fmt::format(
                               "topic name '{}': names starting with '__' are reserved", name)),
                           ErrorCode::kInvalidTopicException);
    }
  }
  if (absl::Status s = config.Validate(); !s.ok()) {
    return WithErrorCode(absl::InvalidArgumentError(fmt::format("topic {}: {}", name, s.message())),
                         ErrorCode::kInvalidConfig);
  }
  MutexLock admin(&admin_mu_);
  BROOK_RETURN_IF_ERROR(CheckRegistry());
  {
    MutexLock l(&topics_mu_);
    if (topics_.contains(name)) {
      return WithErrorCode(absl::AlreadyExistsError(fmt::format("topic {} already exists", name)),
                           ErrorCode::kTopicAlreadyExists);
    }
  }
  // The partitions first, then the registry: a crash in between leaves directories that the
  // next Open removes as orphans.
  auto topic = std::make_shared<Topic>(name, config, internal);
  BROOK_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<Partition>> partitions,
                         OpenRange(name, config, 0, config.partitions, /*create=*/true));
  topic->AddPartitions(std::move(partitions));
  MutexLock l(&topics_mu_);
  topics_.emplace(name, topic);
  absl::Status s = WriteRegistryLocked();
  if (!s.ok()) {
    topics_.erase(name);
    topic->MarkDeleted();
    for (auto& p : topic->partitions()) {
      cleaner_->Remove(&p->log());
      (void)p->log().Close();
    }
    // Restored or not, the directories stay: the next Open removes them as orphans unless the
    // registry it finds lists the topic after all.
    RestoreRegistryLocked(s);
    return s;
  }
  return absl::OkStatus();
}

absl::Status BrokerImpl::DeleteTopic(const std::string& name) {
  if (closed_) return absl::FailedPreconditionError("broker is closed");
  MutexLock admin(&admin_mu_);
  std::shared_ptr<Topic> topic;
  absl::Status failed;
  {
    MutexLock l(&topics_mu_);
    auto it = topics_.find(name);
    if (it == topics_.end()) {
      return WithErrorCode(absl::NotFoundError(fmt::format("topic {} does not exist", name)),
                           ErrorCode::kUnknownTopicOrPartition);
    }
    if (it->second->internal()) {
      return absl::InvalidArgumentError(fmt::format("topic {} is internal", name));
    }
    BROOK_RETURN_IF_ERROR(CheckRegistry());
    topic = it->second;
    topics_.erase(it);
    absl::Status s = WriteRegistryLocked();
    if (!s.ok()) {
      topics_.emplace(name, topic);
      if (RestoreRegistryLocked(s)) return s;  // the topic stays, on disk as in memory
      // Neither the deletion nor its undo is known to be on disk, so a reopen may or may not
      // find the topic. Its data stays for the case it does; it takes no more records, which a
      // reopen not finding it would remove with its directories.
      topics_.erase(name);
      failed = s;
    }
  }
  TakeOutOfService(name, *topic);
  if (!failed.ok()) return failed;
  // The registry no longer lists it: from here a crash leaves orphans the next Open removes.
  absl::Status first;
  for (const std::shared_ptr<Partition>& p : topic->partitions()) {
    absl::Status s = RemoveTree(fs_, p->log().dir());
    if (!s.ok() && first.ok()) first = s;
  }
  absl::Status synced = fs_->SyncDir(dir_);
  if (first.ok()) first = synced;
  // Committed offsets of the topic go too, as in Kafka.
  absl::Status offsets = coordinator_->DeleteTopicOffsets(name);
  return first.ok() ? offsets : first;
}

void BrokerImpl::TakeOutOfService(const std::string& name, Topic& topic) {
  topic.MarkDeleted();
  for (const std::shared_ptr<Partition>& p : topic.partitions()) {
    p->MarkDeleted();
    p->log().StopCompaction();  // rather than wait out a pass on data about to go
    cleaner_->Remove(&p->log());
    absl::Status closed = p->log().Close();
    if (!closed.ok()) {
      Say(LogLevel::kWarning,
          fmt::format("deleting topic {}: closing {}: {}", name, p->log().dir(), closed));
    }
    p->NotifyWaiters();
  }
}

absl::Status BrokerImpl::AddPartitions(const std::string& name, int32_t total) {
  if (closed_) return absl::FailedPreconditionError("broker is closed");
  MutexLock admin(&admin_mu_);
  BROOK_RETURN_IF_ERROR(CheckRegistry());
  BROOK_ASSIGN_OR_RETURN(std::shared_ptr<Topic> topic, GetTopic(name));
  if (topic->internal()) {
    return absl::InvalidArgumentError(fmt::format("topic {} is internal", name));
  }
  int32_t current = topic->partition_count();
  if (total <= current) {
    return WithErrorCode(
        absl::InvalidArgumentError(fmt::format(
            "topic {} has {} partitions; it can only grow, not to {}", name, current, total)),
        ErrorCode::kInvalidPartitions);
  }
  TopicConfig config = topic->config();
  config.partitions = total;
  if (absl::Status s = config.Validate(); !s.ok()) {
    return WithErrorCode(s, ErrorCode::kInvalidPartitions);
  }
  BROOK_ASSIGN_OR_RETURN(std::vector<std::shared_ptr<Partition>> added,
                         OpenRange(name, config, current, total, /*create=*/true));
  // The registry first: partitions are used (and acknowledge records) only once they would
  // survive a crash.
  MutexLock l(&topics_mu_);
  broker::TopicRegistry registry;
  for (const auto& [n, t] : topics_) {
    registry[n] = broker::RegisteredTopic{n == name ? config : t->config(), t->internal()};
  }
  if (absl::Status s = broker::WriteTopicRegistry(fs_, dir_, registry); !s.ok()) {
    // The new partitions' directories go only once the registry is known not to list them:
    // a registry listing partitions whose directories are gone would not open.
    const bool restored = RestoreRegistryLocked(s);
    for (auto& opened : added) {
      cleaner_->Remove(&opened->log());
      (void)opened->log().Close();
      if (restored) (void)RemoveTree(fs_, opened->log().dir());
    }
    return s;
  }
  topic->AddPartitions(std::move(added));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<Topic>> BrokerImpl::GetTopic(const std::string& name) const {
  MutexLock l(&topics_mu_);
  auto it = topics_.find(name);
  if (it == topics_.end()) {
    return WithErrorCode(absl::NotFoundError(fmt::format("topic {} does not exist", name)),
                         ErrorCode::kUnknownTopicOrPartition);
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<Topic>> BrokerImpl::GetOrCreateTopic(const std::string& name) {
  absl::StatusOr<std::shared_ptr<Topic>> topic = GetTopic(name);
  if (topic.ok() || !absl::IsNotFound(topic.status()) || !options_.auto_create_topics) {
    return topic;
  }
  absl::Status s = CreateTopic(name, options_.default_topic_config, /*internal=*/false);
  if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
  return GetTopic(name);
}

absl::StatusOr<TopicDescription> BrokerImpl::DescribeTopic(const std::string& name) const {
  BROOK_ASSIGN_OR_RETURN(std::shared_ptr<Topic> topic, GetTopic(name));
  TopicDescription d;
  d.name = name;
  d.config = topic->config();
  d.internal = topic->internal();
  for (const std::shared_ptr<Partition>& p : topic->partitions()) {
    PartitionDescription pd;
    pd.partition = p->id().partition;
    pd.start_offset = p->start_offset();
    pd.end_offset = p->end_offset();
    pd.high_watermark = p->high_watermark();
    pd.flushed_offset = p->log().flushed_offset();
    pd.leader_epoch = p->leader_epoch();
    for (const SegmentInfo& s : p->log().Segments()) {
      pd.size_bytes += s.size_bytes;
      ++pd.segments;
    }
    d.partitions.push_back(pd);
  }
  return d;
}

std::vector<std::string> BrokerImpl::ListTopics(bool include_internal) const {
  std::vector<std::string> names;
  MutexLock l(&topics_mu_);
  for (const auto& [name, topic] : topics_) {
    if (include_internal || !topic->internal()) names.push_back(name);
  }
  return names;
}

absl::StatusOr<GroupDescription> BrokerImpl::DescribeGroup(const std::string& group_id) const {
  BROOK_ASSIGN_OR_RETURN(GroupDescription d, coordinator_->DescribeGroup(group_id));
  for (GroupOffset& o : d.offsets) {
    absl::StatusOr<std::shared_ptr<Topic>> topic = GetTopic(o.partition.topic);
    std::shared_ptr<Partition> p =
        topic.ok() ? (*topic)->partition(o.partition.partition) : nullptr;
    if (p == nullptr) continue;
    o.end_offset = p->high_watermark();
    o.lag = std::max<int64_t>(0, o.end_offset - o.committed_offset);
  }
  return d;
}

absl::Status BrokerImpl::Tick() {
  // The group coordinator first: session timeouts should not wait behind every partition's
  // fsyncs.
  absl::Status first = coordinator_->Step();
  ReportTickError("group coordinator", first);
  std::vector<std::shared_ptr<Topic>> topics;
  {
    MutexLock l(&topics_mu_);
    for (const auto& [name, topic] : topics_) topics.push_back(topic);
  }
  for (const std::shared_ptr<Topic>& topic : topics) {
    for (const std::shared_ptr<Partition>& p : topic->partitions()) {
      absl::Status s = TickPartition(*p);
      if (first.ok()) first = s;
    }
  }
  return first;
}

absl::Status BrokerImpl::TickPartition(Partition& p) {
  int64_t before = p.high_watermark();
  absl::Status s = p.log().Tick();
  if (s.ok() && p.flushed_reads_only() && p.log().flushed_offset() < p.log().end_offset()) {
    // Its consumers see only flushed records: whatever its flush policy (the OS's, or a count
    // a quiet partition never reaches), they wait at most a tick for them.
    s = p.log().Flush();
  }
  ReportTickError(fmt::format("partition {}-{}", p.id().topic, p.id().partition), s);
  if (p.flushed_reads_only() && p.high_watermark() != before) p.NotifyWaiters();
  return s;
}

void BrokerImpl::ReportTickError(const std::string& what, const absl::Status& s) {
  {
    MutexLock l(&tick_errors_mu_);
    if (s.ok()) {
      tick_errors_.erase(what);
      return;
    }
    std::string& last = tick_errors_[what];
    if (last == s.ToString()) return;  // said already: a failed log stays failed
    last = s.ToString();
  }
  Say(LogLevel::kError, fmt::format("tick of {}: {}", what, s));
}

void BrokerImpl::SyncSoon(std::weak_ptr<Partition> p) {
  MutexLock l(&ticker_mu_);
  for (const std::weak_ptr<Partition>& q : rolled_) {
    if (!q.owner_before(p) && !p.owner_before(q)) return;  // already waiting
  }
  rolled_.push_back(std::move(p));
  ticker_cv_.SignalAll();
}

void BrokerImpl::StartBackground() {
  if (options_.background_threads <= 0) return;
  if (options_.background_threads >= 2) {
    cleaner_->Start();
    cleaner_thread_ = true;
  }
  ticker_ = std::thread([this] { TickerLoop(); });
}

void BrokerImpl::TickerLoop() {
  auto next = std::chrono::steady_clock::now() + options_.tick_interval;
  while (true) {
    std::vector<std::weak_ptr<Partition>> rolled;
    {
      MutexLock l(&ticker_mu_);
      while (!stopping_ && rolled_.empty()) {
        auto now = std::chrono::steady_clock::now();
        if (now >= next) break;
        ticker_cv_.WaitWithTimeout(&ticker_mu_, next - now);
      }
      if (stopping_) return;
      rolled.swap(rolled_);
    }
    // Sealed segments a log asked to have synced are synced now, off the appending thread: left
    // for the next tick, a fast producer's pile up until a roll syncs them inline, stalling it.
    for (const std::weak_ptr<Partition>& weak : rolled) {
      if (std::shared_ptr<Partition> p = weak.lock()) (void)TickPartition(*p);  // errors logged
    }
    if (std::chrono::steady_clock::now() < next) continue;
    (void)Tick();  // errors are logged by Tick
    if (!cleaner_thread_) {
      absl::StatusOr<bool> compacted = cleaner_->RunOnce();
      if (!compacted.ok()) {
        Say(LogLevel::kError, fmt::format("compaction: {}", compacted.status()));
      }
    }
    // A full interval after this tick ended, however long it took: a slow tick never runs back
    // to back with the next.
    next = std::chrono::steady_clock::now() + options_.tick_interval;
  }
}

void BrokerImpl::StopBackground() {
  {
    MutexLock l(&ticker_mu_);
    stopping_ = true;
    ticker_cv_.SignalAll();
  }
  if (ticker_.joinable()) ticker_.join();
  if (cleaner_thread_) {
    cleaner_->Stop();
    cleaner_thread_ = false;
  }
}

absl::Status BrokerImpl::Close() {
  if (closed_) return absl::OkStatus();
  closed_ = true;
  std::map<std::string, std::shared_ptr<Topic>> topics;
  {
    MutexLock l(&topics_mu_);
    topics = topics_;
  }
  // A compaction pass running now ends at its next batch, so stopping the cleaner does not wait
  // it out; the next Open compacts again.
  for (const auto& [name, topic] : topics) {
    for (const std::shared_ptr<Partition>& p : topic->partitions()) p->log().StopCompaction();
  }
  StopBackground();
  absl::Status first;
  for (const auto& [name, topic] : topics) {
    for (const std::shared_ptr<Partition>& p : topic->partitions()) {
      if (cleaner_ != nullptr) cleaner_->Remove(&p->log());
      absl::Status s = p->log().Close();
      p->NotifyWaiters();
      if (!s.ok() && first.ok()) first = s;
    }
  }
  lock_.reset();
  return first;
}

}  // namespace detail

absl::Status BrokerOptions::Validate() const {
  auto bad = [](std::string_view what) {
    return absl::InvalidArgumentError(fmt::format("BrokerOptions.{}", what));
  };
  if (background_threads < 0) return bad("background_threads must not be negative");
  // Bounded so that now + interval cannot overflow the steady clock.
  constexpr std::chrono::milliseconds kLongest = std::chrono::hours(24 * 365);
  if (tick_interval.count() <= 0 || tick_interval > kLongest) {
    return bad("tick_interval must be positive and at most a year");
  }
  if (cleaner_backoff.count() <= 0 || cleaner_backoff > kLongest) {
    return bad("cleaner_backoff must be positive and at most a year");
  }
  if (group_min_session_timeout.count() <= 0 ||
      group_max_session_timeout < group_min_session_timeout) {
    return bad("group session timeouts must satisfy 0 < min <= max");
  }
  if (offsets_topic_partitions < 1 || offsets_topic_partitions > 1000) {
    return bad("offsets_topic_partitions must be in [1, 1000]");
  }
  if (absl::Status s = default_topic_config.Validate(); !s.ok()) return s;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Broker>> Broker::Open(const std::string& dir,
                                                     BrokerOptions options) {
  auto impl = std::make_unique<detail::BrokerImpl>(dir, std::move(options));
  BROOK_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<Broker>(new Broker(std::move(impl)));
}

Broker::Broker(std::unique_ptr<detail::BrokerImpl> impl) : impl_(std::move(impl)) {}
Broker::~Broker() = default;

absl::Status Broker::CreateTopic(const std::string& name, TopicConfig config) {
  return impl_->CreateTopic(name, std::move(config), /*internal=*/false);
}
absl::Status Broker::DeleteTopic(const std::string& name) { return impl_->DeleteTopic(name); }
absl::Status Broker::AddPartitions(const std::string& name, int32_t total) {
  return impl_->AddPartitions(name, total);
}
absl::StatusOr<std::shared_ptr<Topic>> Broker::GetTopic(const std::string& name) const {
  return impl_->GetTopic(name);
}
absl::StatusOr<std::shared_ptr<Partition>> Broker::GetPartition(const TopicPartition& tp) const {
  BROOK_ASSIGN_OR_RETURN(std::shared_ptr<Topic> topic, impl_->GetTopic(tp.topic));
  std::shared_ptr<Partition> p = topic->partition(tp.partition);
  if (p == nullptr) {
    return WithErrorCode(
        absl::NotFoundError(fmt::format("topic {} has no partition {}", tp.topic, tp.partition)),
        ErrorCode::kUnknownTopicOrPartition);
  }
  return p;
}
absl::StatusOr<std::shared_ptr<Topic>> Broker::GetOrCreateTopic(const std::string& name) {
  return impl_->GetOrCreateTopic(name);
}
absl::StatusOr<TopicDescription> Broker::DescribeTopic(const std::string& name) const {
  return impl_->DescribeTopic(name);
}
std::vector<std::string> Broker::ListTopics(bool include_internal) const {
  return impl_->ListTopics(include_internal);
}
std::vector<GroupListing> Broker::ListGroups() const { return impl_->coordinator().ListGroups(); }
absl::StatusOr<GroupDescription> Broker::DescribeGroup(const std::string& group_id) const {
  return impl_->DescribeGroup(group_id);
}
absl::Status Broker::DeleteGroup(const std::string& group_id) {
  return impl_->coordinator().DeleteGroup(group_id);
}
absl::StatusOr<int64_t> Broker::AllocateProducerId() { return impl_->AllocateProducerId(); }
absl::Status Broker::Tick() { return impl_->Tick(); }
absl::StatusOr<bool> Broker::CompactStep() { return impl_->CompactStep(); }
absl::Status Broker::Close() { return impl_->Close(); }
const std::string& Broker::dir() const { return impl_->dir(); }
const BrokerOptions& Broker::options() const { return impl_->options(); }
Clock* Broker::clock() const { return impl_->clock(); }
detail::GroupCoordinator& Broker::coordinator() { return impl_->coordinator(); }

}  // namespace brook
