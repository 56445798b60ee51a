#include "brook/assignor.h"

#include <algorithm>
#include <set>
#include <utility>

#include "group/assignor_common.h"
#include "group/java_order.h"

namespace brook {
namespace group {

std::map<std::string, int32_t> AssignableTopics(
    const std::map<std::string, int32_t>& partitions_per_topic,
    const std::vector<GroupMemberSubscription>& members) {
  std::map<std::string, int32_t> topics;
  for (const GroupMemberSubscription& m : members) {
    for (const std::string& topic : m.topics) {
      auto it = partitions_per_topic.find(topic);
      if (it != partitions_per_topic.end() && it->second > 0) topics.insert(*it);
    }
  }
  return topics;
}

std::vector<size_t> SubscriptionMapOrder(const std::vector<GroupMemberSubscription>& members) {
  std::vector<std::string> ids;
  ids.reserve(members.size());
  for (const GroupMemberSubscription& m : members) ids.push_back(m.member_id);
  return JavaHashMapOrder(ids);
}

void SortByMemberInfo(const std::vector<GroupMemberSubscription>& members,
                      std::vector<size_t>& indexes) {
  std::stable_sort(indexes.begin(), indexes.end(), [&](size_t x, size_t y) {
    const GroupMemberSubscription& a = members[x];
    const GroupMemberSubscription& b = members[y];
    if (a.group_instance_id && b.group_instance_id) {
      return JavaCompare(*a.group_instance_id, *b.group_instance_id) < 0;
    }
    if (a.group_instance_id || b.group_instance_id) return a.group_instance_id.has_value();
    return JavaCompare(a.member_id, b.member_id) < 0;
  });
}

GroupAssignment SortedAssignment(std::map<std::string, std::vector<TopicPartition>> assignment) {
  for (auto& [member, partitions] : assignment) {
    // Java orders topic names by UTF-16 code units; TopicPartition's operator< by bytes. The two
    // differ only for unusual characters; GroupAssignment promises the TopicPartition order.
    std::sort(partitions.begin(), partitions.end());
  }
  return assignment;
}

}  // namespace group

std::unique_ptr<PartitionAssignor> MakeAssignor(std::string_view name) {
  if (name == "range") return MakeRangeAssignor();
  if (name == "roundrobin") return MakeRoundRobinAssignor();
  if (name == "sticky") return MakeStickyAssignor();
  if (name == "cooperative-sticky") return MakeCooperativeStickyAssignor();
  return nullptr;
}

}  // namespace brook
