// Kafka's RoundRobinAssignor.

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "brook/assignor.h"
#include "group/assignor_common.h"
#include "group/java_order.h"

namespace brook {
namespace {

class RoundRobinAssignor final : public PartitionAssignor {
 public:
  std::string_view name() const override { return "roundrobin"; }
  std::vector<RebalanceProtocol> supported_protocols() const override {
    return {RebalanceProtocol::kEager};
  }

  GroupAssignment Assign(const std::map<std::string, int32_t>& partitions_per_topic,
                         const std::vector<GroupMemberSubscription>& members) const override {
    std::map<std::string, std::vector<TopicPartition>> assignment;
    for (const GroupMemberSubscription& m : members) assignment[m.member_id];
    if (members.empty()) return assignment;

    std::vector<size_t> circle = group::SubscriptionMapOrder(members);
    group::SortByMemberInfo(members, circle);
    std::vector<std::set<std::string>> subscribed(members.size());
    for (size_t i = 0; i < members.size(); ++i) {
      subscribed[i].insert(members[i].topics.begin(), members[i].topics.end());
    }

    // Every partition of every subscribed topic, topics in Java's String order, dealt around the
    // circle of members; a member not subscribed to the partition's topic is passed over (the
    // turn moves on), so the next partition starts after whoever took this one.
    std::set<std::string, group::JavaLess> topics;
    for (const GroupMemberSubscription& m : members)
      topics.insert(m.topics.begin(), m.topics.end());
    size_t turn = 0;
    for (const std::string& topic : topics) {
      auto it = partitions_per_topic.find(topic);
      if (it == partitions_per_topic.end()) continue;
      for (int32_t p = 0; p < it->second; ++p) {
        while (subscribed[circle[turn]].count(topic) == 0) turn = (turn + 1) % circle.size();
        assignment[members[circle[turn]].member_id].push_back({topic, p});
        turn = (turn + 1) % circle.size();
      }
    }
    return group::SortedAssignment(std::move(assignment));
  }
};

}  // namespace

std::unique_ptr<PartitionAssignor> MakeRoundRobinAssignor() {
  return std::make_unique<RoundRobinAssignor>();
}

}  // namespace brook
