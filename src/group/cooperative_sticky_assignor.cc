// Kafka's CooperativeStickyAssignor: the sticky assignment, minus every partition that changes
// owner. Under the cooperative protocol the old owner revokes it after this round; the follow-up
// rebalance then assigns it to the new one, so no partition is ever owned by two members at once.

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "brook/assignor.h"
#include "group/assignor_common.h"
#include "group/sticky_assignor.h"

namespace brook {
namespace {

// Partitions assigned to a member that did not own them while some member that owned them loses
// them (Kafka's computePartitionsTransferringOwnership, used after the general algorithm).
std::map<TopicPartition, std::string> Transferring(
    const std::vector<GroupMemberSubscription>& members,
    const std::map<std::string, std::vector<TopicPartition>>& assignment) {
  std::map<TopicPartition, std::string> added;
  std::set<TopicPartition> revoked;
  for (const GroupMemberSubscription& m : members) {
    const std::vector<TopicPartition>& assigned = assignment.at(m.member_id);
    std::set<TopicPartition> owned(m.owned_partitions.begin(), m.owned_partitions.end());
    std::set<TopicPartition> mine(assigned.begin(), assigned.end());
    for (const TopicPartition& tp : assigned) {
      if (owned.count(tp) == 0) added[tp] = m.member_id;
    }
    for (const TopicPartition& tp : owned) {
      if (mine.count(tp) == 0) revoked.insert(tp);
    }
  }
  std::erase_if(added, [&](const auto& entry) { return revoked.count(entry.first) == 0; });
  return added;
}

class CooperativeStickyAssignor final : public PartitionAssignor {
 public:
  std::string_view name() const override { return "cooperative-sticky"; }
  std::vector<RebalanceProtocol> supported_protocols() const override {
    return {RebalanceProtocol::kCooperative, RebalanceProtocol::kEager};
  }

  GroupAssignment Assign(const std::map<std::string, int32_t>& partitions_per_topic,
                         const std::vector<GroupMemberSubscription>& members) const override {
    group::StickyOutcome outcome = group::StickyAssign(partitions_per_topic, members);
    // The constrained path knows which partitions it took from an owner; after the general one
    // they are found by comparing with what each member owned.
    std::map<TopicPartition, std::string> transferring =
        outcome.transferring ? *outcome.transferring : Transferring(members, outcome.assignment);
    for (const auto& [tp, consumer] : transferring) {
      std::vector<TopicPartition>& list = outcome.assignment.at(consumer);
      auto it = std::find(list.begin(), list.end(), tp);
      if (it != list.end()) list.erase(it);
    }
    return group::SortedAssignment(std::move(outcome.assignment));
  }
};

}  // namespace

std::unique_ptr<PartitionAssignor> MakeCooperativeStickyAssignor() {
  return std::make_unique<CooperativeStickyAssignor>();
}

}  // namespace brook
