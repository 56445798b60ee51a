// Kafka's RangeAssignor (without rack awareness: brook's subscriptions carry no racks).

#include <algorithm>
#include <string>
#include <vector>

#include "brook/assignor.h"
#include "group/assignor_common.h"

namespace brook {
namespace {

class RangeAssignor final : public PartitionAssignor {
 public:
  std::string_view name() const override { return "range"; }
  std::vector<RebalanceProtocol> supported_protocols() const override {
    return {RebalanceProtocol::kEager};
  }

  GroupAssignment Assign(const std::map<std::string, int32_t>& partitions_per_topic,
                         const std::vector<GroupMemberSubscription>& members) const override {
    std::map<std::string, std::vector<TopicPartition>> assignment;
    for (const GroupMemberSubscription& m : members) assignment[m.member_id];
    std::vector<size_t> map_order = group::SubscriptionMapOrder(members);
    for (const auto& [topic, count] : group::AssignableTopics(partitions_per_topic, members)) {
      // Each topic on its own: its subscribers in MemberInfo order, the first `extra` of them
      // one partition more than the rest, each a contiguous run.
      std::vector<size_t> consumers;
      for (size_t i : map_order) {
        const std::vector<std::string>& topics = members[i].topics;
        if (std::find(topics.begin(), topics.end(), topic) != topics.end()) consumers.push_back(i);
      }
      group::SortByMemberInfo(members, consumers);
      auto n = static_cast<int32_t>(consumers.size());
      int32_t per_consumer = count / n;
      int32_t extra = count % n;
      int32_t next = 0;
      for (int32_t c = 0; c < n; ++c) {
        int32_t take = per_consumer + (c < extra ? 1 : 0);
        auto& list = assignment[members[consumers[static_cast<size_t>(c)]].member_id];
        for (int32_t k = 0; k < take; ++k) list.push_back({topic, next++});
      }
    }
    return group::SortedAssignment(std::move(assignment));
  }
};

}  // namespace

std::unique_ptr<PartitionAssignor> MakeRangeAssignor() { return std::make_unique<RangeAssignor>(); }

}  // namespace brook
