// The Broker's consumer-group coordinator: Kafka's classic group protocol, in process.
//
// Members join (JoinGroup), collect their assignment (SyncGroup), heartbeat, commit offsets and
// leave, as in Kafka (kafka-internals §9.2). Two differences, both invisible to a member: the
// coordinator runs the chosen assignor itself instead of sending every subscription to the
// leader (the assignor gets the same input, so the result is the same), and it skips
// CompletingRebalance (the assignment is ready when the rebalance completes).
//
// Liveness: an in-process Consumer is alive while it is open (its heartbeats are implied, as if a
// heartbeat thread sent them), so the session timeout removes members that stopped heartbeating
// for real: remote ones, and static members whose Consumer closed without leaving. A member that
// does not poll for its rebalance timeout (max.poll.interval.ms) is removed (dynamic) or stops
// heartbeating (static), as Kafka's client does.
//
// Committed offsets and group metadata are records of the internal compacted topic
// __consumer_offsets in Kafka's formats (offsets_records.h); they are loaded by Load().
//
// Thread safety: thread-safe (one mutex per group, one for the group map).
#ifndef BROOK_GROUP_GROUP_COORDINATOR_H_
#define BROOK_GROUP_GROUP_COORDINATOR_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/assignor.h"
#include "brook/clock.h"
#include "brook/consumer_group.h"
#include "brook/log.h"
#include "brook/log_options.h"
#include "brook/partition.h"
#include "brook/topic_partition.h"

namespace brook::detail {

class PartitionWaiter;

struct OffsetAndMetadata {
  int64_t offset = -1;
  std::string metadata;
  int64_t commit_timestamp_ms = 0;
};

using OffsetMap = std::map<TopicPartition, OffsetAndMetadata>;

struct JoinGroupRequest {
  std::string group_id;
  std::string member_id;  // empty: a new member
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::chrono::milliseconds session_timeout{45000};
  std::chrono::milliseconds rebalance_timeout{300000};  // max.poll.interval.ms
  std::vector<std::string> assignors;                   // in preference order
  std::vector<std::string> topics;
  std::vector<TopicPartition> owned_partitions;
  int32_t owned_generation = -1;
  // Heartbeats are implied while the member's Consumer is open (in-process members).
  bool implied_heartbeats = true;
  // Woken when the group needs the member (a rebalance started or completed). Not owned; must
  // stay valid until the member leaves or is removed.
  PartitionWaiter* waiter = nullptr;
};

struct SyncGroupResult {
  int32_t generation = 0;
  std::string protocol;
  RebalanceProtocol rebalance_protocol = RebalanceProtocol::kEager;
  std::vector<TopicPartition> assignment;
};

struct CoordinatorOptions {
  std::chrono::milliseconds min_session_timeout{6000};
  std::chrono::milliseconds max_session_timeout{1800000};
  std::chrono::milliseconds initial_rebalance_delay{0};
  std::chrono::milliseconds offsets_retention{-1};
  Durability commit_durability = Durability::kFlushed;
  Clock* clock = nullptr;
  Logger logger;
  // Partition counts of the topics named that consumers may subscribe to (missing: the topic does
  // not exist, or is internal). For assignments.
  std::function<std::map<std::string, int32_t>(const std::vector<std::string>&)> partition_counts;
  // The same, internal topics included: the partitions offsets may be committed for. Null: any.
  std::function<std::map<std::string, int32_t>(const std::vector<std::string>&)>
      existing_partitions;
  // The partitions of __consumer_offsets (fixed).
  std::vector<std::shared_ptr<Partition>> offsets_partitions;
};

class GroupCoordinator {
 public:
  explicit GroupCoordinator(CoordinatorOptions options);
  ~GroupCoordinator();
  GroupCoordinator(const GroupCoordinator&) = delete;
  GroupCoordinator& operator=(const GroupCoordinator&) = delete;

  // Reads __consumer_offsets: committed offsets and each group's last generation.
  absl::Status Load();

  // Registers the member for the next generation and returns its member id. Starts a rebalance
  // if the group is stable; completes it if every member has joined. InvalidArgument for a
  // session timeout outside the broker's bounds or no assignor in common with the group
  // (kInconsistentGroupProtocol); kUnknownMemberId for an unknown member id;
  // kFencedInstanceId if the static member was replaced.
  absl::StatusOr<std::string> Join(const JoinGroupRequest& request);

  // Sync, Heartbeat, Leave and Commit take the static member's group.instance.id as Kafka's
  // requests carry it: a member id whose instance id now belongs to another member is
  // kFencedInstanceId, however many replacements ago. Without it, only the last 1024 replaced ids
  // of a group are told apart from unknown ones.

  // The member's assignment once the rebalance it joined has completed; nullopt while it is
  // still in progress. kUnknownMemberId if the member was removed (it must join again),
  // kFencedInstanceId if replaced.
  absl::StatusOr<std::optional<SyncGroupResult>> Sync(
      const std::string& group_id, const std::string& member_id,
      const std::optional<std::string>& instance_id = std::nullopt);

  // OK while the member's generation is current and the group stable. kRebalanceInProgress:
  // join again; kIllegalGeneration / kUnknownMemberId / kFencedInstanceId: the member lost its
  // partitions and must join again. `polled` records a poll (max.poll.interval.ms).
  absl::Status Heartbeat(const std::string& group_id, const std::string& member_id,
                         int32_t generation, bool polled,
                         const std::optional<std::string>& instance_id = std::nullopt);

  // Removes the member now (LeaveGroup), starting a rebalance for the others.
  absl::Status Leave(const std::string& group_id, const std::string& member_id,
                     const std::optional<std::string>& instance_id = std::nullopt);
  // The member's heartbeats stop (a static member closing: it keeps its place for the session
  // timeout, so a restart within it gets its partitions back without a rebalance).
  void StopHeartbeats(const std::string& group_id, const std::string& member_id);

  // Commits offsets (durably, per commit_durability) for a member of `generation`, or, with
  // member_id empty and generation -1, for a group without members (manual assignment).
  // kIllegalGeneration, kUnknownMemberId, kRebalanceInProgress as in Kafka.
  absl::Status Commit(const std::string& group_id, const std::string& member_id, int32_t generation,
                      const OffsetMap& offsets,
                      const std::optional<std::string>& instance_id = std::nullopt);
  // The committed offsets of `partitions` (all of the group's if empty); absent partitions
  // have none.
  OffsetMap Committed(const std::string& group_id,
                      const std::vector<TopicPartition>& partitions = {}) const;

  // Expires members (session, poll interval), completes rebalances whose timeout passed and
  // deletes expired offsets.
  absl::Status Step();

  // Deletes every group's committed offsets for a deleted topic (as Kafka does), so a topic
  // created again with the same name starts without them.
  absl::Status DeleteTopicOffsets(const std::string& topic);
  // DeleteTopicOffsets for every topic with committed offsets that partition_counts does not
  // know: a crash inside DeleteTopic, after its registry write, leaves such offsets behind.
  absl::Status DeleteOffsetsOfMissingTopics();
  // Commits `end_offset(tp)` in place of every committed offset past it. A crash of the machine
  // can lose records a consumer read and committed past (what the OS had not yet written);
  // once producers append again, such an offset would point into new records and skip them.
  // Run at open, before anything appends (Kafka detects the same with leader epochs, KIP-320).
  // `end_offset` returns nullopt for a partition it does not know or that lost nothing.
  absl::Status ClampOffsetsPastEnd(
      const std::function<std::optional<int64_t>(const TopicPartition&)>& end_offset);

  std::vector<GroupListing> ListGroups() const;
  // Groups held in memory, dead ones not yet removed by Step included (for tests).
  size_t group_count() const;
  // Without end offsets and lag (the Broker fills those in).
  absl::StatusOr<GroupDescription> DescribeGroup(const std::string& group_id) const;
  absl::Status DeleteGroup(const std::string& group_id);

  // Every offsets partition, for the broker's tick and cleaner.
  const std::vector<std::shared_ptr<Partition>>& offsets_partitions() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace brook::detail

#endif  // BROOK_GROUP_GROUP_COORDINATOR_H_
