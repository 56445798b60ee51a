// brook/consumer.h — reads records from a Broker's partitions, alone or in a consumer group.
//
//   auto consumer = *brook::Consumer::Create(*broker, {.group_id = "billing"});
//   consumer->Subscribe({"orders"});
//   while (running) {
//     absl::StatusOr<brook::ConsumerRecords> records = consumer->Poll(std::chrono::seconds(1));
//     for (const brook::ConsumerRecord& r : *records) Handle(r.topic, r.offset(), r.value());
//   }   // positions are committed every auto_commit_interval, and on revocation and Close
//
// Subscribe(topics) joins the group (group_id) and gets partitions from its assignor; Assign()
// takes partitions directly. Poll drives the group protocol (joining, rebalances, heartbeats) and
// returns records from the position of each assigned, unpaused partition, up to
// max_poll_records. Positions start at the group's committed offset, else per
// auto_offset_reset.
//
// Zero copy: the records' keys, values and headers point into the partitions' memory-mapped
// segments (or, for compressed batches, into buffers the Consumer owns). They are valid until the
// next Poll, Close or destruction of the Consumer; copy what you keep.
//
// Delivery: at least once. With auto-commit (the default) a crash can redeliver what was polled
// since the last commit; commit before returning from a revocation (the listener, or auto-commit
// which does it) and a rebalance delivers every record exactly once per group.
//
// Thread safety: not thread-safe, like Kafka's consumer: one thread calls it, except Wakeup(),
// which any thread may call. Use one Consumer per thread. The Broker must outlive it.
#ifndef BROOK_CONSUMER_H_
#define BROOK_CONSUMER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/broker.h"
#include "brook/record_batch.h"
#include "brook/topic_partition.h"

namespace brook {

namespace detail {
class ConsumerImpl;
}  // namespace detail

// One record, as Poll returns it. `record` views point into memory the Consumer keeps until the
// next Poll.
struct ConsumerRecord {
  std::string_view topic;
  int32_t partition = 0;
  RecordView record;

  int64_t offset() const { return record.offset(); }
  int64_t timestamp() const { return record.timestamp(); }
  std::optional<std::string_view> key() const {
    return record.has_key() ? std::optional<std::string_view>(record.key()) : std::nullopt;
  }
  std::optional<std::string_view> value() const {
    return record.has_value() ? std::optional<std::string_view>(record.value()) : std::nullopt;
  }
};

// The records of one Poll, in order per partition. Valid until the next Poll.
using ConsumerRecords = std::vector<ConsumerRecord>;

enum class OffsetReset : uint8_t {
  kEarliest,  // the partition's start offset
  kLatest,    // its end offset (Kafka's default)
  kNone,      // Poll fails with OutOfRange (kOffsetOutOfRange)
};

// Called on the consumer's thread, inside Poll (or Close/Unsubscribe), around rebalances.
struct RebalanceListener {
  // Before partitions are taken away: commit their positions here for exactly-once hand-over
  // (auto-commit already does, before this is called).
  std::function<void(const std::vector<TopicPartition>&)> on_revoked;
  // After partitions are given (only those the consumer could open). Their positions are
  // resolved at the next Poll or Position(): the committed offset, else auto_offset_reset.
  std::function<void(const std::vector<TopicPartition>&)> on_assigned;
  // The partitions were lost without a chance to commit (the member was removed: it stopped
  // polling, or was fenced). Another member may already own them.
  std::function<void(const std::vector<TopicPartition>&)> on_lost;
};

struct ConsumerOptions {
  // The consumer group (group.id); needed for Subscribe and Commit.
  std::string group_id;
  // Static membership (group.instance.id): a restarted consumer with the same id gets its
  // partitions back within session_timeout without a rebalance.
  std::optional<std::string> group_instance_id;
  std::string client_id = "consumer";
  // partition.assignment.strategy, in preference order: "range", "roundrobin", "sticky",
  // "cooperative-sticky". The rebalance protocol is cooperative only if all of them support it.
  // Default: {"range", "cooperative-sticky"} (Kafka's; eager range).
  std::vector<std::string> assignors = {"range", "cooperative-sticky"};
  std::chrono::milliseconds session_timeout{45000};
  // Leave the group (losing the partitions) if Poll is not called for this long.
  std::chrono::milliseconds max_poll_interval{300000};
  bool enable_auto_commit = true;
  std::chrono::milliseconds auto_commit_interval{5000};
  OffsetReset auto_offset_reset = OffsetReset::kLatest;
  size_t max_poll_records = 500;
  // Bytes read from one partition per Poll (max.partition.fetch.bytes). Default: 1 MiB.
  size_t max_partition_fetch_bytes = size_t{1} << 20;
  // Largest decompressed batch accepted (guards against decompression bombs). Default: 64 MiB.
  size_t max_decompressed_batch_bytes = size_t{64} << 20;
  // Verify each batch's CRC-32C (check.crcs). Default: true.
  bool check_crcs = true;
  // How long Poll spins before it sleeps waiting for data: lower latency for a core.
  // Default: 0.
  std::chrono::microseconds poll_spin{0};
  RebalanceListener listener;
};

class Consumer {
 public:
  // InvalidArgument for bad options.
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(Broker& broker, ConsumerOptions options);
  // Close(), errors logged.
  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Joins the group for these topics (replacing an earlier subscription); partitions come with
  // a later Poll. With the cooperative protocol, partitions of topics dropped from the
  // subscription are revoked at once (on_revoked). Unknown topics are created when the Broker
  // auto-creates topics. FailedPrecondition without a group_id or after Assign.
  absl::Status Subscribe(std::vector<std::string> topics);
  // Reads these partitions, no group membership (commits still go to group_id, if set).
  // Partitions already assigned keep their position and pause state; with auto-commit and a
  // group_id, the positions so far are committed (asynchronously) before others are dropped, as
  // Kafka's assign() does. FailedPrecondition while subscribed.
  absl::Status Assign(std::vector<TopicPartition> partitions);
  // Leaves the group (revoking), or drops the manual assignment.
  absl::Status Unsubscribe();
  std::vector<TopicPartition> assignment() const;
  std::vector<std::string> subscription() const;

  // Returns the records available now, or waits up to `timeout` for some (woken by appends,
  // no busy-spinning beyond poll_spin). An empty result is not an error. Errors: OutOfRange
  // with auto_offset_reset kNone; FailedPrecondition when closed; Cancelled after Wakeup().
  absl::StatusOr<ConsumerRecords> Poll(std::chrono::milliseconds timeout);
  // Makes a blocked (or the next) Poll return Cancelled. Any thread.
  void Wakeup();

  // The next offset Poll returns for an assigned partition. FailedPrecondition if unassigned.
  absl::StatusOr<int64_t> Position(const TopicPartition& tp) const;
  absl::Status Seek(const TopicPartition& tp, int64_t offset);
  absl::Status SeekToBeginning(const std::vector<TopicPartition>& partitions);
  absl::Status SeekToEnd(const std::vector<TopicPartition>& partitions);
  // The first offset with a timestamp >= the given one per partition, below its high watermark;
  // nullopt where none.
  absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> OffsetsForTimes(
      const std::map<TopicPartition, int64_t>& timestamps) const;
  void Pause(const std::vector<TopicPartition>& partitions);
  void Resume(const std::vector<TopicPartition>& partitions);
  std::vector<TopicPartition> paused() const;

  // Commits the positions of every assigned partition (or the given offsets, each the next
  // offset to consume) and waits until they are stored (durable per the Broker's
  // offsets_commit_durability). kRebalanceInProgress / kIllegalGeneration / kUnknownMemberId if
  // the group moved on: those partitions may be another member's now.
  absl::Status Commit();
  absl::Status Commit(const std::map<TopicPartition, int64_t>& offsets);
  // Commits on a thread of the Consumer's own, in order; `done` runs on this consumer's thread in a
  // later Poll (or Close), as Kafka's commitAsync callbacks do. Calls made while an earlier commit
  // is being stored wait as one commit of the latest positions (each `done` still runs, with its
  // status), so committing faster than commits are stored does not queue without bound.
  void CommitAsync(std::function<void(const absl::Status&)> done = nullptr);
  // The group's committed offsets for these partitions (absent: none).
  absl::StatusOr<std::map<TopicPartition, int64_t>> Committed(
      const std::vector<TopicPartition>& partitions) const;

  // High watermark minus position, per assigned partition.
  std::map<TopicPartition, int64_t> Lag() const;

  // Commits (with auto-commit), leaves the group (a static member only stops heartbeating),
  // releases the records of the last Poll. Idempotent.
  absl::Status Close();

  // The member id in the group ("" when not a member) and the generation of the assignment.
  std::string member_id() const;
  int32_t generation() const;

 private:
  explicit Consumer(std::unique_ptr<detail::ConsumerImpl> impl);
  std::unique_ptr<detail::ConsumerImpl> impl_;
};

}  // namespace brook

#endif  // BROOK_CONSUMER_H_
