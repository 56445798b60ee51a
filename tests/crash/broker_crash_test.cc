// Crash tests for the Broker through FaultFileSystem: a crash at every sync point of a sequence
// of topic operations, flushed produces and commits must leave a directory that opens, with
// every operation that returned OK in place.
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "brook/broker.h"
#include "brook/consumer.h"
#include "brook/producer.h"
#include "fmt/format.h"
#include "group/group_coordinator.h"
#include "support/batches.h"
#include "support/broker.h"
#include "support/catch.h"
#include "support/fault_file_system.h"
#include "support/seed.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using std::chrono::milliseconds;
using testing::FaultFileSystem;
using testing::MakeProducer;
using testing::OpenBroker;
using testing::SendSync;

struct Outcome {
  bool created_a = false;
  bool grew_a = false;
  bool created_b = false;
  bool deleted_b = false;
  std::map<int32_t, std::vector<std::pair<int64_t, std::string>>> acked;  // partition -> records
  std::map<TopicPartition, int64_t> committed;
};

// max_open_files 0: the default (no descriptor is closed here); small: files are closed and
// reopened by path all the time, crash included.
BrokerOptions CrashOptions(FileSystem* fs, size_t max_open_files) {
  return {.background_threads = 0,
          .max_open_files = max_open_files,
          .file_system = fs,
          .logger = [](LogLevel, std::string_view) {}};
}

TopicConfig Small(int32_t partitions) {
  return {.partitions = partitions, .segment_bytes_max = 64 << 10, .segment_index_bytes = 4096};
}

// Runs the sequence until something fails (the crash), recording what succeeded.
Outcome RunSequence(const std::string& dir, FileSystem* fs, size_t max_open_files) {
  Outcome out;
  absl::StatusOr<std::unique_ptr<Broker>> broker =
      Broker::Open(dir, CrashOptions(fs, max_open_files));
  if (!broker.ok()) return out;
  out.created_a = (*broker)->CreateTopic("a", Small(3)).ok();
  if (!out.created_a) return out;
  {
    auto producer = Producer::Create(**broker, {.durability = Durability::kFlushed});
    if (!producer.ok()) return out;
    for (int i = 0; i < 12; ++i) {
      std::string value = "v" + std::to_string(i);
      absl::StatusOr<RecordMetadata> md =
          (*producer)->Send({.topic = "a", .value = value, .partition = i % 3}).get();
      if (!md.ok()) return out;
      out.acked[md->partition].emplace_back(md->offset, value);
    }
  }
  auto consumer = Consumer::Create(**broker, {.group_id = "g"});
  if (!consumer.ok() || !(*consumer)->Assign({{"a", 0}, {"a", 1}}).ok()) return out;
  std::map<TopicPartition, int64_t> first{{{"a", 0}, 2}, {{"a", 1}, 3}};
  if (!(*consumer)->Commit(first).ok()) return out;
  out.committed = first;
  out.grew_a = (*broker)->AddPartitions("a", 5).ok();
  if (!out.grew_a) return out;
  out.created_b = (*broker)->CreateTopic("b", Small(2)).ok();
  if (!out.created_b) return out;
  // Offsets of b, which its deletion must take along even when a crash cuts it short.
  if (!(*consumer)->Commit({{{"b", 1}, 0}}).ok()) return out;
  out.deleted_b = (*broker)->DeleteTopic("b").ok();
  if (!out.deleted_b) return out;
  std::map<TopicPartition, int64_t> second{{{"a", 0}, 4}};
  if ((*consumer)->Commit(second).ok()) out.committed[{"a", 0}] = 4;
  return out;
}

void Check(const std::string& dir, FileSystem* fs, size_t max_open_files, const Outcome& out) {
  absl::StatusOr<std::unique_ptr<Broker>> broker =
      Broker::Open(dir, CrashOptions(fs, max_open_files));
  INFO(broker.status());
  REQUIRE(broker.ok());
  if (out.created_a) {
    absl::StatusOr<std::shared_ptr<Topic>> a = (*broker)->GetTopic("a");
    REQUIRE(a.ok());
    REQUIRE((*a)->partition_count() >= 3);
    if (out.grew_a) REQUIRE((*a)->partition_count() == 5);
    for (const auto& [p, records] : out.acked) {
      std::shared_ptr<Partition> partition = (*a)->partition(p);
      for (const auto& [offset, value] : records) {
        absl::StatusOr<ReadResult> read = partition->Read(offset, ReadOptions{});
        REQUIRE(read.ok());
        bool found = false;
        for (const RecordBatchView& b : *read) {
          for (const RecordView& r : b.records())
            found |= r.offset() == offset && r.value() == value;
        }
        CAPTURE(p, offset);
        REQUIRE(found);
      }
    }
  }
  if (out.deleted_b) REQUIRE(absl::IsNotFound((*broker)->GetTopic("b").status()));
  if (absl::IsNotFound((*broker)->GetTopic("b").status())) {
    // Gone, or never made: no committed offset of it is left (DeleteTopic writes the registry
    // first and the offsets' tombstones after; Open finishes the job after a crash between).
    absl::StatusOr<GroupDescription> g = (*broker)->DescribeGroup("g");
    if (g.ok()) {
      for (const GroupOffset& o : g->offsets) REQUIRE(o.partition.topic != "b");
    }
  }
  if (!out.committed.empty()) {
    absl::StatusOr<GroupDescription> g = (*broker)->DescribeGroup("g");
    REQUIRE(g.ok());
    for (const auto& [tp, offset] : out.committed) {
      bool found = false;
      // A commit cut by the crash may have reached the disk or not; one that returned OK has.
      for (const GroupOffset& o : g->offsets) {
        found |= o.partition == tp && o.committed_offset >= offset;
      }
      CAPTURE(tp.partition, offset);
      REQUIRE(found);
    }
  }
  // Whatever exists works: every topic's partitions read, and new topics can be made.
  for (const std::string& name : (*broker)->ListTopics()) {
    for (const auto& p : (*(*broker)->GetTopic(name))->partitions()) {
      REQUIRE(p->Read(p->start_offset(), ReadOptions{}).ok());
    }
  }
  REQUIRE((*broker)->CreateTopic("after", Small(1)).ok());
}

TEST_CASE("A Broker survives a crash at every sync point of topic operations and commits",
          "[crash][broker]") {
  uint64_t seed = testing::TestSeed();
  std::mt19937_64 rng(seed);
  int64_t total_syncs = 0;
  {
    testing::TempDir dir;
    testing::FaultFileSystem fs;
    Outcome full = RunSequence(dir.path(), &fs, 0);
    REQUIRE(full.deleted_b);
    total_syncs = fs.syncs();
  }
  REQUIRE(total_syncs > 10);
  for (int64_t n = 1; n <= total_syncs; ++n) {
    for (bool torn : {n % 2 == 0}) {  // lose all unsynced writes, or tear them: alternately
      const size_t max_open_files = n % 3 == 0 ? 4 : 0;
      CAPTURE(seed, n, torn, max_open_files);
      testing::TempDir dir;
      testing::FaultFileSystem fs;
      std::mt19937_64 crash_rng(rng());
      fs.crash_at_sync(n, torn ? &crash_rng : nullptr);
      Outcome out = RunSequence(dir.path(), &fs, max_open_files);
      REQUIRE(fs.crashed());
      fs.Restart();
      Check(dir.path(), &fs, max_open_files, out);
    }
  }
}

TEST_CASE("A registry write that fails after its rename is undone, so a reopen matches",
          "[crash][broker]") {
  // WriteChecksummedText renames the new registry into place, then syncs the directory. When
  // that sync fails, the new registry is already the file: the Broker writes the old one back,
  // or else a failed DeleteTopic would lose the topic's data at the next Open (its directories
  // then look like orphans), and a failed AddPartitions would leave a registry naming
  // partitions whose directories were removed.
  testing::TempDir dir;
  FaultFileSystem fs;
  const std::string kept_value = "kept";
  {
    auto broker = OpenBroker(dir.path(), CrashOptions(&fs, 0));
    REQUIRE(broker->CreateTopic("t", Small(2)).ok());
    auto producer = MakeProducer(*broker);
    SendSync(*producer, {.topic = "t", .value = kept_value, .partition = 0});

    fs.fail_dir_syncs(1);
    CHECK_FALSE(broker->DeleteTopic("t").ok());
    SendSync(*producer, {.topic = "t", .value = "after", .partition = 0});  // still there

    fs.fail_dir_syncs(1);
    CHECK_FALSE(broker->AddPartitions("t", 4).ok());
    CHECK((*broker->GetTopic("t"))->partition_count() == 2);

    fs.fail_dir_syncs(1);
    CHECK_FALSE(broker->CreateTopic("u", Small(1)).ok());
    CHECK_FALSE(broker->GetTopic("u").ok());
    REQUIRE(broker->Close().ok());
  }
  auto reopened = OpenBroker(dir.path(), CrashOptions(&fs, 0));
  absl::StatusOr<std::shared_ptr<Topic>> t = reopened->GetTopic("t");
  REQUIRE(t.ok());
  CHECK((*t)->partition_count() == 2);
  CHECK_FALSE(reopened->GetTopic("u").ok());
  std::shared_ptr<Partition> p = *reopened->GetPartition({"t", 0});
  CHECK(p->end_offset() == 2);
}

TEST_CASE("When the registry cannot be restored either, topic changes are refused",
          "[crash][broker]") {
  testing::TempDir dir;
  FaultFileSystem fs;
  {
    auto broker = OpenBroker(dir.path(), CrashOptions(&fs, 0));
    REQUIRE(broker->CreateTopic("t", Small(1)).ok());
    auto producer = MakeProducer(*broker);
    SendSync(*producer, {.topic = "t", .value = "before"});
    fs.fail_dir_syncs(2);  // the write and its undo
    CHECK_FALSE(broker->DeleteTopic("t").ok());
    // Whether a reopen finds t is not known: it takes no more records (a reopen not finding it
    // would remove them with it), and no more topic changes are made.
    CHECK_FALSE(broker->GetTopic("t").ok());
    CHECK_FALSE(producer->Send({.topic = "t", .value = "after"}).get().ok());
    absl::Status refused = broker->CreateTopic("u", Small(1));
    INFO(refused);
    CHECK(absl::IsFailedPrecondition(refused));
    REQUIRE(broker->Close().ok());
  }
  // Here the undo's rename is visible (nothing crashed): t is back, with its data.
  auto reopened = OpenBroker(dir.path(), CrashOptions(&fs, 0));
  std::shared_ptr<Partition> p = *reopened->GetPartition({"t", 0});
  CHECK(p->end_offset() == 1);
  REQUIRE(reopened->CreateTopic("u", Small(1)).ok());  // a reopen lifts the refusal
}

TEST_CASE("A committed offset past what survived a crash is moved back to the end at open",
          "[crash][group]") {
  // The records were only appended (in the page cache) when the consumer read and committed
  // past them; the commit was synced, the records were not. After the crash, new records
  // take their offsets: the old commit must not make the group skip them.
  testing::TempDir dir;
  FaultFileSystem fs;
  {
    auto broker = OpenBroker(dir.path(), CrashOptions(&fs, 0));
    REQUIRE(broker->CreateTopic("t", Small(1)).ok());
    auto producer = MakeProducer(*broker);
    for (int i = 0; i < 10; ++i) SendSync(*producer, {.topic = "t", .value = "lost"});
    auto consumer = testing::MakeConsumer(*broker, {.group_id = "g"});
    REQUIRE(consumer->Assign({{"t", 0}}).ok());
    REQUIRE(consumer->Commit({{{"t", 0}, 10}}).ok());
    fs.SimulateCrash();
    (void)consumer->Close();
    (void)producer->Close();
    (void)broker->Close();
  }
  fs.Restart();
  auto broker = OpenBroker(dir.path(), CrashOptions(&fs, 0));
  REQUIRE((*broker->GetPartition({"t", 0}))->end_offset() == 0);
  CHECK(broker->coordinator().Committed("g", {{"t", 0}}).at({"t", 0}).offset == 0);
  auto producer = MakeProducer(*broker);
  for (int i = 0; i < 15; ++i) SendSync(*producer, {.topic = "t", .value = "new"});
  auto consumer = testing::MakeConsumer(*broker, {.group_id = "g"});
  REQUIRE(consumer->Assign({{"t", 0}}).ok());
  absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(100));
  REQUIRE(records.ok());
  REQUIRE_FALSE(records->empty());
  CHECK((*records)[0].offset() == 0);
}

// Sends `n` records of ~200 bytes, "0000" to "nnnn" first, to topic "t" partition 0, and
// collects each one's outcome.
struct Sent {
  std::mutex mu;
  std::vector<absl::StatusOr<RecordMetadata>> results;
  std::vector<std::string> values;
  int done() {
    std::lock_guard<std::mutex> l(mu);
    int n = 0;
    for (const auto& r : results) n += r.ok() || !absl::IsUnknown(r.status());
    return n;
  }
};
void SendNumbered(Producer& producer, int n, Sent& sent) {
  {
    std::lock_guard<std::mutex> l(sent.mu);
    sent.results.assign(static_cast<size_t>(n), absl::UnknownError("no callback yet"));
    sent.values.clear();
    for (int i = 0; i < n; ++i)
      sent.values.push_back(fmt::format("{:04}", i) + std::string(200, 'v'));
  }
  for (int i = 0; i < n; ++i) {
    REQUIRE(producer
                .Send({.topic = "t", .value = sent.values[static_cast<size_t>(i)]},
                      [&sent, i](const absl::StatusOr<RecordMetadata>& r) {
                        std::lock_guard<std::mutex> l(sent.mu);
                        sent.results[static_cast<size_t>(i)] = r;
                      })
                .ok());
  }
}

// A broker on a FaultFileSystem with topic "t": one partition of 4-KiB segments, so that appends
// need a roll (new space) every ~18 records of SendNumbered's.
struct TinySegmentsBroker {
  TinySegmentsBroker() {
    broker = OpenBroker(dir.path(), CrashOptions(&fs, 0));
    REQUIRE(
        broker->CreateTopic("t", {.segment_bytes_max = 4096, .segment_index_bytes = 4096}).ok());
    partition = *broker->GetPartition({"t", 0});
  }
  testing::TempDir dir;
  FaultFileSystem fs;
  std::unique_ptr<Broker> broker;
  std::shared_ptr<Partition> partition;
};

TEST_CASE("A Producer retries batches a full disk refused, in order and never twice",
          "[crash][producer]") {
  TinySegmentsBroker b;
  auto producer = MakeProducer(*b.broker, {.retry_backoff = milliseconds(1)});
  // ~20 segments' worth: the first roll on the full disk fails, and everything behind waits.
  b.fs.set_disk_full(true);
  Sent sent;
  SendNumbered(*producer, 400, sent);
  std::this_thread::sleep_for(milliseconds(50));
  int before = sent.done();
  {
    std::lock_guard<std::mutex> l(sent.mu);
    for (const auto& r : sent.results) CHECK((r.ok() || absl::IsUnknown(r.status())));
  }
  CHECK(before < 400);
  b.fs.set_disk_full(false);
  REQUIRE(producer->Flush().ok());
  REQUIRE(b.partition->end_offset() == 400);
  auto records = testing::ReadAll(b.partition->log());
  REQUIRE(records.ok());
  REQUIRE(records->size() == 400);
  for (size_t i = 0; i < 400; ++i) {
    INFO(i);
    CHECK((*records)[i].value == sent.values[i]);
    REQUIRE(sent.results[i].ok());
    CHECK(sent.results[i]->offset == static_cast<int64_t>(i));
  }
}

TEST_CASE("Records sent while a retry waits fill batches instead of queueing one by one",
          "[crash][producer]") {
  TinySegmentsBroker b;
  std::shared_ptr<Partition> p = b.partition;
  auto producer = MakeProducer(*b.broker, {.retry_backoff = milliseconds(5)});
  b.fs.set_disk_full(true);
  // 90 records 1 ms apart: each finds the partition idle and is appended alone while the first
  // segment has room (~18 of them); the first that needs a roll is retried, and the ~70 sent
  // after it wait behind it.
  const int sent = 90;
  for (int i = 0; i < sent; ++i) {
    REQUIRE(producer->Send({.topic = "t", .value = std::string(200, 'v')}, nullptr).ok());
    std::this_thread::sleep_for(milliseconds(1));
  }
  const int64_t first_segment_end = p->end_offset();
  REQUIRE(first_segment_end < 30);
  b.fs.set_disk_full(false);
  REQUIRE(producer->Flush().ok());
  REQUIRE(p->end_offset() == sent);
  // ~18 records fit a 4-KiB batch.
  int batches = 0;
  for (int64_t offset = first_segment_end; offset < p->end_offset();) {
    ReadResult read = *p->Read(offset, {.max_bytes = 1 << 20});
    for (const RecordBatchView& batch : read) batches += batch.base_offset() >= first_segment_end;
    offset = read.next_offset();
  }
  CHECK(batches <= 10);
}

TEST_CASE("A Producer gives a full disk delivery_timeout, then fails the records, and goes on",
          "[crash][producer]") {
  TinySegmentsBroker b;
  std::shared_ptr<Partition> p = b.partition;
  for (milliseconds timeout : {milliseconds(0), milliseconds(30)}) {
    CAPTURE(timeout.count());
    auto producer =
        MakeProducer(*b.broker, {.delivery_timeout = timeout, .retry_backoff = milliseconds(1)});
    const int64_t start = p->end_offset();
    b.fs.set_disk_full(true);
    Sent sent;
    const auto begin = std::chrono::steady_clock::now();
    SendNumbered(*producer, 100, sent);
    absl::Status flushed = producer->Flush();
    CHECK(std::chrono::steady_clock::now() - begin >= timeout);
    CHECK(absl::IsResourceExhausted(flushed));
    if (timeout.count() > 0) {
      CHECK_THAT(std::string(flushed.message()), Catch::Contains("delivery_timeout"));
    }
    // What fit in the segment was appended; the rest failed, and nothing else was written.
    int64_t appended = 0;
    {
      std::lock_guard<std::mutex> l(sent.mu);
      for (size_t i = 0; i < sent.results.size(); ++i) {
        const auto& r = sent.results[i];
        REQUIRE_FALSE(absl::IsUnknown(r.status()));
        if (!r.ok()) {
          CHECK(absl::IsResourceExhausted(r.status()));
          continue;
        }
        CHECK(r->offset == start + appended);
        ++appended;
      }
    }
    CHECK(appended < 100);
    CHECK(p->end_offset() == start + appended);
    // Room again: the same producer goes on, its sequence numbers picking up where the log is.
    b.fs.set_disk_full(false);
    SendNumbered(*producer, 30, sent);
    REQUIRE(producer->Flush().ok());
    CHECK(p->end_offset() == start + appended + 30);
  }
}

}  // namespace
}  // namespace brook
