// The algorithm behind "sticky" and "cooperative-sticky" (Kafka's AbstractStickyAssignor).
#ifndef BROOK_SRC_GROUP_STICKY_ASSIGNOR_H_
#define BROOK_SRC_GROUP_STICKY_ASSIGNOR_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "brook/assignor.h"

namespace brook::group {

struct StickyOutcome {
  // Every member, its partitions in the order the algorithm gave them (not yet sorted).
  std::map<std::string, std::vector<TopicPartition>> assignment;
  // Set by the all-subscriptions-equal path only: each partition given to a member while another
  // may still own it (an owner over its quota, or a claim voided by an equal-generation rival),
  // with its new member. The general path leaves it unset, as Kafka leaves it null.
  std::optional<std::map<TopicPartition, std::string>> transferring;
};

// Balanced first, sticky second: see brook/assignor.h.
StickyOutcome StickyAssign(const std::map<std::string, int32_t>& partitions_per_topic,
                           const std::vector<GroupMemberSubscription>& members);

}  // namespace brook::group

#endif  // BROOK_SRC_GROUP_STICKY_ASSIGNOR_H_
