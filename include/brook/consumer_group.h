// brook/consumer_group.h — what the Broker's group coordinator reports about consumer groups.
//
//   for (const brook::GroupListing& g : broker->ListGroups()) ...
//   brook::GroupDescription d = *broker->DescribeGroup("billing");
//   for (const brook::GroupOffset& o : d.offsets) total_lag += o.lag;
//
// Plain values, copied out of the coordinator.
#ifndef BROOK_CONSUMER_GROUP_H_
#define BROOK_CONSUMER_GROUP_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "brook/topic_partition.h"

namespace brook {

// Kafka's classic group states.
enum class GroupState : uint8_t {
  kEmpty,                // no members (committed offsets may remain)
  kPreparingRebalance,   // waiting for the members to (re)join
  kCompletingRebalance,  // assignment computed, members collecting it
  kStable,               // every member has its assignment
  kDead,                 // removed
};
std::string_view GroupStateName(GroupState state);  // "Empty", "PreparingRebalance", ...

struct GroupListing {
  std::string group_id;
  GroupState state = GroupState::kEmpty;
  int members = 0;
};

struct GroupMemberDescription {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::vector<std::string> topics;  // subscribed
  std::vector<TopicPartition> assignment;
};

// A committed offset and how far the partition's end is past it.
struct GroupOffset {
  TopicPartition partition;
  int64_t committed_offset = -1;  // the next offset the group will consume
  std::string metadata;
  int64_t end_offset = -1;  // the partition's high watermark; -1 if the topic is gone
  int64_t lag = 0;          // end_offset - committed_offset (0 if unknown)
};

struct GroupDescription {
  std::string group_id;
  GroupState state = GroupState::kEmpty;
  std::string protocol;  // the assignor chosen in the last rebalance
  int32_t generation = 0;
  std::string leader;  // member id
  std::vector<GroupMemberDescription> members;
  std::vector<GroupOffset> offsets;  // sorted by partition
};

}  // namespace brook

#endif  // BROOK_CONSUMER_GROUP_H_
