// Consumer groups: assignment, rebalances, commits, liveness and static membership, through the
// public Producer / Consumer / Broker API.
#include <atomic>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include "brook/broker.h"
#include "brook/compression.h"
#include "brook/consumer.h"
#include "brook/producer.h"
#include "brook/record_batch_builder.h"
#include "brook/status.h"
#include "group/group_coordinator.h"
#include "group/offsets_records.h"
#include "support/batches.h"
#include "support/broker.h"
#include "support/catch.h"
#include "support/seed.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using std::chrono::milliseconds;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::OpenBroker;
using testing::SendSync;

BrokerOptions GroupBrokerOptions(Clock* clock = nullptr) {
  return {.background_threads = 0, .group_min_session_timeout = milliseconds(1), .clock = clock};
}

// A broker on a manual clock with topic "t" of 2 partitions, for tests that drive its group
// coordinator directly.
struct CoordinatorSetup {
  CoordinatorSetup() { REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok()); }
  testing::TempDir dir;
  testing::ManualClock clock;
  std::unique_ptr<Broker> broker = OpenBroker(dir.path(), GroupBrokerOptions(&clock));
  detail::GroupCoordinator& coordinator = broker->coordinator();
};

// A member of group "g" on topic "t" that heartbeats explicitly, as a remote client would.
detail::JoinGroupRequest RemoteMember(std::optional<std::string> instance_id = std::nullopt) {
  return {.group_id = "g",
          .group_instance_id = std::move(instance_id),
          .client_id = "remote",
          .session_timeout = milliseconds(3000),
          .rebalance_timeout = milliseconds(60000),
          .assignors = {"range"},
          .topics = {"t"},
          .implied_heartbeats = false};
}

// Joins `join` alone (the rebalance completes at once) and syncs: its member id and assignment.
std::pair<std::string, detail::SyncGroupResult> JoinAndSync(detail::GroupCoordinator& coordinator,
                                                            const detail::JoinGroupRequest& join) {
  absl::StatusOr<std::string> member = coordinator.Join(join);
  REQUIRE(member.ok());
  absl::StatusOr<std::optional<detail::SyncGroupResult>> sync =
      coordinator.Sync(join.group_id, *member, join.group_instance_id);
  REQUIRE(sync.ok());
  REQUIRE(sync->has_value());
  return {*member, std::move(**sync)};
}

// Produces `count` records with values "<partition>:<i>" to every partition of `topic`.
void Fill(Producer& producer, const std::string& topic, int32_t partitions, int count) {
  for (int32_t p = 0; p < partitions; ++p) {
    for (int i = 0; i < count; ++i) {
      std::string value = std::to_string(p) + ":" + std::to_string(i);
      REQUIRE(producer.Send({.topic = topic, .value = value, .partition = p}, nullptr).ok());
    }
  }
  REQUIRE(producer.Flush().ok());
}

// Polls every consumer once (round robin) until `done` says so or `rounds` run out; hands
// every record to `on_record`.
template <typename Done>
void PollAll(std::vector<Consumer*> consumers, Done done, int rounds = 500,
             const std::function<void(const ConsumerRecord&)>& on_record = nullptr) {
  for (int r = 0; r < rounds && !done(); ++r) {
    for (Consumer* c : consumers) {
      absl::StatusOr<ConsumerRecords> records = c->Poll(milliseconds(0));
      REQUIRE(records.ok());
      if (on_record) {
        for (const ConsumerRecord& record : *records) on_record(record);
      }
    }
  }
}

TEST_CASE("Two consumers in a group split the partitions and hand over at committed offsets",
          "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 4}).ok());
  auto producer = MakeProducer(*broker);
  Fill(*producer, "t", 4, 10);

  ConsumerOptions options{.group_id = "g",
                          .assignors = {"range"},
                          .auto_offset_reset = OffsetReset::kEarliest,
                          .max_poll_records = 5};
  auto a = MakeConsumer(*broker, options);
  REQUIRE(a->Subscribe({"t"}).ok());
  std::map<TopicPartition, std::vector<int64_t>> seen;
  auto record = [&](const absl::StatusOr<ConsumerRecords>& records) {
    REQUIRE(records.ok());
    for (const ConsumerRecord& r : *records) {
      seen[TopicPartition{std::string(r.topic), r.partition}].push_back(r.offset());
    }
  };
  record(a->Poll(milliseconds(100)));
  REQUIRE(a->assignment().size() == 4);
  REQUIRE(a->generation() == 1);
  record(a->Poll(milliseconds(0)));

  auto b = MakeConsumer(*broker, options);
  REQUIRE(b->Subscribe({"t"}).ok());
  record(b->Poll(milliseconds(0)));  // joins: the group waits for a to rejoin
  REQUIRE(b->assignment().empty());
  record(a->Poll(milliseconds(0)));  // a commits, revokes, rejoins: the rebalance completes
  record(b->Poll(milliseconds(0)));
  REQUIRE(a->generation() == 2);
  REQUIRE(b->generation() == 2);
  // Range over members sorted by member id: one gets partitions 0-1, the other 2-3.
  std::set<std::vector<TopicPartition>> split{a->assignment(), b->assignment()};
  REQUIRE(split ==
          std::set<std::vector<TopicPartition>>{{{"t", 0}, {"t", 1}}, {{"t", 2}, {"t", 3}}});
  PollAll(
      {a.get(), b.get()},
      [&] {
        size_t n = 0;
        for (auto& [tp, offsets] : seen) n += offsets.size();
        return n >= 40;
      },
      500,
      [&](const ConsumerRecord& r) {
        seen[TopicPartition{std::string(r.topic), r.partition}].push_back(r.offset());
      });
  // Every record exactly once, in order, across the hand-over.
  for (int32_t p = 0; p < 4; ++p) {
    std::vector<int64_t> expected(10);
    std::iota(expected.begin(), expected.end(), 0);
    REQUIRE(seen[{"t", p}] == expected);
  }
  absl::StatusOr<GroupDescription> d = broker->DescribeGroup("g");
  REQUIRE(d.ok());
  REQUIRE(d->state == GroupState::kStable);
  REQUIRE(d->protocol == "range");
  REQUIRE(d->members.size() == 2);
}

// A consumer thread of the group test: polls, records what it saw, and leaves (Close) when told.
struct Member {
  std::unique_ptr<Consumer> consumer;
  std::thread thread;
  std::atomic<bool> stop{false};
  std::vector<std::pair<TopicPartition, int64_t>> seen;  // read after join()
  absl::Status error;
};

TEST_CASE("A group of consumers delivers every record exactly once across rebalances", "[group]") {
  uint64_t seed = testing::TestSeed();
  std::mt19937_64 rng(seed);
  for (std::string assignor : {"range", "roundrobin", "sticky", "cooperative-sticky"}) {
    CAPTURE(seed, assignor);
    testing::TempDir dir;
    BrokerOptions broker_options = GroupBrokerOptions();
    broker_options.background_threads = 1;
    broker_options.tick_interval = milliseconds(20);
    auto broker = OpenBroker(dir.path(), broker_options);
    constexpr int32_t kPartitions = 12;
    REQUIRE(broker->CreateTopic("jobs", {.partitions = kPartitions}).ok());
    ConsumerOptions options{.group_id = "workers",
                            .assignors = {assignor},
                            .session_timeout = milliseconds(10000),
                            .max_poll_interval = milliseconds(10000),
                            .auto_commit_interval = milliseconds(50),
                            .auto_offset_reset = OffsetReset::kEarliest,
                            .max_poll_records = 7};
    std::vector<std::unique_ptr<Member>> members;
    auto start_member = [&] {
      auto m = std::make_unique<Member>();
      m->consumer = MakeConsumer(*broker, options);
      REQUIRE(m->consumer->Subscribe({"jobs"}).ok());
      Member* raw = m.get();
      raw->thread = std::thread([raw] {
        while (!raw->stop.load()) {
          absl::StatusOr<ConsumerRecords> records = raw->consumer->Poll(milliseconds(5));
          if (!records.ok()) {
            raw->error = records.status();
            return;
          }
          for (const ConsumerRecord& r : *records) {
            raw->seen.emplace_back(TopicPartition{std::string(r.topic), r.partition}, r.offset());
          }
        }
        raw->error = raw->consumer->Close();
      });
      members.push_back(std::move(m));
    };
    auto producer = MakeProducer(*broker);
    int total = 0;
    start_member();
    for (int step = 0; step < 12; ++step) {
      int n = std::uniform_int_distribution<int>(50, 300)(rng);
      for (int i = 0; i < n; ++i, ++total) {
        std::string value = std::to_string(total);
        REQUIRE(producer->Send({.topic = "jobs", .value = value}, nullptr).ok());
      }
      REQUIRE(producer->Flush().ok());
      int action = std::uniform_int_distribution<int>(0, 2)(rng);
      size_t live = 0;
      for (auto& m : members) live += !m->stop.load();
      if (action == 0 || live < 2) {
        start_member();
      } else if (action == 1 && live > 1) {
        for (auto& m : members) {
          if (!m->stop.load()) {
            m->stop.store(true);
            m->thread.join();
            break;
          }
        }
      }
      std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(0, 30)(rng)));
    }
    // Let the survivors drain the topic.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      absl::StatusOr<GroupDescription> d = broker->DescribeGroup("workers");
      REQUIRE(d.ok());
      int64_t lag = 0;
      for (const GroupOffset& o : d->offsets) lag += o.lag;
      if (d->offsets.size() == kPartitions && lag == 0 && d->state == GroupState::kStable) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    for (auto& m : members) {
      m->stop.store(true);
      if (m->thread.joinable()) m->thread.join();
      INFO(m->error);
      REQUIRE(m->error.ok());
    }
    std::map<TopicPartition, std::vector<int64_t>> delivered;
    for (auto& m : members) {
      for (auto& [tp, offset] : m->seen) delivered[tp].push_back(offset);
    }
    int64_t count = 0;
    for (int32_t p = 0; p < kPartitions; ++p) {
      absl::StatusOr<std::shared_ptr<Partition>> partition = broker->GetPartition({"jobs", p});
      REQUIRE(partition.ok());
      std::vector<int64_t>& got = delivered[{"jobs", p}];
      std::sort(got.begin(), got.end());
      std::vector<int64_t> expected(static_cast<size_t>((*partition)->end_offset()));
      std::iota(expected.begin(), expected.end(), 0);
      CAPTURE(p);
      REQUIRE(got == expected);  // every record, exactly once
      count += static_cast<int64_t>(got.size());
    }
    REQUIRE(count == total);
  }
}

TEST_CASE("A consumer that stops polling loses its partitions; another resumes from the commit",
          "[group]") {
  testing::TempDir dir;
  testing::ManualClock clock;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions(&clock));
  REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
  auto producer = MakeProducer(*broker);
  Fill(*producer, "t", 2, 20);
  std::vector<TopicPartition> lost;
  ConsumerOptions options{.group_id = "g",
                          .max_poll_interval = milliseconds(1000),
                          .enable_auto_commit = false,
                          .auto_offset_reset = OffsetReset::kEarliest,
                          .max_poll_records = 10};
  options.listener.on_lost = [&](const std::vector<TopicPartition>& p) { lost = p; };
  auto slow = MakeConsumer(*broker, options);
  REQUIRE(slow->Subscribe({"t"}).ok());
  absl::StatusOr<ConsumerRecords> first = slow->Poll(milliseconds(100));
  REQUIRE(first.ok());
  REQUIRE(first->size() == 10);
  REQUIRE(slow->Commit().ok());
  std::map<int32_t, int64_t> committed_at;
  for (const TopicPartition& tp : slow->assignment())
    committed_at[tp.partition] = *slow->Position(tp);

  // The slow consumer stops polling; past max.poll.interval the coordinator drops it.
  clock.Advance(milliseconds(1500));
  REQUIRE(broker->Tick().ok());
  absl::StatusOr<GroupDescription> d = broker->DescribeGroup("g");
  REQUIRE(d.ok());
  REQUIRE(d->members.empty());

  auto other = MakeConsumer(*broker, options);
  REQUIRE(other->Subscribe({"t"}).ok());
  absl::StatusOr<ConsumerRecords> resumed = other->Poll(milliseconds(100));
  REQUIRE(resumed.ok());
  REQUIRE(other->assignment().size() == 2);
  REQUIRE(!resumed->empty());
  std::map<int32_t, int64_t> first_offset;
  for (const ConsumerRecord& r : *resumed) first_offset.try_emplace(r.partition, r.offset());
  for (const auto& [p, offset] : first_offset) REQUIRE(offset == committed_at[p]);

  // The slow consumer learns on its next poll that its partitions are gone.
  REQUIRE(slow->Poll(milliseconds(0)).ok());
  REQUIRE(lost.size() == 2);
  absl::Status late = slow->Commit(std::map<TopicPartition, int64_t>{{{"t", 0}, 15}});
  REQUIRE(!late.ok());
}

TEST_CASE("Refused joins and commits under new group ids leave nothing behind", "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  const size_t before = broker->coordinator().group_count();
  for (int i = 0; i < 1000; ++i) {
    const std::string group = "g" + std::to_string(i);
    detail::OffsetMap offsets{{{"t", 0}, {.offset = 1}}};
    CHECK_FALSE(broker->coordinator().Commit(group, "nobody", 1, offsets).ok());
  }
  REQUIRE(broker->Tick().ok());
  CHECK(broker->coordinator().group_count() == before);
  // A group that has offsets stays.
  REQUIRE(broker->coordinator().Commit("kept", "", -1, {{{"t", 0}, {.offset = 1}}}).ok());
  REQUIRE(broker->Tick().ok());
  CHECK(broker->coordinator().group_count() == before + 1);
}

// Polls every member (without waiting) until they hold `total` partitions between them in a
// stable group; false if that does not happen within 1000 rounds.
bool Settle(Broker& broker, const std::string& group, const std::vector<Consumer*>& members,
            size_t total) {
  for (int i = 0; i < 1000; ++i) {
    size_t held = 0;
    for (Consumer* m : members) {
      REQUIRE(m->Poll(milliseconds(0)).ok());
      held += m->assignment().size();
    }
    absl::StatusOr<GroupDescription> d = broker.DescribeGroup(group);
    if (held == total && d.ok() && d->state == GroupState::kStable) return true;
  }
  return false;
}

TEST_CASE("The eager sticky assignor keeps members' partitions across a rebalance", "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 6}).ok());
  // Member ids are random, and an assignment made afresh depends on their order: several
  // rounds, so a lucky order cannot pass for stickiness.
  for (int round = 0; round < 5; ++round) {
    const std::string group = "g" + std::to_string(round);
    CAPTURE(round);
    ConsumerOptions options{.group_id = group, .assignors = {"sticky"}};
    auto a = MakeConsumer(*broker, options);
    auto b = MakeConsumer(*broker, options);
    auto c = MakeConsumer(*broker, options);
    for (Consumer* m : {a.get(), b.get(), c.get()}) REQUIRE(m->Subscribe({"t"}).ok());
    auto settle = [&](std::vector<Consumer*> members, size_t total) {
      return Settle(*broker, group, members, total);
    };
    REQUIRE(settle({a.get(), b.get(), c.get()}, 6));
    std::vector<TopicPartition> a_before = a->assignment();
    std::vector<TopicPartition> b_before = b->assignment();
    REQUIRE(a_before.size() == 2);
    REQUIRE(b_before.size() == 2);
    REQUIRE(c->Close().ok());
    REQUIRE(settle({a.get(), b.get()}, 6));
    std::vector<TopicPartition> a_after = a->assignment();
    std::vector<TopicPartition> b_after = b->assignment();
    CHECK(a_after.size() == 3);
    CHECK(b_after.size() == 3);
    for (const TopicPartition& tp : a_before) {
      CHECK(std::find(a_after.begin(), a_after.end(), tp) != a_after.end());
    }
    for (const TopicPartition& tp : b_before) {
      CHECK(std::find(b_after.begin(), b_after.end(), tp) != b_after.end());
    }
  }
}

TEST_CASE("Eager members that also list cooperative-sticky leave no partition unowned", "[group]") {
  // Kafka's first upgrade step: members list {"cooperative-sticky", "range"}, so they rebalance
  // eagerly while the group picks cooperative-sticky. Reporting their pre-revoke assignment as
  // owned would make it withhold those partitions from a newcomer for good.
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 4}).ok());
  ConsumerOptions options{.group_id = "g", .assignors = {"cooperative-sticky", "range"}};
  auto a = MakeConsumer(*broker, options);
  auto b = MakeConsumer(*broker, options);
  auto settle = [&](std::vector<Consumer*> members, size_t total) {
    return Settle(*broker, "g", members, total);
  };
  REQUIRE(a->Subscribe({"t"}).ok());
  REQUIRE(settle({a.get()}, 4));
  REQUIRE(b->Subscribe({"t"}).ok());
  CHECK(settle({a.get(), b.get()}, 4));
  CHECK(b->assignment().size() == 2);
}

TEST_CASE("A Seek on a topic deleted and created again applies to the new topic", "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto consumer = MakeConsumer(
      *broker,
      {.group_id = "g", .enable_auto_commit = false, .auto_offset_reset = OffsetReset::kLatest});
  REQUIRE(consumer->Assign({{"t", 0}}).ok());
  REQUIRE(consumer->Poll(milliseconds(0)).ok());
  REQUIRE(broker->DeleteTopic("t").ok());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker);
  for (int i = 0; i < 3; ++i) SendSync(*producer, {.topic = "t", .value = std::to_string(i)});
  REQUIRE(consumer->Seek({"t", 0}, 0).ok());
  absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(100));
  REQUIRE(records.ok());
  REQUIRE(records->size() == 3);
  CHECK((*records)[0].offset() == 0);
}

TEST_CASE("A removed member that closes reports its partitions lost, not revoked", "[group]") {
  testing::TempDir dir;
  testing::ManualClock clock;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions(&clock));
  REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
  auto producer = MakeProducer(*broker);
  Fill(*producer, "t", 2, 4);
  for (bool unsubscribe : {false, true}) {
    CAPTURE(unsubscribe);
    std::vector<TopicPartition> lost;
    std::vector<TopicPartition> revoked;
    ConsumerOptions options{.group_id = unsubscribe ? "g2" : "g1",
                            .max_poll_interval = milliseconds(1000),
                            .auto_offset_reset = OffsetReset::kEarliest};
    options.listener.on_lost = [&](const std::vector<TopicPartition>& p) { lost = p; };
    options.listener.on_revoked = [&](const std::vector<TopicPartition>& p) { revoked = p; };
    auto slow = MakeConsumer(*broker, options);
    REQUIRE(slow->Subscribe({"t"}).ok());
    REQUIRE(slow->Poll(milliseconds(100)).ok());
    REQUIRE(slow->assignment().size() == 2);
    // It stops polling; the coordinator removes it. It learns that only when it leaves.
    clock.Advance(milliseconds(1500));
    REQUIRE(broker->Tick().ok());
    if (unsubscribe) {
      REQUIRE(slow->Unsubscribe().ok());
    } else {
      (void)slow->Close();  // its auto-commit is refused: it is no longer a member
    }
    CHECK(revoked.empty());
    CHECK(lost.size() == 2);
  }
}

TEST_CASE("A static member that restarts within the session timeout keeps its partitions",
          "[group]") {
  testing::TempDir dir;
  testing::ManualClock clock;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions(&clock));
  REQUIRE(broker->CreateTopic("t", {.partitions = 4}).ok());
  ConsumerOptions a_options{.group_id = "g",
                            .group_instance_id = "a",
                            .assignors = {"range"},
                            .session_timeout = milliseconds(5000)};
  ConsumerOptions b_options = a_options;
  b_options.group_instance_id = "b";
  auto a = MakeConsumer(*broker, a_options);
  auto b = MakeConsumer(*broker, b_options);
  REQUIRE(a->Subscribe({"t"}).ok());
  REQUIRE(b->Subscribe({"t"}).ok());
  PollAll({a.get(), b.get()}, [&] {
    return a->generation() > 0 && a->generation() == b->generation() &&
           a->assignment().size() == 2 && b->assignment().size() == 2;
  });
  std::vector<TopicPartition> a_partitions = a->assignment();
  int32_t generation = a->generation();
  REQUIRE(a->Close().ok());  // a static member does not leave
  a.reset();
  clock.Advance(milliseconds(3000));
  REQUIRE(broker->Tick().ok());
  auto a2 = MakeConsumer(*broker, a_options);
  REQUIRE(a2->Subscribe({"t"}).ok());
  PollAll(
      {a2.get(), b.get()}, [&] { return !a2->assignment().empty(); }, 10);
  REQUIRE(a2->assignment() == a_partitions);
  REQUIRE(a2->generation() == generation);  // no rebalance
  REQUIRE(b->generation() == generation);

  // Closed for longer than the session timeout: removed, and b takes everything.
  REQUIRE(a2->Close().ok());
  a2.reset();
  clock.Advance(milliseconds(6000));
  REQUIRE(broker->Tick().ok());
  PollAll(
      {b.get()}, [&] { return b->assignment().size() == 4; }, 10);
  REQUIRE(b->assignment().size() == 4);
  REQUIRE(b->generation() > generation);
}

TEST_CASE("Committed offsets survive a Broker restart", "[group]") {
  testing::TempDir dir;
  {
    auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
    REQUIRE(broker->CreateTopic("t", {.partitions = 3}).ok());
    auto producer = MakeProducer(*broker);
    Fill(*producer, "t", 3, 5);
    auto consumer = MakeConsumer(*broker, {.group_id = "g"});
    REQUIRE(consumer->Assign({{"t", 0}, {"t", 1}, {"t", 2}}).ok());
    REQUIRE(consumer->Commit({{{"t", 0}, 3}, {{"t", 1}, 5}}).ok());
    REQUIRE(consumer->Commit({{{"t", 0}, 4}}).ok());
  }
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  absl::StatusOr<GroupDescription> d = broker->DescribeGroup("g");
  REQUIRE(d.ok());
  REQUIRE(d->offsets.size() == 2);
  REQUIRE(d->offsets[0].partition == TopicPartition{"t", 0});
  REQUIRE(d->offsets[0].committed_offset == 4);
  REQUIRE(d->offsets[0].lag == 1);
  REQUIRE(d->offsets[1].committed_offset == 5);
  REQUIRE(d->offsets[1].lag == 0);
  auto consumer = MakeConsumer(*broker, {.group_id = "g", .auto_offset_reset = OffsetReset::kNone});
  REQUIRE(consumer->Assign({{"t", 0}, {"t", 2}}).ok());
  REQUIRE(*consumer->Position({"t", 0}) == 4);
  // No committed offset and auto_offset_reset none: an error, as in Kafka.
  REQUIRE(GetErrorCode(consumer->Position({"t", 2}).status()) == ErrorCode::kOffsetOutOfRange);
  REQUIRE(broker->ListGroups().size() == 1);
  REQUIRE(broker->DeleteGroup("g").ok());
  REQUIRE(broker->ListGroups().empty());
}

TEST_CASE("Commits in a compressed __consumer_offsets batch are loaded on restart", "[group]") {
  if (!CompressionSupported(Compression::kLz4)) return;
  testing::TempDir dir;
  {
    auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
    REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
    auto producer = MakeProducer(*broker);
    Fill(*producer, "t", 2, 5);
    // As a Kafka broker may have written them: two commits of group g in one lz4 batch.
    RecordBatchBuilder builder({.compression = Compression::kLz4});
    for (int32_t p = 0; p < 2; ++p) {
      builder.Append(1000, group::EncodeKey(group::OffsetCommitKey{"g", {"t", p}}),
                     group::EncodeValue(group::OffsetCommitValue{.offset = 2 + p}));
    }
    auto offsets = broker->GetPartition({"__consumer_offsets", 0});
    REQUIRE(offsets.ok());
    REQUIRE((*offsets)->Append(builder.Finish()).ok());
  }
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  absl::StatusOr<GroupDescription> d = broker->DescribeGroup("g");
  INFO(d.status().ToString());
  REQUIRE(d.ok());
  REQUIRE(d->offsets.size() == 2);
  CHECK(d->offsets[0].committed_offset == 2);
  CHECK(d->offsets[1].committed_offset == 3);
}

TEST_CASE("Commits name partitions that exist; the others in a commit still go in", "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
  auto consumer = MakeConsumer(*broker, {.group_id = "g"});
  CHECK(consumer->Commit({{{"t", 1}, 0}}).ok());
  for (const TopicPartition& tp : {TopicPartition{"t", 2}, TopicPartition{"nope", 0}}) {
    absl::Status s = consumer->Commit({{tp, 0}});
    CHECK(GetErrorCode(s) == ErrorCode::kUnknownTopicOrPartition);
    CHECK(s.message().find(tp.topic) != std::string_view::npos);
  }
  // As Kafka's OffsetCommit, partition by partition: t-0 is committed, nope-0 refused.
  absl::Status mixed = consumer->Commit({{{"t", 0}, 3}, {{"nope", 0}, 1}});
  CHECK(GetErrorCode(mixed) == ErrorCode::kUnknownTopicOrPartition);
  // Internal topics exist too.
  CHECK(consumer->Commit({{{"__consumer_offsets", 0}, 0}}).ok());
  absl::StatusOr<GroupDescription> d = broker->DescribeGroup("g");
  REQUIRE(d.ok());
  std::map<TopicPartition, int64_t> committed;
  for (const GroupOffset& o : d->offsets) committed[o.partition] = o.committed_offset;
  CHECK(committed == std::map<TopicPartition, int64_t>{
                         {{"__consumer_offsets", 0}, 0}, {{"t", 0}, 3}, {{"t", 1}, 0}});
}

TEST_CASE("A consumer whose assigned topic was deleted still commits the others", "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  REQUIRE(broker->CreateTopic("d", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker);
  Fill(*producer, "t", 1, 5);
  Fill(*producer, "d", 1, 5);
  auto consumer = MakeConsumer(
      *broker,
      {.group_id = "g", .enable_auto_commit = false, .auto_offset_reset = OffsetReset::kEarliest});
  REQUIRE(consumer->Assign({{"t", 0}, {"d", 0}}).ok());
  int seen = 0;
  for (int i = 0; i < 50 && seen < 10; ++i) {
    absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(100));
    REQUIRE(records.ok());
    seen += static_cast<int>(records->size());
  }
  REQUIRE(seen == 10);
  REQUIRE(broker->DeleteTopic("d").ok());
  absl::Status s = consumer->Commit();
  CHECK(GetErrorCode(s) == ErrorCode::kUnknownTopicOrPartition);
  absl::StatusOr<GroupDescription> d = broker->DescribeGroup("g");
  REQUIRE(d.ok());
  REQUIRE(d->offsets.size() == 1);
  CHECK(d->offsets[0].partition == TopicPartition{"t", 0});
  CHECK(d->offsets[0].committed_offset == 5);
}

TEST_CASE("Commits are fenced by generation and membership", "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
  auto a = MakeConsumer(*broker, {.group_id = "g", .enable_auto_commit = false});
  REQUIRE(a->Subscribe({"t"}).ok());
  REQUIRE(a->Poll(milliseconds(50)).ok());
  REQUIRE(a->generation() == 1);
  // A manual-assignment commit to a group with members is refused.
  auto outsider = MakeConsumer(*broker, {.group_id = "g"});
  REQUIRE(outsider->Assign({{"t", 0}}).ok());
  REQUIRE(GetErrorCode(outsider->Commit({{{"t", 0}, 1}})) == ErrorCode::kUnknownMemberId);
  // After a rebalance, a commit from the old generation is refused.
  auto b = MakeConsumer(*broker, {.group_id = "g", .enable_auto_commit = false});
  REQUIRE(b->Subscribe({"t"}).ok());
  REQUIRE(b->Poll(milliseconds(0)).ok());
  PollAll({a.get(), b.get()}, [&] { return a->generation() == 2 && b->generation() == 2; });
  detail::OffsetMap offsets{{{"t", 0}, {.offset = 1}}};
  absl::Status stale = broker->coordinator().Commit("g", a->member_id(), 1, offsets);
  REQUIRE(GetErrorCode(stale) == ErrorCode::kIllegalGeneration);
  REQUIRE(broker->coordinator().Commit("g", a->member_id(), 2, offsets).ok());
  REQUIRE(GetErrorCode(broker->coordinator().Commit("g", "nobody", 2, offsets)) ==
          ErrorCode::kUnknownMemberId);
}

TEST_CASE("Consumers seek, pause, find offsets by time and report lag", "[consumer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker);
  for (int i = 0; i < 10; ++i) {
    SendSync(*producer, {.topic = "t", .value = std::to_string(i), .timestamp = 1000 + i * 10});
  }
  TopicPartition tp{"t", 0};
  auto consumer = MakeConsumer(*broker, {.auto_offset_reset = OffsetReset::kLatest});
  REQUIRE(consumer->Assign({tp}).ok());
  REQUIRE(*consumer->Position(tp) == 10);  // latest
  REQUIRE(consumer->Lag().at(tp) == 0);
  REQUIRE(consumer->SeekToBeginning({tp}).ok());
  REQUIRE(consumer->Lag().at(tp) == 10);
  absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> by_time =
      consumer->OffsetsForTimes({{tp, 1035}});
  REQUIRE(by_time.ok());
  REQUIRE(by_time->at(tp) == 4);
  REQUIRE(consumer->OffsetsForTimes({{tp, 5000}})->at(tp) == std::nullopt);
  REQUIRE(consumer->Seek(tp, 4).ok());
  consumer->Pause({tp});
  REQUIRE(consumer->Poll(milliseconds(0))->empty());
  consumer->Resume({tp});
  absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(0));
  REQUIRE(records.ok());
  REQUIRE(records->size() == 6);
  REQUIRE((*records)[0].offset() == 4);
  REQUIRE((*records)[0].value() == "4");
  REQUIRE((*records)[0].timestamp() == 1040);
  REQUIRE(consumer->Lag().at(tp) == 0);
}

TEST_CASE("Assign keeps the positions of partitions that stay and commits before dropping",
          "[consumer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
  auto producer = MakeProducer(*broker);
  Fill(*producer, "t", 2, 10);
  const TopicPartition t0{"t", 0}, t1{"t", 1};
  // No auto-commit by time here: only Assign's commit can store a position.
  auto consumer = MakeConsumer(*broker, {.group_id = "g",
                                         .auto_commit_interval = std::chrono::hours(1),
                                         .auto_offset_reset = OffsetReset::kLatest});
  REQUIRE(consumer->Assign({t0}).ok());
  REQUIRE(consumer->Seek(t0, 4).ok());
  absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(0));
  REQUIRE(records.ok());
  REQUIRE(records->size() == 6);
  consumer->Pause({t0});
  // Adding a partition: t0 neither goes back (no commit to go back to: kLatest would skip to
  // the end) nor loses its pause.
  REQUIRE(consumer->Assign({t0, t1}).ok());
  CHECK(*consumer->Position(t0) == 10);
  CHECK(consumer->paused() == std::vector<TopicPartition>{t0});
  CHECK(*consumer->Position(t1) == 10);  // new: kLatest
  // Dropping t0 commits where it was, for whoever reads it next.
  REQUIRE(consumer->Seek(t1, 3).ok());
  REQUIRE(consumer->Assign({t1}).ok());
  REQUIRE(consumer->Commit().ok());  // waits for the asynchronous commit before it
  auto committed = broker->coordinator().Committed("g", {t0, t1});
  CHECK(committed.at(t0).offset == 10);
  CHECK(committed.at(t1).offset == 3);
}

TEST_CASE("A cooperative member revokes the topics it unsubscribes at once", "[consumer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("a").ok());
  REQUIRE(broker->CreateTopic("b").ok());
  std::vector<TopicPartition> revoked;
  auto consumer = MakeConsumer(
      *broker, {.group_id = "g",
                .assignors = {"cooperative-sticky"},
                .listener = {.on_revoked = [&](const std::vector<TopicPartition>& tps) {
                  revoked.insert(revoked.end(), tps.begin(), tps.end());
                }}});
  REQUIRE(consumer->Subscribe({"a", "b"}).ok());
  PollAll({consumer.get()}, [&] { return consumer->assignment().size() == 2; });
  REQUIRE(consumer->assignment().size() == 2);
  REQUIRE(consumer->Subscribe({"a"}).ok());
  // Before any Poll: b is revoked and no longer read, while the group rebalances.
  CHECK(revoked == std::vector<TopicPartition>{{"b", 0}});
  CHECK(consumer->assignment() == std::vector<TopicPartition>{{"a", 0}});
  PollAll(
      {consumer.get()}, [] { return false; }, 5);
  CHECK(consumer->assignment() == std::vector<TopicPartition>{{"a", 0}});
}

TEST_CASE("Subscribing creates unknown topics when the Broker auto-creates them", "[consumer]") {
  testing::TempDir dir;
  BrokerOptions options = GroupBrokerOptions();
  options.auto_create_topics = true;
  auto broker = OpenBroker(dir.path(), options);
  auto consumer = MakeConsumer(*broker, {.group_id = "g"});
  REQUIRE(consumer->Subscribe({"fresh"}).ok());
  CHECK(broker->GetTopic("fresh").ok());
  PollAll({consumer.get()}, [&] { return !consumer->assignment().empty(); });
  CHECK(consumer->assignment() == std::vector<TopicPartition>{{"fresh", 0}});
  CHECK(absl::IsInvalidArgument(consumer->Subscribe({"bad/name"})));
}

TEST_CASE("Poll blocks until data arrives, and Wakeup interrupts it", "[consumer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
  auto consumer = MakeConsumer(*broker, {.auto_offset_reset = OffsetReset::kEarliest});
  REQUIRE(consumer->Assign({{"t", 0}, {"t", 1}}).ok());
  auto producer = MakeProducer(*broker);
  std::thread sender([&] {
    std::this_thread::sleep_for(milliseconds(50));
    (void)producer->Send({.topic = "t", .value = "late", .partition = 1}).get();
  });
  auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(10000));
  sender.join();
  REQUIRE(records.ok());
  REQUIRE(records->size() == 1);
  REQUIRE(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  std::thread waker([&] {
    std::this_thread::sleep_for(milliseconds(50));
    consumer->Wakeup();
  });
  absl::StatusOr<ConsumerRecords> woken = consumer->Poll(milliseconds(10000));
  waker.join();
  REQUIRE(absl::IsCancelled(woken.status()));
}

TEST_CASE("__consumer_offsets is compacted and the latest commits survive it and a restart",
          "[group][compaction]") {
  testing::TempDir dir;
  BrokerOptions options = GroupBrokerOptions();
  options.offsets_topic_segment_bytes = 64 << 10;
  std::map<TopicPartition, int64_t> last;
  {
    auto broker = OpenBroker(dir.path(), options);
    REQUIRE(broker->CreateTopic("t", {.partitions = 4}).ok());
    auto consumer = MakeConsumer(*broker, {.group_id = "g"});
    REQUIRE(consumer->Assign({{"t", 0}, {"t", 1}, {"t", 2}, {"t", 3}}).ok());
    for (int i = 0; i < 3000; ++i) {
      TopicPartition tp{"t", i % 4};
      last[tp] = i;
      REQUIRE(consumer->Commit({{tp, i}}).ok());
    }
    auto offsets = *broker->GetPartition({"__consumer_offsets", 0});
    size_t before = offsets->log().Segments().size();
    REQUIRE(before > 2);
    absl::StatusOr<CompactionResult> compacted = offsets->log().Compact();
    REQUIRE(compacted.ok());
    REQUIRE(compacted->records_removed > 2000);
    REQUIRE(offsets->log().Segments().size() < before);
  }
  auto broker = OpenBroker(dir.path(), options);
  absl::StatusOr<GroupDescription> d = broker->DescribeGroup("g");
  REQUIRE(d.ok());
  REQUIRE(d->offsets.size() == 4);
  for (const GroupOffset& o : d->offsets) REQUIRE(o.committed_offset == last[o.partition]);
}

TEST_CASE("The coordinator removes a member whose heartbeats stop after the session timeout",
          "[group]") {
  CoordinatorSetup setup;
  auto& [dir, clock, broker, coordinator] = setup;
  auto [a, sync] = JoinAndSync(coordinator, RemoteMember());
  REQUIRE(sync.assignment.size() == 2);
  for (int i = 0; i < 5; ++i) {  // heartbeats keep it alive well past the session timeout
    clock.Advance(milliseconds(2000));
    REQUIRE(coordinator.Heartbeat("g", a, sync.generation, false).ok());
  }
  clock.Advance(milliseconds(3001));
  REQUIRE(coordinator.Step().ok());
  REQUIRE(GetErrorCode(coordinator.Heartbeat("g", a, sync.generation, false)) ==
          ErrorCode::kUnknownMemberId);
  REQUIRE(broker->ListGroups().empty());  // no members and no committed offsets
}

TEST_CASE("A fenced static member stays fenced instead of fencing its replacement back",
          "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
  ConsumerOptions options{.group_id = "g", .group_instance_id = "worker-1"};
  auto old_instance = MakeConsumer(*broker, options);
  REQUIRE(old_instance->Subscribe({"t"}).ok());
  REQUIRE(old_instance->Poll(milliseconds(50)).ok());
  REQUIRE(old_instance->assignment().size() == 2);
  auto new_instance = MakeConsumer(*broker, options);  // same instance id, still alive
  REQUIRE(new_instance->Subscribe({"t"}).ok());
  REQUIRE(new_instance->Poll(milliseconds(50)).ok());
  REQUIRE(new_instance->assignment().size() == 2);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<ConsumerRecords> fenced = old_instance->Poll(milliseconds(0));
    REQUIRE(GetErrorCode(fenced.status()) == ErrorCode::kFencedInstanceId);
    REQUIRE(old_instance->assignment().empty());
    REQUIRE(new_instance->Poll(milliseconds(0)).ok());
    REQUIRE(new_instance->assignment().size() == 2);
  }
  // Many other instances restart meanwhile, more times than the coordinator remembers replaced
  // ids for: the first zombie must still be told it is fenced, not unknown, or it would rejoin
  // and fence worker-1's live instance. Its requests carry its instance id, as Kafka's do.
  auto zombie_check = MakeConsumer(*broker, options);  // replaces new_instance in turn
  REQUIRE(zombie_check->Subscribe({"t"}).ok());
  REQUIRE(zombie_check->Poll(milliseconds(50)).ok());
  ConsumerOptions other = options;
  other.group_instance_id = "worker-2";
  for (int i = 0; i < 1100; ++i) {
    auto restarted = MakeConsumer(*broker, other);
    REQUIRE(restarted->Subscribe({"t"}).ok());
    REQUIRE(restarted->Poll(milliseconds(0)).ok());
  }
  absl::StatusOr<ConsumerRecords> still = new_instance->Poll(milliseconds(0));
  REQUIRE(GetErrorCode(still.status()) == ErrorCode::kFencedInstanceId);
}

TEST_CASE("A static member replaced over a thousand times ago is still told it is fenced",
          "[group]") {
  CoordinatorSetup setup;
  auto& [dir, clock, broker, coordinator] = setup;
  const detail::JoinGroupRequest join = RemoteMember("worker-1");
  const auto [zombie, sync] = JoinAndSync(coordinator, join);
  const int32_t generation = sync.generation;
  // worker-1 restarts 1,100 times, more than the coordinator remembers replaced ids for.
  std::string live;
  for (int i = 0; i < 1100; ++i) {
    absl::StatusOr<std::string> replacement = coordinator.Join(join);
    REQUIRE(replacement.ok());
    live = *replacement;
  }
  REQUIRE(coordinator.Sync("g", live, "worker-1").ok());
  // Told apart by the instance id its requests carry, as Kafka's requests do.
  const std::optional<std::string> instance = "worker-1";
  CHECK(GetErrorCode(coordinator.Heartbeat("g", zombie, generation, false, instance)) ==
        ErrorCode::kFencedInstanceId);
  CHECK(GetErrorCode(coordinator.Sync("g", zombie, instance).status()) ==
        ErrorCode::kFencedInstanceId);
  CHECK(GetErrorCode(coordinator.Commit("g", zombie, generation,
                                        {{TopicPartition{"t", 0}, {.offset = 1}}}, instance)) ==
        ErrorCode::kFencedInstanceId);
  CHECK(GetErrorCode(coordinator.Leave("g", zombie, instance)) == ErrorCode::kFencedInstanceId);
  // Without it, the replaced id has aged out of the remembered ones.
  CHECK(GetErrorCode(coordinator.Heartbeat("g", zombie, generation, false)) ==
        ErrorCode::kUnknownMemberId);
  // The live instance is untouched.
  REQUIRE(coordinator.Heartbeat("g", live, generation, false, instance).ok());
  REQUIRE(coordinator.Committed("g").empty());
}

TEST_CASE("A member with no assignor in common with every other member is refused", "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 3}).ok());
  auto a = MakeConsumer(*broker, {.group_id = "g", .assignors = {"range", "roundrobin"}});
  auto b = MakeConsumer(*broker, {.group_id = "g", .assignors = {"range", "sticky"}});
  auto c = MakeConsumer(*broker, {.group_id = "g", .assignors = {"roundrobin", "sticky"}});
  REQUIRE(a->Subscribe({"t"}).ok());
  REQUIRE(b->Subscribe({"t"}).ok());
  REQUIRE(c->Subscribe({"t"}).ok());
  REQUIRE(a->Poll(milliseconds(0)).ok());
  REQUIRE(b->Poll(milliseconds(0)).ok());
  REQUIRE(a->Poll(milliseconds(0)).ok());
  absl::StatusOr<ConsumerRecords> refused = c->Poll(milliseconds(0));
  REQUIRE(GetErrorCode(refused.status()) == ErrorCode::kInconsistentGroupProtocol);
}

TEST_CASE("Deleting a topic deletes its committed offsets and refuses reads", "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  REQUIRE(broker->CreateTopic("kept", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker);
  SendSync(*producer, {.topic = "t", .value = "old"});
  auto consumer = MakeConsumer(*broker, {.group_id = "g"});
  REQUIRE(consumer->Assign({{"t", 0}, {"kept", 0}}).ok());
  REQUIRE(consumer->Commit({{{"t", 0}, 1}, {{"kept", 0}, 0}}).ok());
  std::shared_ptr<Partition> old_partition = *broker->GetPartition({"t", 0});
  REQUIRE(broker->DeleteTopic("t").ok());
  REQUIRE(absl::IsFailedPrecondition(old_partition->Read(0, ReadOptions{}).status()));
  absl::StatusOr<GroupDescription> d = broker->DescribeGroup("g");
  REQUIRE(d.ok());
  REQUIRE(d->offsets.size() == 1);
  REQUIRE(d->offsets[0].partition.topic == "kept");
  // A topic created again with the name starts from its beginning, not the old commit.
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  SendSync(*producer, {.topic = "t", .value = "new"});
  auto again =
      MakeConsumer(*broker, {.group_id = "g2", .auto_offset_reset = OffsetReset::kEarliest});
  REQUIRE(again->Assign({{"t", 0}}).ok());
  absl::StatusOr<ConsumerRecords> records = again->Poll(milliseconds(0));
  REQUIRE(records.ok());
  REQUIRE(records->size() == 1);
  REQUIRE((*records)[0].value() == "new");
}

TEST_CASE("A member whose topic is deleted and created again reads the new one from its start",
          "[group]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), GroupBrokerOptions());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker);
  for (int i = 0; i < 5; ++i) SendSync(*producer, {.topic = "t", .value = "old"});
  auto consumer = MakeConsumer(
      *broker,
      {.group_id = "g", .enable_auto_commit = false, .auto_offset_reset = OffsetReset::kEarliest});
  REQUIRE(consumer->Subscribe({"t"}).ok());
  size_t seen = 0;
  for (int i = 0; i < 100 && seen < 5; ++i) {
    absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(10));
    REQUIRE(records.ok());
    seen += records->size();
  }
  REQUIRE(seen == 5);
  REQUIRE(broker->DeleteTopic("t").ok());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto again = MakeProducer(*broker);
  for (int i = 0; i < 10; ++i) SendSync(*again, {.topic = "t", .value = "new"});
  // The position 5 belonged to the deleted topic: committing it now would make the new topic's
  // first five records look consumed to the next member of the group.
  REQUIRE(consumer->Commit().ok());
  REQUIRE_FALSE(broker->coordinator().Committed("g", {{"t", 0}}).contains({"t", 0}));
  std::vector<std::string> values;
  for (int i = 0; i < 100 && values.size() < 10; ++i) {
    absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(10));
    REQUIRE(records.ok());
    for (const ConsumerRecord& r : *records) values.emplace_back(*r.value());
  }
  REQUIRE(values == std::vector<std::string>(10, "new"));
  REQUIRE(consumer->Commit().ok());
  REQUIRE(broker->coordinator().Committed("g", {{"t", 0}}).at({"t", 0}).offset == 10);
}

TEST_CASE("Committed offsets of an empty group expire by commit time after the retention",
          "[group]") {
  testing::TempDir dir;
  testing::ManualClock clock;
  BrokerOptions options = GroupBrokerOptions(&clock);
  options.offsets_retention = milliseconds(1000);
  auto broker = OpenBroker(dir.path(), options);
  REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
  auto consumer = MakeConsumer(*broker, {.group_id = "g"});
  REQUIRE(consumer->Assign({{"t", 0}, {"t", 1}}).ok());
  REQUIRE(consumer->Commit({{{"t", 0}, 0}, {{"t", 1}, 0}}).ok());
  clock.Advance(milliseconds(800));
  REQUIRE(consumer->Commit({{{"t", 1}, 0}}).ok());  // refreshes partition 1 only
  REQUIRE(broker->Tick().ok());
  REQUIRE(broker->DescribeGroup("g")->offsets.size() == 2);
  clock.Advance(milliseconds(400));  // partition 0's commit is 1200 ms old, partition 1's 400
  REQUIRE(broker->Tick().ok());
  absl::StatusOr<GroupDescription> d = broker->DescribeGroup("g");
  REQUIRE(d.ok());
  REQUIRE(d->offsets.size() == 1);
  REQUIRE(d->offsets[0].partition.partition == 1);
}

}  // namespace
}  // namespace brook
