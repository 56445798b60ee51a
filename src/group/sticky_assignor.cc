// Kafka's AbstractStickyAssignor and StickyAssignor, without rack awareness (brook's
// subscriptions carry no racks).
//
// Two paths, as in Kafka. When every member subscribes to the same topics, a constrained
// assignment: each member keeps up to its quota (minQuota = floor(P/C), maxQuota = ceil(P/C),
// P mod C members at maxQuota) of what it owned, then the rest are dealt round robin to members
// under quota. Otherwise the general algorithm: keep what is owned, give out the rest, then move
// partitions from heavier to lighter members until balanced, avoiding moves that undo earlier
// ones, and keep the result only if it is better balanced than the start.
//
// Ties are broken where Kafka breaks them, including the iteration order of Java HashMaps
// (group/java_order.h), so the answers match partition for partition.

#include "group/sticky_assignor.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "brook/detail/check.h"
#include "group/assignor_common.h"
#include "group/java_order.h"

namespace brook::group {
namespace {

using Assignment = std::map<std::string, std::vector<TopicPartition>>;

template <typename T>
bool Contains(const std::vector<T>& v, const T& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Java's List.remove(Object): the first occurrence only.
void RemoveFirst(std::vector<TopicPartition>& v, const TopicPartition& tp) {
  auto it = std::find(v.begin(), v.end(), tp);
  if (it != v.end()) v.erase(it);
}

// The claims on partitions after resolving conflicts (Kafka's allSubscriptionsEqual).
struct Claims {
  bool all_subscriptions_equal = true;
  int32_t max_generation = -1;
  Assignment owned;                                 // each member's surviving claims
  std::set<TopicPartition> claimed_by_equal_peers;  // voided: equal generations claimed it
};

Claims ResolveClaims(const std::map<std::string, int32_t>& topics,
                     const std::vector<GroupMemberSubscription>& members,
                     const std::vector<size_t>& order) {
  Claims claims;
  std::set<std::string> first_topics;
  std::map<TopicPartition, size_t> claimant;
  for (size_t i : order) {
    const GroupMemberSubscription& m = members[i];
    // Compared as Kafka does (the list's length against the first member's set of topics),
    // except that Kafka takes an empty first subscription for "none seen yet" and so calls
    // {} and {t} equal, then hands t's partitions to the member without topics.
    if (i == order.front()) {
      first_topics.insert(m.topics.begin(), m.topics.end());
    } else if (claims.all_subscriptions_equal &&
               !(m.topics.size() == first_topics.size() &&
                 std::all_of(m.topics.begin(), m.topics.end(),
                             [&](const std::string& t) { return first_topics.count(t) > 0; }))) {
      claims.all_subscriptions_equal = false;
    }
    claims.max_generation = std::max(claims.max_generation, m.generation);
    std::vector<TopicPartition>& owned = claims.owned[m.member_id];
    for (const TopicPartition& tp : m.owned_partitions) {
      auto topic = topics.find(tp.topic);
      // Kafka trusts owned partitions to exist; brook drops numbers past the topic's count.
      if (topic == topics.end() || tp.partition < 0 || tp.partition >= topic->second) continue;
      auto [it, first_claim] = claimant.try_emplace(tp, i);
      if (first_claim) {
        owned.push_back(tp);
        continue;
      }
      const GroupMemberSubscription& other = members[it->second];
      if (m.generation == other.generation) {
        // Neither can be trusted: the partition goes to whoever the assignment picks, and is
        // revoked from both first under the cooperative protocol.
        claims.claimed_by_equal_peers.insert(tp);
        RemoveFirst(claims.owned[other.member_id], tp);
        it->second = i;
      } else if (m.generation > other.generation) {
        owned.push_back(tp);
        RemoveFirst(claims.owned[other.member_id], tp);
        it->second = i;
      }
    }
  }
  return claims;
}

int32_t TotalPartitions(const std::map<std::string, int32_t>& topics) {
  int32_t total = 0;
  for (const auto& [topic, count] : topics) total += count;
  return total;
}

// All partitions of `sorted_topics`, minus `assigned` (which must be sorted in the same order
// as the walk), computed as Kafka's getUnassignedPartitions does.
template <typename Less>
std::vector<TopicPartition> Unassigned(const std::vector<TopicPartition>& all_sorted,
                                       std::vector<TopicPartition> assigned, Less less) {
  if (assigned.empty()) return all_sorted;
  std::sort(assigned.begin(), assigned.end(), less);
  std::vector<TopicPartition> unassigned;
  bool add_directly = false;
  size_t next = 0;
  for (const TopicPartition& tp : all_sorted) {
    if (add_directly || !(assigned[next] == tp)) {
      unassigned.push_back(tp);
    } else if (next + 1 < assigned.size()) {
      ++next;
    } else {
      add_directly = true;
    }
  }
  return unassigned;
}

// --- All subscriptions equal ------------------------------------------------------------------

StickyOutcome AssignConstrained(const std::map<std::string, int32_t>& topics,
                                const std::vector<GroupMemberSubscription>& members,
                                const std::vector<size_t>& order, Claims& claims) {
  const auto num_members = static_cast<int64_t>(members.size());
  const int64_t total = TotalPartitions(topics);
  const int64_t min_quota = total / num_members;
  const int64_t max_quota = (total + num_members - 1) / num_members;
  const int64_t expected_over_min = total % num_members;
  int64_t current_over_min = 0;

  StickyOutcome out;
  out.transferring.emplace();
  Assignment& assignment = out.assignment;
  for (const GroupMemberSubscription& m : members) assignment[m.member_id];
  std::vector<TopicPartition> assigned;
  std::map<TopicPartition, std::string> maybe_revoked;
  std::list<std::string> under_min;
  std::deque<std::string> exactly_min;

  // Keep owned partitions up to quota. The first members (in HashMap order) owning maxQuota or
  // more take the maxQuota slots; the rest keep minQuota.
  for (size_t i : order) {
    const std::string& consumer = members[i].member_id;
    std::vector<TopicPartition> owned = claims.owned[consumer];
    std::stable_sort(owned.begin(), owned.end(),
                     [](const TopicPartition& a, const TopicPartition& b) {
                       if (a.partition != b.partition) return a.partition < b.partition;
                       return JavaCompare(a.topic, b.topic) < 0;
                     });
    for (const TopicPartition& tp : claims.claimed_by_equal_peers) RemoveFirst(owned, tp);
    std::vector<TopicPartition>& mine = assignment[consumer];
    auto keep = [&](int64_t n) {
      auto split = owned.begin() + n;
      mine.insert(mine.end(), owned.begin(), split);
      assigned.insert(assigned.end(), owned.begin(), split);
      for (auto it = split; it != owned.end(); ++it) maybe_revoked[*it] = consumer;
    };
    const auto count = static_cast<int64_t>(owned.size());
    if (count < min_quota) {
      keep(count);
      under_min.push_back(consumer);
    } else if (count >= max_quota && current_over_min < expected_over_min) {
      ++current_over_min;
      if (current_over_min == expected_over_min) exactly_min.clear();
      keep(max_quota);
    } else {
      keep(min_quota);
      if (current_over_min < expected_over_min) exactly_min.push_back(consumer);
    }
  }

  std::vector<std::string> sorted_topics;
  std::vector<TopicPartition> all_partitions;
  for (const auto& [topic, count] : topics) sorted_topics.push_back(topic);
  std::sort(sorted_topics.begin(), sorted_topics.end(), JavaLess());
  for (const std::string& topic : sorted_topics) {
    for (int32_t p = 0; p < topics.at(topic); ++p) all_partitions.push_back({topic, p});
  }
  std::vector<TopicPartition> unassigned =
      Unassigned(all_partitions, assigned, [](const TopicPartition& a, const TopicPartition& b) {
        int c = JavaCompare(a.topic, b.topic);
        return c != 0 ? c < 0 : a.partition < b.partition;
      });

  under_min.sort(JavaLess());
  std::sort(exactly_min.begin(), exactly_min.end(), JavaLess());

  auto assign_new = [&](const TopicPartition& tp, const std::string& consumer) {
    std::vector<TopicPartition>& mine = assignment[consumer];
    mine.push_back(tp);
    auto revoked = maybe_revoked.find(tp);
    if ((revoked != maybe_revoked.end() && revoked->second != consumer) ||
        claims.claimed_by_equal_peers.count(tp) > 0) {
      (*out.transferring)[tp] = consumer;
    }
    return static_cast<int64_t>(mine.size());
  };

  // Deal the rest: round robin over members under minQuota (sorted), then, once none is left,
  // one each to members at exactly minQuota until P mod C members have maxQuota.
  auto cursor = under_min.begin();
  auto last = under_min.end();
  for (const TopicPartition& tp : unassigned) {
    std::string consumer;
    bool from_under_min = true;
    if (cursor != under_min.end()) {
      last = cursor++;
      consumer = *last;
    } else if (under_min.empty()) {
      // Kafka throws here; the quotas make it unreachable.
      BROOK_CHECK(!exactly_min.empty());
      consumer = exactly_min.front();
      exactly_min.pop_front();
      from_under_min = false;
    } else {
      cursor = under_min.begin();
      last = cursor++;
      consumer = *last;
    }
    int64_t count = assign_new(tp, consumer);
    if (count == min_quota) {
      BROOK_CHECK(from_under_min);
      under_min.erase(last);
      exactly_min.push_back(consumer);
    } else if (count == max_quota) {
      ++current_over_min;
    }
  }

  // Kafka's verifyUnfilledMembers: a member still under minQuota here is a bug in the above.
  if (!under_min.empty()) {
    BROOK_CHECK(current_over_min == expected_over_min);
    for (const std::string& m : under_min) {
      BROOK_CHECK(static_cast<int64_t>(assignment[m].size()) == min_quota);
    }
  }
  return out;
}

// --- General case -----------------------------------------------------------------------------

// Records which partitions moved between which members during one assignment, so that a move
// back (b -> a after a -> b) moves the very partition that came over rather than another one
// (Kafka's PartitionMovements).
class PartitionMovements {
 public:
  void Move(const TopicPartition& tp, const std::string& old_consumer,
            const std::string& new_consumer) {
    if (moves_.count(tp) > 0) {
      Pair existing = RemoveRecord(tp);
      if (existing.src != new_consumer) AddRecord(tp, {existing.src, new_consumer});
    } else {
      AddRecord(tp, {old_consumer, new_consumer});
    }
  }

  TopicPartition ActualPartitionToMove(const TopicPartition& tp, std::string old_consumer,
                                       const std::string& new_consumer) const {
    auto topic = by_topic_.find(tp.topic);
    if (topic == by_topic_.end()) return tp;
    if (auto move = moves_.find(tp); move != moves_.end()) old_consumer = move->second.src;
    auto reverse = topic->second.find(Pair{new_consumer, old_consumer});
    if (reverse == topic->second.end()) return tp;
    return reverse->second.First();
  }

 private:
  struct Pair {
    std::string src;
    std::string dst;
    friend auto operator<=>(const Pair&, const Pair&) = default;
  };

  Pair RemoveRecord(const TopicPartition& tp) {
    auto move = moves_.find(tp);
    Pair pair = move->second;
    moves_.erase(move);
    auto& pairs = by_topic_[tp.topic];
    pairs[pair].Remove(tp);
    if (pairs[pair].empty()) pairs.erase(pair);
    if (pairs.empty()) by_topic_.erase(tp.topic);
    return pair;
  }

  void AddRecord(const TopicPartition& tp, Pair pair) {
    moves_[tp] = pair;
    by_topic_[tp.topic][std::move(pair)].Add(tp);
  }

  std::map<std::string, std::map<Pair, JavaPartitionSet>> by_topic_;
  std::map<TopicPartition, Pair> moves_;
};

class GeneralAssignment {
 public:
  GeneralAssignment(const std::map<std::string, int32_t>& topics,
                    const std::vector<GroupMemberSubscription>& members,
                    const std::vector<size_t>& order, Claims& claims)
      : topics_(topics),
        members_(members),
        order_(order),
        max_generation_(claims.max_generation),
        total_partitions_(TotalPartitions(topics)),
        current_(std::move(claims.owned)),
        sorted_consumers_(BySizeThenId{&current_}) {
    for (const auto& [topic, count] : topics_) topic_consumers_[topic];
    for (size_t i : order_) {
      const GroupMemberSubscription& m = members_[i];
      subscription_[m.member_id] = &m;
      std::vector<std::string>& mine = consumer_topics_[m.member_id];
      for (const std::string& topic : m.topics) {
        if (topics_.count(topic) == 0) continue;
        mine.push_back(topic);
        topic_consumers_[topic].push_back(m.member_id);
      }
      current_[m.member_id];
    }
    for (const auto& [consumer, partitions] : current_) {
      for (const TopicPartition& tp : partitions) partition_consumer_[tp] = consumer;
    }
    std::vector<std::string> sorted_topics;
    for (const auto& [topic, count] : topics_) sorted_topics.push_back(topic);
    std::sort(sorted_topics.begin(), sorted_topics.end(),
              [&](const auto& a, const auto& b) { return TopicLess(a, b); });
    for (const std::string& topic : sorted_topics) {
      for (int32_t p = 0; p < topics_.at(topic); ++p) sorted_all_partitions_.push_back({topic, p});
    }
  }

  Assignment Build() {
    RememberOlderGenerations();
    std::vector<TopicPartition> assigned = KeepOwnedPartitions();
    std::vector<TopicPartition> unassigned =
        Unassigned(sorted_all_partitions_, assigned, [&](const auto& a, const auto& b) {
          if (a.topic != b.topic) return TopicLess(a.topic, b.topic);
          return a.partition < b.partition;
        });
    for (const auto& [consumer, partitions] : current_) sorted_consumers_.insert(consumer);
    Balance(unassigned);
    return std::move(current_);
  }

 private:
  // Kafka's SubscriptionComparator: fewest partitions first, then member id.
  struct BySizeThenId {
    const Assignment* assignment;
    bool operator()(const std::string& a, const std::string& b) const {
      size_t sa = assignment->at(a).size();
      size_t sb = assignment->at(b).size();
      if (sa != sb) return sa < sb;
      return JavaCompare(a, b) < 0;
    }
  };

  // Kafka's TopicComparator: topics with fewer potential consumers first, then by name.
  bool TopicLess(const std::string& a, const std::string& b) const {
    size_t ca = topic_consumers_.at(a).size();
    size_t cb = topic_consumers_.at(b).size();
    if (ca != cb) return ca < cb;
    return JavaCompare(a, b) < 0;
  }

  size_t Size(const std::string& consumer) const { return current_.at(consumer).size(); }

  bool Subscribes(const std::string& consumer, const std::string& topic) const {
    auto it = consumer_topics_.find(consumer);
    return it != consumer_topics_.end() && Contains(it->second, topic);
  }

  // Members of an older generation than the newest report partitions that may have moved since;
  // they are remembered (newest claim per partition) as where each partition was before.
  void RememberOlderGenerations() {
    for (size_t i : order_) {
      const GroupMemberSubscription& m = members_[i];
      if (m.generation >= max_generation_) continue;
      for (const TopicPartition& tp : m.owned_partitions) {
        auto [it, inserted] = previous_owner_.try_emplace(tp, m.member_id, m.generation);
        if (!inserted && m.generation > it->second.second) it->second = {m.member_id, m.generation};
      }
    }
  }

  std::vector<TopicPartition> KeepOwnedPartitions() {
    std::vector<TopicPartition> assigned;
    for (auto& [consumer, partitions] : current_) {
      const GroupMemberSubscription& sub = *subscription_.at(consumer);
      for (auto it = partitions.begin(); it != partitions.end();) {
        if (topic_consumers_.count(it->topic) == 0) {
          partition_consumer_.erase(*it);
          it = partitions.erase(it);
        } else if (!Contains(sub.topics, it->topic)) {
          // Kafka leaves partition_consumer_ pointing at the old owner until it is reassigned.
          it = partitions.erase(it);
          revocation_required_ = true;
        } else {
          assigned.push_back(*it);
          ++it;
        }
      }
    }
    return assigned;
  }

  size_t MaxAssignmentSize(const std::vector<std::string>& subscribed) const {
    if (subscribed.size() == topics_.size()) return static_cast<size_t>(total_partitions_);
    size_t size = 0;
    for (const std::string& topic : subscribed) size += static_cast<size_t>(topics_.at(topic));
    return size;
  }

  bool CanTopicMove(const std::string& topic) const {
    return topic_consumers_.at(topic).size() >= 2;
  }

  bool CanConsumerTakePart(const std::string& consumer) const {
    const std::vector<TopicPartition>& partitions = current_.at(consumer);
    if (partitions.size() < MaxAssignmentSize(consumer_topics_.at(consumer))) return true;
    return std::any_of(partitions.begin(), partitions.end(),
                       [&](const TopicPartition& tp) { return CanTopicMove(tp.topic); });
  }

  // Balanced: sizes within one, or no member could take a partition from one with 2+ more.
  bool IsBalanced() const {
    size_t min = Size(*sorted_consumers_.begin());
    size_t max = Size(*sorted_consumers_.rbegin());
    if (min + 1 >= max) return true;
    for (const std::string& consumer : sorted_consumers_) {
      size_t count = Size(consumer);
      const std::vector<std::string>& subscribed = consumer_topics_.at(consumer);
      if (count == MaxAssignmentSize(subscribed)) continue;
      for (const std::string& topic : subscribed) {
        for (int32_t p = 0; p < topics_.at(topic); ++p) {
          auto owner = partition_consumer_.find({topic, p});
          if (owner == partition_consumer_.end() || owner->second == consumer) continue;
          auto other = current_.find(owner->second);
          if (other != current_.end() && count + 1 < other->second.size()) return false;
        }
      }
    }
    return true;
  }

  static int64_t BalanceScore(const Assignment& assignment) {
    std::vector<int64_t> sizes;
    for (const auto& [consumer, partitions] : assignment) {
      sizes.push_back(static_cast<int64_t>(partitions.size()));
    }
    int64_t score = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      for (size_t j = i + 1; j < sizes.size(); ++j) score += std::abs(sizes[i] - sizes[j]);
    }
    return score;
  }

  // Gives each partition to the lightest member subscribed to its topic.
  void AssignToLightest(const std::vector<TopicPartition>& partitions) {
    for (const TopicPartition& tp : partitions) {
      if (topic_consumers_.at(tp.topic).empty()) continue;
      for (auto it = sorted_consumers_.begin(); it != sorted_consumers_.end(); ++it) {
        if (!Subscribes(*it, tp.topic)) continue;
        std::string consumer = *it;
        sorted_consumers_.erase(it);
        current_[consumer].push_back(tp);
        partition_consumer_[tp] = consumer;
        sorted_consumers_.insert(consumer);
        break;
      }
    }
  }

  void Balance(std::vector<TopicPartition>& unassigned) {
    bool initializing = current_.at(*sorted_consumers_.rbegin()).empty();
    AssignToLightest(unassigned);

    // Partitions of topics only one member can take never move; nor do members that cannot
    // take part in a move.
    auto fixed_topic = [&](const TopicPartition& tp) { return !CanTopicMove(tp.topic); };
    std::erase_if(sorted_all_partitions_, fixed_topic);
    std::erase_if(unassigned, fixed_topic);
    Assignment fixed;
    for (const auto& [consumer, subscribed] : consumer_topics_) {
      if (CanConsumerTakePart(consumer)) continue;
      sorted_consumers_.erase(consumer);
      fixed[consumer] = std::move(current_.at(consumer));
      current_.erase(consumer);
    }

    Assignment before = current_;
    std::map<TopicPartition, std::string> before_owners = partition_consumer_;
    if (!revocation_required_) Reassign(unassigned);
    bool reassigned = Reassign(sorted_all_partitions_);
    // Moves that leave the group no better balanced are undone, unless nothing was owned.
    if (!initializing && reassigned && BalanceScore(current_) >= BalanceScore(before)) {
      sorted_consumers_.clear();  // its order reads current_, about to be replaced
      current_ = std::move(before);
      partition_consumer_ = std::move(before_owners);
    }
    for (auto& [consumer, partitions] : fixed) current_[consumer] = std::move(partitions);
  }

  bool Reassign(const std::vector<TopicPartition>& partitions) {
    bool reassigned = false;
    bool modified = false;
    do {
      modified = false;
      for (size_t k = 0; k < partitions.size() && !IsBalanced(); ++k) {
        const TopicPartition& tp = partitions[k];
        const std::string consumer = partition_consumer_.at(tp);
        auto previous = previous_owner_.find(tp);
        if (previous != previous_owner_.end()) {
          const std::string& before = previous->second.first;
          // Kafka does not check that the previous owner may still take it; brook does, so a
          // stale claim never moves a partition to a member not subscribed to its topic.
          if (current_.count(before) > 0 && Subscribes(before, tp.topic) &&
              Size(consumer) > Size(before) + 1) {
            MovePartition(tp, before);
            reassigned = modified = true;
            continue;
          }
        }
        for (const std::string& other : topic_consumers_.at(tp.topic)) {
          if (current_.count(other) > 0 && Size(consumer) > Size(other) + 1) {
            MoveToLightest(tp);
            reassigned = modified = true;
            break;
          }
        }
      }
    } while (modified);
    return reassigned;
  }

  void MoveToLightest(const TopicPartition& tp) {
    for (const std::string& consumer : sorted_consumers_) {
      if (Subscribes(consumer, tp.topic)) {
        MovePartition(tp, std::string(consumer));
        return;
      }
    }
    BROOK_CHECK(false && "a movable partition has a member to move to");
  }

  void MovePartition(const TopicPartition& tp, const std::string& new_consumer) {
    TopicPartition moved =
        movements_.ActualPartitionToMove(tp, partition_consumer_.at(tp), new_consumer);
    const std::string old_consumer = partition_consumer_.at(moved);
    sorted_consumers_.erase(old_consumer);
    sorted_consumers_.erase(new_consumer);
    movements_.Move(moved, old_consumer, new_consumer);
    RemoveFirst(current_.at(old_consumer), moved);
    current_.at(new_consumer).push_back(moved);
    partition_consumer_[moved] = new_consumer;
    sorted_consumers_.insert(new_consumer);
    sorted_consumers_.insert(old_consumer);
  }

  const std::map<std::string, int32_t>& topics_;
  const std::vector<GroupMemberSubscription>& members_;
  const std::vector<size_t>& order_;
  const int32_t max_generation_;
  const int32_t total_partitions_;
  Assignment current_;
  std::set<std::string, BySizeThenId> sorted_consumers_;
  std::map<std::string, const GroupMemberSubscription*> subscription_;
  std::map<std::string, std::vector<std::string>> topic_consumers_;
  std::map<std::string, std::vector<std::string>> consumer_topics_;
  std::map<TopicPartition, std::string> partition_consumer_;
  std::vector<TopicPartition> sorted_all_partitions_;
  std::map<TopicPartition, std::pair<std::string, int32_t>> previous_owner_;
  PartitionMovements movements_;
  bool revocation_required_ = false;
};

class StickyAssignor final : public PartitionAssignor {
 public:
  std::string_view name() const override { return "sticky"; }
  std::vector<RebalanceProtocol> supported_protocols() const override {
    return {RebalanceProtocol::kEager};
  }
  GroupAssignment Assign(const std::map<std::string, int32_t>& partitions_per_topic,
                         const std::vector<GroupMemberSubscription>& members) const override {
    return SortedAssignment(StickyAssign(partitions_per_topic, members).assignment);
  }
};

}  // namespace

StickyOutcome StickyAssign(const std::map<std::string, int32_t>& partitions_per_topic,
                           const std::vector<GroupMemberSubscription>& members) {
  if (members.empty())
    return {.assignment = {}, .transferring = std::map<TopicPartition, std::string>()};
  std::map<std::string, int32_t> topics = AssignableTopics(partitions_per_topic, members);
  std::vector<size_t> order = SubscriptionMapOrder(members);
  Claims claims = ResolveClaims(topics, members, order);
  if (claims.all_subscriptions_equal) return AssignConstrained(topics, members, order, claims);
  return {.assignment = GeneralAssignment(topics, members, order, claims).Build(),
          .transferring = std::nullopt};
}

}  // namespace brook::group

namespace brook {

std::unique_ptr<PartitionAssignor> MakeStickyAssignor() {
  return std::make_unique<group::StickyAssignor>();
}

}  // namespace brook
