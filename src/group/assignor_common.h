// Pieces every assignor shares: the topics that take part, member ordering, the final sort.
#ifndef BROOK_SRC_GROUP_ASSIGNOR_COMMON_H_
#define BROOK_SRC_GROUP_ASSIGNOR_COMMON_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "brook/assignor.h"

namespace brook::group {

// The topics an assignor works on: those some member subscribes to that exist with at least one
// partition. Kafka's AbstractPartitionAssignor builds the same map from cluster metadata.
std::map<std::string, int32_t> AssignableTopics(
    const std::map<std::string, int32_t>& partitions_per_topic,
    const std::vector<GroupMemberSubscription>& members);

// Indexes into `members` in the order Kafka's leader iterates its HashMap of subscriptions,
// taking `members` as the order they were put into it.
std::vector<size_t> SubscriptionMapOrder(const std::vector<GroupMemberSubscription>& members);

// Kafka's MemberInfo order: members with a group instance id first, by instance id, then the
// others by member id. Stable, as Java's sort is, for (invalid) repeated instance ids.
void SortByMemberInfo(const std::vector<GroupMemberSubscription>& members,
                      std::vector<size_t>& indexes);

// Sorts each member's list by (topic, partition), the form GroupAssignment promises.
GroupAssignment SortedAssignment(std::map<std::string, std::vector<TopicPartition>> assignment);

}  // namespace brook::group

#endif  // BROOK_SRC_GROUP_ASSIGNOR_COMMON_H_
