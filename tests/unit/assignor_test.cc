// Consumer-group assignors: Kafka's own test cases (clients/src/test/java/org/apache/kafka/
// clients/consumer/*AssignorTest.java) as expectations, and properties over random groups.

#include "brook/assignor.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "support/catch.h"
#include "support/seed.h"

namespace brook {
namespace {

using Partitions = std::vector<TopicPartition>;
using Members = std::vector<GroupMemberSubscription>;

TopicPartition Tp(const std::string& topic, int32_t partition) { return {topic, partition}; }

GroupMemberSubscription Member(std::string id, std::vector<std::string> topics,
                               Partitions owned = {}, int32_t generation = -1) {
  return {.member_id = std::move(id),
          .topics = std::move(topics),
          .owned_partitions = std::move(owned),
          .generation = generation};
}

GroupMemberSubscription Static(std::string id, std::string instance,
                               std::vector<std::string> topics) {
  return {.member_id = std::move(id),
          .group_instance_id = std::move(instance),
          .topics = std::move(topics)};
}

Partitions Sorted(Partitions p) {
  std::sort(p.begin(), p.end());
  return p;
}

// --- range: RangeAssignorTest ------------------------------------------------------------------

TEST_CASE("Range: one consumer, no topic or a nonexistent one, gets nothing", "[assignor]") {
  // RangeAssignorTest.testOneConsumerNoTopic / testOneConsumerNonexistentTopic
  auto range = MakeRangeAssignor();
  CHECK(range->Assign({}, {Member("c", {})}) == GroupAssignment{{"c", {}}});
  CHECK(range->Assign({}, {Member("c", {"topic"})}) == GroupAssignment{{"c", {}}});
}

TEST_CASE("Range: only subscribed topics are assigned", "[assignor]") {
  // RangeAssignorTest.testOneConsumerOneTopic / testOnlyAssignsPartitionsFromSubscribedTopics /
  // testOneConsumerMultipleTopics
  auto range = MakeRangeAssignor();
  CHECK(range->Assign({{"topic", 3}, {"other", 3}}, {Member("c", {"topic"})})["c"] ==
        Partitions{Tp("topic", 0), Tp("topic", 1), Tp("topic", 2)});
  CHECK(range->Assign({{"topic1", 1}, {"topic2", 2}}, {Member("c", {"topic1", "topic2"})})["c"] ==
        Partitions{Tp("topic1", 0), Tp("topic2", 0), Tp("topic2", 1)});
}

TEST_CASE("Range: two consumers, one topic", "[assignor]") {
  // RangeAssignorTest.testTwoConsumersOneTopicOnePartition / testTwoConsumersOneTopicTwoPartitions
  auto range = MakeRangeAssignor();
  Members m{Member("consumer1", {"topic"}), Member("consumer2", {"topic"})};
  CHECK(range->Assign({{"topic", 1}}, m) ==
        GroupAssignment{{"consumer1", {Tp("topic", 0)}}, {"consumer2", {}}});
  CHECK(range->Assign({{"topic", 2}}, m) ==
        GroupAssignment{{"consumer1", {Tp("topic", 0)}}, {"consumer2", {Tp("topic", 1)}}});
}

TEST_CASE("Range: mixed subscriptions", "[assignor]") {
  // RangeAssignorTest.testMultipleConsumersMixedTopics
  auto a = MakeRangeAssignor()->Assign(
      {{"topic1", 3}, {"topic2", 2}},
      {Member("consumer1", {"topic1"}), Member("consumer2", {"topic1", "topic2"}),
       Member("consumer3", {"topic1"})});
  CHECK(a["consumer1"] == Partitions{Tp("topic1", 0)});
  CHECK(a["consumer2"] == Partitions{Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 1)});
  CHECK(a["consumer3"] == Partitions{Tp("topic1", 2)});
}

TEST_CASE("Range: co-partitions topics of equal size", "[assignor]") {
  // RangeAssignorTest.testTwoConsumersTwoTopicsSixPartitions
  auto a = MakeRangeAssignor()->Assign(
      {{"topic1", 3}, {"topic2", 3}},
      {Member("consumer1", {"topic1", "topic2"}), Member("consumer2", {"topic1", "topic2"})});
  CHECK(a["consumer1"] ==
        Partitions{Tp("topic1", 0), Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 1)});
  CHECK(a["consumer2"] == Partitions{Tp("topic1", 2), Tp("topic2", 2)});
}

TEST_CASE("Range: static members come first, ordered by instance id", "[assignor]") {
  // RangeAssignorTest.testTwoStaticConsumersTwoTopicsSixPartitions /
  // testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions
  auto range = MakeRangeAssignor();
  // Member ids in the opposite order of instance ids: the instance ids decide.
  auto a = range->Assign({{"topic1", 3}, {"topic2", 3}},
                         {Static("consumer1", "instance2", {"topic1", "topic2"}),
                          Static("consumer2", "instance1", {"topic1", "topic2"})});
  CHECK(a["consumer2"] ==
        Partitions{Tp("topic1", 0), Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 1)});
  CHECK(a["consumer1"] == Partitions{Tp("topic1", 2), Tp("topic2", 2)});
  // A static member before a dynamic one whose member id sorts first.
  auto b = range->Assign({{"topic1", 3}, {"topic2", 3}},
                         {Member("consumer1", {"topic1", "topic2"}),
                          Static("consumer2", "instance2", {"topic1", "topic2"})});
  CHECK(b["consumer2"] ==
        Partitions{Tp("topic1", 0), Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 1)});
  CHECK(b["consumer1"] == Partitions{Tp("topic1", 2), Tp("topic2", 2)});
}

TEST_CASE("Range: static assignment survives member id changes", "[assignor]") {
  // RangeAssignorTest.testStaticMemberRangeAssignmentPersistentAfterMemberIdChanges
  auto range = MakeRangeAssignor();
  std::map<std::string, int32_t> topics{{"topic1", 5}, {"topic2", 5}};
  Members before{Static("A", "instance1", {"topic1", "topic2"}),
                 Static("B", "instance2", {"topic1", "topic2"}),
                 Static("C", "instance3", {"topic1", "topic2"})};
  Members after{Static("Z", "instance1", {"topic1", "topic2"}),
                Static("Y", "instance2", {"topic1", "topic2"}),
                Static("X", "instance3", {"topic1", "topic2"})};
  auto a = range->Assign(topics, before);
  auto b = range->Assign(topics, after);
  CHECK(a["A"] == b["Z"]);
  CHECK(a["B"] == b["Y"]);
  CHECK(a["C"] == b["X"]);
}

// --- roundrobin: RoundRobinAssignorTest --------------------------------------------------------

TEST_CASE("RoundRobin: mixed subscriptions skip members not subscribed", "[assignor]") {
  // RoundRobinAssignorTest.testMultipleConsumersMixedTopics
  auto a = MakeRoundRobinAssignor()->Assign(
      {{"topic1", 3}, {"topic2", 2}},
      {Member("consumer1", {"topic1"}), Member("consumer2", {"topic1", "topic2"}),
       Member("consumer3", {"topic1"})});
  CHECK(a["consumer1"] == Partitions{Tp("topic1", 0)});
  CHECK(a["consumer2"] == Partitions{Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 1)});
  CHECK(a["consumer3"] == Partitions{Tp("topic1", 2)});
}

TEST_CASE("RoundRobin: two consumers, two topics", "[assignor]") {
  // RoundRobinAssignorTest.testTwoDynamicConsumersTwoTopicsSixPartitions /
  // testOneConsumerNoTopic / testTwoConsumersOneTopicTwoPartitions
  auto rr = MakeRoundRobinAssignor();
  auto a = rr->Assign({{"topic1", 3}, {"topic2", 3}}, {Member("consumer1", {"topic1", "topic2"}),
                                                       Member("consumer2", {"topic1", "topic2"})});
  CHECK(a["consumer1"] == Partitions{Tp("topic1", 0), Tp("topic1", 2), Tp("topic2", 1)});
  CHECK(a["consumer2"] == Partitions{Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 2)});
  CHECK(rr->Assign({}, {Member("c", {})}) == GroupAssignment{{"c", {}}});
  CHECK(rr->Assign({{"topic", 2}},
                   {Member("consumer1", {"topic"}), Member("consumer2", {"topic"})}) ==
        GroupAssignment{{"consumer1", {Tp("topic", 0)}}, {"consumer2", {Tp("topic", 1)}}});
}

TEST_CASE("RoundRobin: static members ordered by instance id", "[assignor]") {
  // RoundRobinAssignorTest.testTwoStaticConsumersTwoTopicsSixPartitions /
  // testOneStaticConsumerAndOneDynamicConsumerTwoTopicsSixPartitions
  auto rr = MakeRoundRobinAssignor();
  auto a = rr->Assign({{"topic1", 3}, {"topic2", 3}},
                      {Static("consumer1", "instance2", {"topic1", "topic2"}),
                       Static("consumer2", "instance1", {"topic1", "topic2"})});
  CHECK(a["consumer2"] == Partitions{Tp("topic1", 0), Tp("topic1", 2), Tp("topic2", 1)});
  CHECK(a["consumer1"] == Partitions{Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 2)});
  auto b = rr->Assign({{"topic1", 3}, {"topic2", 3}},
                      {Member("consumer1", {"topic1", "topic2"}),
                       Static("consumer2", "instance2", {"topic1", "topic2"})});
  CHECK(b["consumer2"] == Partitions{Tp("topic1", 0), Tp("topic1", 2), Tp("topic2", 1)});
  CHECK(b["consumer1"] == Partitions{Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 2)});
}

// --- sticky: AbstractStickyAssignorTest / StickyAssignorTest ------------------------------------

TEST_CASE("Sticky: fresh assignments", "[assignor]") {
  auto sticky = MakeStickyAssignor();
  // testOneConsumerMultipleTopics
  CHECK(sticky->Assign({{"topic1", 1}, {"topic2", 2}}, {Member("c", {"topic1", "topic2"})})["c"] ==
        Partitions{Tp("topic1", 0), Tp("topic2", 0), Tp("topic2", 1)});
  // testOnlyAssignsPartitionsFromSubscribedTopics
  CHECK(sticky->Assign({{"topic", 2}},
                       {Member("c", {"topic"}, {Tp("topic", 0), Tp("topic", 1), Tp("other", 0)},
                               1)})["c"] == Partitions{Tp("topic", 0), Tp("topic", 1)});
  // testTwoConsumersOneTopicTwoPartitions
  CHECK(sticky->Assign({{"topic", 2}},
                       {Member("consumer1", {"topic"}), Member("consumer2", {"topic"})}) ==
        GroupAssignment{{"consumer1", {Tp("topic", 0)}}, {"consumer2", {Tp("topic", 1)}}});
  // testTwoConsumersTwoTopicsSixPartitions
  auto a = sticky->Assign(
      {{"topic1", 3}, {"topic2", 3}},
      {Member("consumer1", {"topic1", "topic2"}), Member("consumer2", {"topic1", "topic2"})});
  CHECK(a["consumer1"] == Partitions{Tp("topic1", 0), Tp("topic1", 2), Tp("topic2", 1)});
  CHECK(a["consumer2"] == Partitions{Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 2)});
  // testMultipleConsumersMixedTopicSubscriptions (general path)
  auto b =
      sticky->Assign({{"topic1", 3}, {"topic2", 2}},
                     {Member("consumer1", {"topic1"}), Member("consumer2", {"topic1", "topic2"}),
                      Member("consumer3", {"topic1"})});
  CHECK(b["consumer1"] == Partitions{Tp("topic1", 0), Tp("topic1", 2)});
  CHECK(b["consumer2"] == Partitions{Tp("topic2", 0), Tp("topic2", 1)});
  CHECK(b["consumer3"] == Partitions{Tp("topic1", 1)});
}

TEST_CASE("Sticky: owners keep up to their quota", "[assignor]") {
  auto sticky = MakeStickyAssignor();
  std::map<std::string, int32_t> topics{{"topic1", 2}, {"topic2", 3}};
  std::vector<std::string> both{"topic1", "topic2"};
  // testConsumerOwningMinQuotaExpectedMaxQuota
  auto a =
      sticky->Assign(topics, {Member("consumer1", both, {Tp("topic1", 0), Tp("topic2", 1)}, 1),
                              Member("consumer2", both, {Tp("topic1", 1), Tp("topic2", 2)}, 1)});
  CHECK(a["consumer1"] == Sorted({Tp("topic1", 0), Tp("topic2", 1), Tp("topic2", 0)}));
  CHECK(a["consumer2"] == Partitions{Tp("topic1", 1), Tp("topic2", 2)});
  // testAllConsumersAreUnderMinQuota
  auto b = sticky->Assign(
      topics, {Member("consumer1", both, {Tp("topic1", 0)}, 1),
               Member("consumer2", both, {Tp("topic1", 1)}, 1), Member("consumer3", both, {}, 1)});
  CHECK(b["consumer1"] == Partitions{Tp("topic1", 0), Tp("topic2", 1)});
  CHECK(b["consumer2"] == Partitions{Tp("topic1", 1), Tp("topic2", 2)});
  CHECK(b["consumer3"] == Partitions{Tp("topic2", 0)});
  // testAllConsumersReachExpectedQuotaAndAreConsideredFilled
  auto c = sticky->Assign(
      {{"topic", 4}},
      {Member("consumer1", {"topic"}, {Tp("topic", 0), Tp("topic", 1)}, 1),
       Member("consumer2", {"topic"}, {Tp("topic", 2)}, 1), Member("consumer3", {"topic"}, {}, 1)});
  CHECK(c["consumer1"] == Partitions{Tp("topic", 0), Tp("topic", 1)});
  CHECK(c["consumer2"] == Partitions{Tp("topic", 2)});
  CHECK(c["consumer3"] == Partitions{Tp("topic", 3)});
}

TEST_CASE("Sticky: which owner keeps the extra partition follows Kafka's HashMap order",
          "[assignor]") {
  // testMaxQuotaConsumerMoreThanNumExpectedMaxCapacityMembers: both own maxQuota (2) but only
  // one may keep it; Kafka's HashMap visits consumer2 first, so consumer2 keeps both.
  std::vector<std::string> both{"topic1", "topic2"};
  Members m{Member("consumer1", both, {Tp("topic1", 0), Tp("topic2", 0)}, 1),
            Member("consumer2", both, {Tp("topic1", 1), Tp("topic2", 1)}, 1),
            Member("consumer3", both, {}, 1)};
  auto a = MakeStickyAssignor()->Assign({{"topic1", 2}, {"topic2", 2}}, m);
  CHECK(a["consumer1"] == Partitions{Tp("topic1", 0)});
  CHECK(a["consumer2"] == Partitions{Tp("topic1", 1), Tp("topic2", 1)});
  CHECK(a["consumer3"] == Partitions{Tp("topic2", 0)});
  // Cooperatively, topic2-0 moves from consumer1 to consumer3: revoked first, assigned later.
  auto c = MakeCooperativeStickyAssignor()->Assign({{"topic1", 2}, {"topic2", 2}}, m);
  CHECK(c["consumer3"].empty());
  CHECK(c["consumer1"] == Partitions{Tp("topic1", 0)});
}

TEST_CASE("Sticky: adding and removing consumers", "[assignor]") {
  // testAddRemoveConsumerOneTopic
  auto sticky = MakeStickyAssignor();
  auto a = sticky->Assign({{"topic", 3}}, {Member("consumer1", {"topic"})});
  REQUIRE(a["consumer1"] == Partitions{Tp("topic", 0), Tp("topic", 1), Tp("topic", 2)});
  a = sticky->Assign({{"topic", 3}}, {Member("consumer1", {"topic"}, a["consumer1"], 1),
                                      Member("consumer2", {"topic"}, {}, 1)});
  CHECK(a["consumer1"] == Partitions{Tp("topic", 0), Tp("topic", 1)});
  CHECK(a["consumer2"] == Partitions{Tp("topic", 2)});
  a = sticky->Assign({{"topic", 3}}, {Member("consumer2", {"topic"}, a["consumer2"], 1)});
  CHECK(a["consumer2"] == Partitions{Tp("topic", 0), Tp("topic", 1), Tp("topic", 2)});

  // testAddRemoveTwoConsumersTwoTopics
  std::map<std::string, int32_t> topics{{"topic1", 3}, {"topic2", 4}};
  std::vector<std::string> both{"topic1", "topic2"};
  auto b = sticky->Assign(topics, {Member("consumer1", both), Member("consumer2", both)});
  CHECK(b["consumer1"] ==
        Partitions{Tp("topic1", 0), Tp("topic1", 2), Tp("topic2", 1), Tp("topic2", 3)});
  CHECK(b["consumer2"] == Partitions{Tp("topic1", 1), Tp("topic2", 0), Tp("topic2", 2)});
  Members four{Member("consumer1", both, b["consumer1"], 1),
               Member("consumer2", both, b["consumer2"], 1), Member("consumer3", both, {}, 1),
               Member("consumer4", both, {}, 1)};
  b = sticky->Assign(topics, four);
  CHECK(b["consumer1"] == Partitions{Tp("topic1", 0), Tp("topic2", 1)});
  CHECK(b["consumer2"] == Sorted({Tp("topic2", 0), Tp("topic1", 1)}));
  CHECK(b["consumer3"] == Partitions{Tp("topic1", 2), Tp("topic2", 3)});
  CHECK(b["consumer4"] == Partitions{Tp("topic2", 2)});
  // Cooperatively, the three partitions that change owner are held back.
  auto c = MakeCooperativeStickyAssignor()->Assign(topics, four);
  CHECK(c["consumer3"].empty());
  CHECK(c["consumer4"].empty());
  b = sticky->Assign(topics, {Member("consumer3", both, b["consumer3"], 1),
                              Member("consumer4", both, b["consumer4"], 1)});
  CHECK(b["consumer3"] ==
        Sorted({Tp("topic1", 2), Tp("topic2", 3), Tp("topic1", 0), Tp("topic2", 1)}));
  CHECK(b["consumer4"] == Sorted({Tp("topic2", 2), Tp("topic1", 1), Tp("topic2", 0)}));
}

TEST_CASE("Sticky: conflicting claims are resolved by generation", "[assignor]") {
  auto sticky = MakeStickyAssignor();
  std::map<std::string, int32_t> topics{{"topic", 3}, {"topic2", 3}};
  std::vector<std::string> both{"topic", "topic2"};
  Partitions claimed{Tp("topic", 0), Tp("topic", 2), Tp("topic2", 1)};
  // testOwnedPartitionsAreInvalidatedForConsumerWithStaleGeneration / ...WithNoGeneration
  for (int32_t stale : {9, -1}) {
    auto a = sticky->Assign(topics, {Member("consumer1", both, claimed, 10),
                                     Member("consumer2", both, claimed, stale)});
    CHECK(a["consumer1"] == Sorted(claimed));
    CHECK(a["consumer2"] == Sorted({Tp("topic", 1), Tp("topic2", 0), Tp("topic2", 2)}));
  }
  // testOwnedPartitionsAreInvalidatedForConsumerWithMultipleGeneration
  auto b = sticky->Assign(
      topics, {Member("consumer1", both, {Tp("topic", 0), Tp("topic2", 1), Tp("topic", 1)}, 10),
               Member("consumer2", both, {Tp("topic", 0), Tp("topic2", 1), Tp("topic2", 2)}, 8)});
  CHECK(b["consumer1"] == Sorted({Tp("topic", 0), Tp("topic2", 1), Tp("topic", 1)}));
  CHECK(b["consumer2"] == Sorted({Tp("topic", 2), Tp("topic2", 2), Tp("topic2", 0)}));
  // testEnsurePartitionsAssignedToHighestGeneration
  std::vector<std::string> three{"topic", "topic2", "topic3"};
  auto c = sticky->Assign(
      {{"topic", 3}, {"topic2", 3}, {"topic3", 3}},
      {Member("consumer1", three, {Tp("topic", 0), Tp("topic2", 0), Tp("topic3", 0)}, 10),
       Member("consumer2", three, {Tp("topic", 1), Tp("topic2", 1), Tp("topic3", 1)}, 9),
       Member("consumer3", three, {Tp("topic2", 1), Tp("topic3", 0), Tp("topic3", 2)}, 8)});
  CHECK(c["consumer1"] == Sorted({Tp("topic", 0), Tp("topic2", 0), Tp("topic3", 0)}));
  CHECK(c["consumer2"] == Sorted({Tp("topic", 1), Tp("topic2", 1), Tp("topic3", 1)}));
  CHECK(c["consumer3"] == Sorted({Tp("topic", 2), Tp("topic2", 2), Tp("topic3", 2)}));
  // testNoReassignmentOnCurrentMembers
  std::vector<std::string> four{"topic", "topic2", "topic3", "topic1"};
  auto d = sticky->Assign(
      {{"topic", 3}, {"topic1", 3}, {"topic2", 3}, {"topic3", 3}},
      {Member("consumer1", four, {}, -1),
       Member("consumer2", four, {Tp("topic", 0), Tp("topic2", 0), Tp("topic1", 0)}, 9),
       Member("consumer3", four, {Tp("topic3", 2), Tp("topic2", 2), Tp("topic1", 1)}, 8),
       Member("consumer4", four, {Tp("topic3", 1), Tp("topic", 1), Tp("topic", 2)}, 7)});
  CHECK(d["consumer1"] == Sorted({Tp("topic1", 2), Tp("topic2", 1), Tp("topic3", 0)}));
}

TEST_CASE("Sticky and cooperative: equal-generation claims void both", "[assignor]") {
  // StickyAssignorTest / CooperativeStickyAssignorTest
  //   .testAllConsumersHaveOwnedPartitionInvalidatedWhenClaimedByMultipleConsumersInSameGeneration*
  for (int32_t count : {3, 4}) {
    CAPTURE(count);
    Members m{Member("consumer1", {"topic"}, {Tp("topic", 0), Tp("topic", 1)}, 1),
              Member("consumer2", {"topic"}, {Tp("topic", 0), Tp("topic", 2)}, 1),
              Member("consumer3", {"topic"}, {}, 1)};
    Partitions first =
        count == 3 ? Partitions{Tp("topic", 1)} : Partitions{Tp("topic", 1), Tp("topic", 3)};
    auto a = MakeStickyAssignor()->Assign({{"topic", count}}, m);
    CHECK(a["consumer1"] == first);
    CHECK(a["consumer2"] == Partitions{Tp("topic", 2)});
    CHECK(a["consumer3"] == Partitions{Tp("topic", 0)});
    auto c = MakeCooperativeStickyAssignor()->Assign({{"topic", count}}, m);
    CHECK(c["consumer1"] == first);
    CHECK(c["consumer2"] == Partitions{Tp("topic", 2)});
    CHECK(c["consumer3"].empty());  // topic-0 must be revoked by both first
  }
}

TEST_CASE("Cooperative: unchanged owners keep everything", "[assignor]") {
  // CooperativeStickyAssignorTest.testAssignorWithOldVersionSubscriptions
  auto a = MakeCooperativeStickyAssignor()->Assign(
      {{"topic1", 3}}, {Member("consumer1", {"topic1"}, {Tp("topic1", 0)}, 1),
                        Member("consumer2", {"topic1"}, {Tp("topic1", 1)}, 1),
                        Member("consumer3", {"topic1"}, {}, 1)});
  CHECK(a == GroupAssignment{{"consumer1", {Tp("topic1", 0)}},
                             {"consumer2", {Tp("topic1", 1)}},
                             {"consumer3", {Tp("topic1", 2)}}});
}

TEST_CASE("Assignors: names and protocols", "[assignor]") {
  for (std::string_view name : {"range", "roundrobin", "sticky", "cooperative-sticky"}) {
    auto a = MakeAssignor(name);
    REQUIRE(a != nullptr);
    CHECK(a->name() == name);
    CHECK(a->supported_protocols() ==
          (name == "cooperative-sticky"
               ? std::vector<RebalanceProtocol>{RebalanceProtocol::kCooperative,
                                                RebalanceProtocol::kEager}
               : std::vector<RebalanceProtocol>{RebalanceProtocol::kEager}));
  }
  CHECK(MakeAssignor("uniform") == nullptr);
}

// --- Properties -------------------------------------------------------------------------------

struct Group {
  std::map<std::string, int32_t> topics;
  Members members;
};

Group RandomGroup(std::mt19937_64& rng, bool common) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  Group g;
  int num_topics = pick(1, 5);
  for (int t = 0; t < num_topics; ++t) g.topics["t" + std::to_string(t)] = pick(1, 12);
  int num_members = pick(1, 8);
  std::vector<std::string> all;
  for (const auto& [t, n] : g.topics) all.push_back(t);
  for (int i = 0; i < num_members; ++i) {
    std::vector<std::string> topics;
    if (common) {
      topics = all;
    } else {
      for (const std::string& t : all) {
        if (pick(0, 1) == 1) topics.push_back(t);
      }
      if (pick(0, 5) == 0) topics.push_back("missing");  // a topic that does not exist
    }
    g.members.push_back(
        Member("member-" + std::to_string(pick(0, 1 << 20)) + "-" + std::to_string(i), topics));
  }
  return g;
}

// Every subscribed partition once, only to a subscriber; every member listed.
void CheckValid(const Group& g, const GroupAssignment& a, bool complete = true) {
  REQUIRE(a.size() == g.members.size());
  std::map<TopicPartition, int> seen;
  for (const GroupMemberSubscription& m : g.members) {
    REQUIRE(a.count(m.member_id) == 1);
    const Partitions& mine = a.at(m.member_id);
    CHECK(std::is_sorted(mine.begin(), mine.end()));
    for (const TopicPartition& tp : mine) {
      CHECK(std::find(m.topics.begin(), m.topics.end(), tp.topic) != m.topics.end());
      ++seen[tp];
    }
  }
  for (const auto& entry : g.topics) {
    const std::string& topic = entry.first;
    const int32_t count = entry.second;
    bool subscribed = std::any_of(g.members.begin(), g.members.end(), [&](const auto& m) {
      return std::find(m.topics.begin(), m.topics.end(), topic) != m.topics.end();
    });
    for (int32_t p = 0; p < count; ++p) {
      int n = seen.count({topic, p}) ? seen[{topic, p}] : 0;
      INFO(topic << "-" << p);
      CHECK(n <= 1);
      if (complete) CHECK(n == (subscribed ? 1 : 0));
    }
  }
}

size_t Spread(const GroupAssignment& a) {
  size_t lo = SIZE_MAX, hi = 0;
  for (const auto& [m, p] : a) lo = std::min(lo, p.size()), hi = std::max(hi, p.size());
  return a.empty() ? 0 : hi - lo;
}

// Kafka's verifyValidityAndBalance: of two members 2+ partitions apart, the heavier holds no
// partition of a topic the lighter one holds too.
void CheckKafkaBalance(const GroupAssignment& a) {
  for (const auto& [m1, p1] : a) {
    for (const auto& [m2, p2] : a) {
      if (p1.size() < p2.size() + 2) continue;
      for (const TopicPartition& x : p1) {
        for (const TopicPartition& y : p2) {
          INFO(m1 << " has " << p1.size() << ", " << m2 << " has " << p2.size());
          CHECK(x.topic != y.topic);
        }
      }
    }
  }
}

TEST_CASE("Assignors give valid assignments for random groups", "[assignor][property]") {
  std::mt19937_64 rng(testing::TestSeed());
  for (int round = 0; round < 300; ++round) {
    bool common = round % 2 == 0;
    Group g = RandomGroup(rng, common);
    CAPTURE(round, common);
    for (std::string_view name : {"range", "roundrobin", "sticky", "cooperative-sticky"}) {
      CAPTURE(name);
      GroupAssignment a = MakeAssignor(name)->Assign(g.topics, g.members);
      CheckValid(g, a);
      if (common && name != "range") CHECK(Spread(a) <= 1);
      if (name == "sticky") CheckKafkaBalance(a);
    }
  }
}

TEST_CASE("Sticky moves no more than it must when a member joins or leaves",
          "[assignor][property]") {
  std::mt19937_64 rng(testing::TestSeed());
  auto sticky = MakeStickyAssignor();
  auto cooperative = MakeCooperativeStickyAssignor();
  for (int round = 0; round < 300; ++round) {
    bool common = round % 2 == 0;
    Group g = RandomGroup(rng, common);
    CAPTURE(round, common);
    GroupAssignment before = sticky->Assign(g.topics, g.members);
    Group next = g;
    for (auto& m : next.members) {
      m.owned_partitions = before[m.member_id];
      m.generation = 5;
    }
    bool join = next.members.size() == 1 || rng() % 2 == 0;
    if (join) {
      GroupMemberSubscription fresh = next.members.front();
      fresh.member_id = "joiner";
      fresh.owned_partitions.clear();
      fresh.generation = -1;
      if (!common) fresh.topics = {next.topics.rbegin()->first};
      next.members.push_back(fresh);
    } else {
      next.members.erase(next.members.begin() + static_cast<long>(rng() % next.members.size()));
    }
    CAPTURE(join);
    GroupAssignment after = sticky->Assign(next.topics, next.members);
    CheckValid(next, after);
    CheckKafkaBalance(after);
    if (common) {
      // Each surviving member keeps min(what it had, its quota): at least floor(P/C) of its own.
      int64_t total = 0;
      for (const auto& [t, n] : next.topics) total += n;
      auto quota = static_cast<size_t>(total / static_cast<int64_t>(next.members.size()));
      size_t max_quota = quota + (total % static_cast<int64_t>(next.members.size()) ? 1 : 0);
      for (const GroupMemberSubscription& m : next.members) {
        const Partitions& now = after[m.member_id];
        size_t kept = 0;
        for (const TopicPartition& tp : m.owned_partitions) {
          kept += std::binary_search(now.begin(), now.end(), tp) ? 1 : 0;
        }
        INFO(m.member_id << " owned " << m.owned_partitions.size() << ", kept " << kept);
        CHECK(kept >= std::min(m.owned_partitions.size(), quota));
        CHECK(kept <= max_quota);
        // Nothing an owner under its quota held is taken away.
        if (m.owned_partitions.size() <= quota) CHECK(kept == m.owned_partitions.size());
      }
    }

    // Cooperative: a partition never goes to a new member while another still owns it.
    GroupAssignment coop = cooperative->Assign(next.topics, next.members);
    CheckValid(next, coop, /*complete=*/false);
    std::map<TopicPartition, std::string> owner;
    for (const auto& m : next.members) {
      for (const TopicPartition& tp : m.owned_partitions) owner[tp] = m.member_id;
    }
    std::map<TopicPartition, std::string> coop_owner;
    for (const auto& [member, partitions] : coop) {
      for (const TopicPartition& tp : partitions) coop_owner[tp] = member;
    }
    for (const auto& [member, partitions] : coop) {
      for (const TopicPartition& tp : partitions) {
        auto o = owner.find(tp);
        INFO(tp.topic << "-" << tp.partition << " to " << member);
        // Either nobody owned it, or its owner keeps it.
        CHECK((o == owner.end() || o->second == member));
      }
    }
    // Cooperative is the sticky result minus the moves: everything else agrees.
    for (const auto& [tp, member] : coop_owner) {
      const Partitions& s = after[member];
      CHECK(std::binary_search(s.begin(), s.end(), tp));
    }
  }
}

}  // namespace
}  // namespace brook
