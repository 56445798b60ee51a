// brook/assignor.h — consumer-group partition assignors (Kafka's ConsumerPartitionAssignor).
//
// The group leader hands an assignor every member's subscription and the partition count of each
// topic; the assignor decides which member consumes which partition. brook's four assignors give
// the assignments Kafka's Java client gives for the same input:
//
//   "range"               per topic, contiguous runs of partitions to members in order
//                         (co-subscribed topics of equal size are co-partitioned)
//   "roundrobin"          all partitions, sorted by (topic, partition), dealt in turn
//   "sticky"              balanced, keeping as much of each member's owned_partitions as it can
//   "cooperative-sticky"  "sticky", minus the partitions whose owner changes: those are revoked
//                         this round and assigned in the next (incremental rebalancing)
//
// Members are ordered as Kafka orders them: range and roundrobin put members with a
// group_instance_id first (by instance id), then the others by member id. The sticky assignors
// break ties the way Kafka's do, which depends on a java.util.HashMap's iteration order; brook
// reproduces it, taking the order of `members` as the order the group coordinator listed them in.
//
//   auto assignor = brook::MakeAssignor("cooperative-sticky");
//   brook::GroupAssignment assignment = assignor->Assign(
//       {{"orders", 6}}, {{.member_id = "m1", .topics = {"orders"}},
//                         {.member_id = "m2", .topics = {"orders"}}});
//   // assignment["m1"] == {orders-0, orders-1, orders-2}, assignment["m2"] == {orders-3, ...}
//
// Thread safety: assignors hold no state; Assign is const and pure, so one assignor may be used
// from any number of threads at once.

#ifndef BROOK_ASSIGNOR_H_
#define BROOK_ASSIGNOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "brook/topic_partition.h"

namespace brook {

// How a group moves partitions between members: kEager revokes everything before each
// rebalance; kCooperative revokes only the partitions that move (KIP-429).
enum class RebalanceProtocol : uint8_t { kEager, kCooperative };

// One member's subscription as the group coordinator hands it to an assignor (Kafka's
// ConsumerProtocolSubscription).
struct GroupMemberSubscription {
  std::string member_id;
  // Static membership (group.instance.id). Default: none.
  std::optional<std::string> group_instance_id;
  // Subscribed topic names. Topics that do not exist are ignored.
  std::vector<std::string> topics;
  // What the member holds now; read by the sticky assignors only. Partitions of topics that do
  // not exist (or beyond a topic's partition count) are ignored.
  std::vector<TopicPartition> owned_partitions;
  // The generation in which it owned them; -1 if unknown. When two members claim a partition,
  // the higher generation wins; equal generations void both claims.
  int32_t generation = -1;
};

// Member id -> its partitions, each list sorted by (topic, partition). Every member of the input
// appears, possibly with an empty list.
using GroupAssignment = std::map<std::string, std::vector<TopicPartition>>;

// Thread-safe (stateless): see the file comment.
class PartitionAssignor {
 public:
  virtual ~PartitionAssignor() = default;

  // Kafka's name for it: "range", "roundrobin", "sticky" or "cooperative-sticky".
  virtual std::string_view name() const = 0;

  // {kEager}, or {kCooperative, kEager} for cooperative-sticky (Kafka's order: preferred first).
  virtual std::vector<RebalanceProtocol> supported_protocols() const = 0;

  // Assigns every partition of every subscribed topic to one member subscribed to it.
  // partitions_per_topic: the partition count of every existing topic; subscribed topics missing
  // from it (or with no partitions) are ignored, as are topics nobody subscribes to. Member ids
  // must be distinct. Pure: the same input gives the same output.
  virtual GroupAssignment Assign(const std::map<std::string, int32_t>& partitions_per_topic,
                                 const std::vector<GroupMemberSubscription>& members) const = 0;
};

// Each returns a new assignor, owned by the caller.
std::unique_ptr<PartitionAssignor> MakeRangeAssignor();
std::unique_ptr<PartitionAssignor> MakeRoundRobinAssignor();
std::unique_ptr<PartitionAssignor> MakeStickyAssignor();
std::unique_ptr<PartitionAssignor> MakeCooperativeStickyAssignor();

// The assignor Kafka calls `name` ("range", "roundrobin", "sticky", "cooperative-sticky");
// nullptr if there is none by that name.
std::unique_ptr<PartitionAssignor> MakeAssignor(std::string_view name);

}  // namespace brook

#endif  // BROOK_ASSIGNOR_H_
