// brook/broker.h — one data directory of topics, partitions and consumer groups.
//
//   auto broker = brook::Broker::Open("/var/lib/app/brook", {});
//   (*broker)->CreateTopic("orders", {.partitions = 8});
//   auto producer = brook::Producer::Create(**broker, {});
//   auto consumer = brook::Consumer::Create(**broker, {.group_id = "billing"});
//
// Layout: `<dir>/topics` is the topic registry (names and Kafka-style configs, checksummed,
// replaced atomically); each partition is a Log in `<dir>/<topic>-<partition>/` as in Kafka;
// committed offsets live in the internal compacted topic `__consumer_offsets`;
// `<dir>/producer-id-block` reserves idempotent producer ids. A second Broker (or process)
// opening the same directory gets FailedPrecondition.
//
// Background work runs on at most two threads the Broker owns (BrokerOptions::
// background_threads): a ticker (group session and poll timeouts first, then each partition's
// Log::Tick for interval flushes, syncs of sealed segments and retention) and the log cleaner
// (compaction). Tests turn it off and call Tick() and
// CompactStep() themselves.
//
// Durability: topic creation, deletion and partition additions are on disk when the call
// returns. Data follows each topic's FlushPolicy. A committed offset is on disk (fdatasync) when
// Commit returns, unless BrokerOptions::offsets_commit_durability says otherwise.
//
// Resources: every partition keeps its Log open with 3 mappings per segment (data, offset index,
// time index) and 3 files. Descriptors are bounded by max_open_files (default: half the soft
// RLIMIT_NOFILE): beyond it, the least recently used idle files are closed and reopened when
// next written or synced, so a process of N partitions runs with any limit, and fastest with
// RLIMIT_NOFILE above 6N. The Broker's lock covers its partitions (they take none of their own).
// Open and CreateTopic open partitions on up to 16 short-lived threads.
//
// Thread safety: thread-safe. Close() (or destruction) must not race with calls on the Broker or
// with Producers and Consumers still using it: destroy those first.
#ifndef BROOK_BROKER_H_
#define BROOK_BROKER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/consumer_group.h"
#include "brook/log.h"
#include "brook/partition.h"
#include "brook/topic.h"
#include "brook/topic_config.h"

namespace brook {

namespace detail {
class BrokerImpl;
class GroupCoordinator;
}  // namespace detail

struct BrokerOptions {
  // Make `dir` a broker directory if it is not one yet: create it if missing, or take it over if
  // it is empty. False: `dir` must already be a broker directory (NotFound otherwise), and is left
  // untouched when it is not. Default: true.
  bool create_if_missing = true;
  // Settings for topics created without their own, and by auto-creation.
  TopicConfig default_topic_config;
  // Producing to or subscribing to an unknown topic creates it with default_topic_config
  // (auto.create.topics.enable). Default: false.
  bool auto_create_topics = false;

  // Background threads: 0 runs nothing in the background (call Tick() and CompactStep());
  // 1 runs ticks and compaction on one thread (a long compaction pass then delays flushes,
  // retention and group timeouts); 2 or more give compaction its own (more than 2 are not
  // used: one ticker, one cleaner). Default: 2.
  int background_threads = 2;
  // How often the ticker runs (at most a year). Default: 1 s.
  std::chrono::milliseconds tick_interval{1000};
  // How long the cleaner sleeps when no log needs compaction (at most a year). Default: 15 s.
  std::chrono::milliseconds cleaner_backoff{15000};

  // --- consumer groups ---
  // Session timeouts members may ask for (group.min/max.session.timeout.ms).
  std::chrono::milliseconds group_min_session_timeout{6000};
  std::chrono::milliseconds group_max_session_timeout{1800000};
  // How long a new, empty group waits for more members before its first rebalance
  // (group.initial.rebalance.delay.ms). Default: 0 (Kafka: 3 s).
  std::chrono::milliseconds group_initial_rebalance_delay{0};
  // Committed offsets of a group that has been empty this long are deleted
  // (offsets.retention.minutes). Negative: never. Default: -1 (Kafka: 7 days).
  std::chrono::milliseconds offsets_retention{-1};
  // Partitions of __consumer_offsets (offsets.topic.num.partitions), fixed when the directory
  // is created. Default: 1.
  int32_t offsets_topic_partitions = 1;
  // Segment size of __consumer_offsets (offsets.topic.segment.bytes), fixed when the directory
  // is created. Compaction keeps the latest commit per partition in sealed segments. Default:
  // 16 MiB.
  uint64_t offsets_topic_segment_bytes = uint64_t{16} << 20;
  // What a commit waits for. Default: kFlushed (on disk before Commit returns).
  Durability offsets_commit_durability = Durability::kFlushed;

  // The most file descriptors the Broker's files (segments, indexes, checkpoints) hold at once.
  // With more files than that, the least recently used idle ones are closed and reopened when
  // next written, synced or resized; reads and small appends go through mappings and need none.
  // Not counted: the Broker's lock, one descriptor. 0: half the process's soft RLIMIT_NOFILE
  // when the Broker opens (at least 64). Default: 0.
  size_t max_open_files = 0;

  // Non-owning; nullptr means FileSystem::Default(). Must outlive the Broker and its partitions.
  FileSystem* file_system = nullptr;
  // Non-owning; nullptr means Clock::Real(). Must outlive the Broker.
  Clock* clock = nullptr;
  // Default: warnings and errors to stderr.
  Logger logger;

  absl::Status Validate() const;
};

struct PartitionDescription {
  int32_t partition = 0;
  int64_t start_offset = 0;
  int64_t end_offset = 0;
  int64_t high_watermark = 0;
  int64_t flushed_offset = 0;
  uint64_t size_bytes = 0;
  int segments = 0;
  int32_t leader_epoch = 0;
};

struct TopicDescription {
  std::string name;
  TopicConfig config;
  bool internal = false;
  std::vector<PartitionDescription> partitions;
};

class Broker {
 public:
  // Opens (or creates) the broker directory `dir`: reads the topic registry, opens every
  // partition (recovering it after a crash), loads committed offsets. FailedPrecondition if the
  // directory is locked by another Broker, or holds files of someone else's (no registry);
  // NotFound if it is not a broker directory and create_if_missing is false; InvalidArgument for
  // bad options; DataLoss if the registry is damaged; other errors (no permission, ...) as the
  // file system reported them.
  static absl::StatusOr<std::unique_ptr<Broker>> Open(const std::string& dir,
                                                      BrokerOptions options);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // --- topics ---
  // Kafka's topic name rules: 1-249 of [a-zA-Z0-9._-], not "." or "..", not starting with "__"
  // (reserved for internal topics). AlreadyExists if it exists.
  absl::Status CreateTopic(const std::string& name, TopicConfig config);
  absl::Status CreateTopic(const std::string& name) {
    return CreateTopic(name, options().default_topic_config);
  }
  // Removes the topic and deletes its data. NotFound if unknown. Producers and consumers
  // holding it see FailedPrecondition.
  absl::Status DeleteTopic(const std::string& name);
  // Grows the topic to `total` partitions (never shrinks: InvalidArgument).
  absl::Status AddPartitions(const std::string& name, int32_t total);
  // NotFound if unknown.
  absl::StatusOr<std::shared_ptr<Topic>> GetTopic(const std::string& name) const;
  absl::StatusOr<std::shared_ptr<Partition>> GetPartition(const TopicPartition& tp) const;
  // GetTopic, creating the topic first when auto_create_topics allows.
  absl::StatusOr<std::shared_ptr<Topic>> GetOrCreateTopic(const std::string& name);
  absl::StatusOr<TopicDescription> DescribeTopic(const std::string& name) const;
  // Sorted names; internal topics only if asked.
  std::vector<std::string> ListTopics(bool include_internal = false) const;

  // --- consumer groups ---
  std::vector<GroupListing> ListGroups() const;
  // Members, assignments, committed offsets and lag. NotFound if the group has neither members
  // nor committed offsets.
  absl::StatusOr<GroupDescription> DescribeGroup(const std::string& group_id) const;
  // Deletes an empty group's committed offsets. FailedPrecondition if it has members.
  absl::Status DeleteGroup(const std::string& group_id);

  // --- idempotent producers ---
  // A producer id never handed out before by this directory, even across crashes.
  absl::StatusOr<int64_t> AllocateProducerId();

  // --- background work, as step functions ---
  // Expires group members and offsets, then runs Log::Tick on every partition, flushes the
  // flushed-only ones holding unflushed records and wakes their consumers. The first error is
  // returned; every error is logged once while it lasts.
  absl::Status Tick();
  // One compaction step: compacts the due log with the highest dirty ratio. Returns whether a
  // log was compacted.
  absl::StatusOr<bool> CompactStep();

  // Stops the background work, closes every partition cleanly. Idempotent.
  absl::Status Close();

  const std::string& dir() const;
  const BrokerOptions& options() const;
  Clock* clock() const;

  // Internal: the group coordinator, for Consumer.
  detail::GroupCoordinator& coordinator();

 private:
  explicit Broker(std::unique_ptr<detail::BrokerImpl> impl);
  std::unique_ptr<detail::BrokerImpl> impl_;
};

}  // namespace brook

#endif  // BROOK_BROKER_H_
