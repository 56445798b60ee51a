// Broker: topic registry, partitions, persistence, locking, and the Producer -> Consumer path.
#include "brook/broker.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "broker/topic_registry.h"
#include "brook/consumer.h"
#include "brook/file_system.h"
#include "brook/log.h"
#include "brook/partitioner.h"
#include "brook/producer.h"
#include "brook/status.h"
#include "fmt/format.h"
#include "support/batches.h"
#include "support/broker.h"
#include "support/catch.h"
#include "support/fault_file_system.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using testing::MakeConsumer;
using testing::MakeProducer;
using testing::OpenBroker;
using testing::SendSync;

TEST_CASE("Broker creates, lists, describes, grows and deletes topics, and keeps them",
          "[broker]") {
  testing::TempDir dir;
  {
    auto broker = OpenBroker(dir.path());
    REQUIRE(broker->ListTopics().empty());
    REQUIRE(broker->ListTopics(/*include_internal=*/true) ==
            std::vector<std::string>{"__consumer_offsets"});
    REQUIRE(broker->CreateTopic("orders", {.partitions = 3, .retention_bytes = 1 << 20}).ok());
    REQUIRE(broker->CreateTopic("audit").ok());
    absl::Status again = broker->CreateTopic("orders", {});
    REQUIRE(absl::IsAlreadyExists(again));
    REQUIRE(GetErrorCode(again) == ErrorCode::kTopicAlreadyExists);
    REQUIRE(broker->ListTopics() == std::vector<std::string>{"audit", "orders"});
    REQUIRE(broker->AddPartitions("orders", 5).ok());
    REQUIRE(GetErrorCode(broker->AddPartitions("orders", 4)) == ErrorCode::kInvalidPartitions);
    absl::StatusOr<TopicDescription> d = broker->DescribeTopic("orders");
    REQUIRE(d.ok());
    REQUIRE(d->partitions.size() == 5);
    REQUIRE(d->config.retention_bytes == 1 << 20);
    REQUIRE(broker->DeleteTopic("audit").ok());
    REQUIRE(absl::IsNotFound(broker->GetTopic("audit").status()));
    REQUIRE(!std::filesystem::exists(dir.Sub("audit-0")));
  }
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->ListTopics() == std::vector<std::string>{"orders"});
  absl::StatusOr<std::shared_ptr<Topic>> topic = broker->GetTopic("orders");
  REQUIRE(topic.ok());
  REQUIRE((*topic)->partition_count() == 5);
  REQUIRE((*topic)->config().retention_bytes == 1 << 20);
}

TEST_CASE("A directory that is not a broker's is left untouched unless asked to become one",
          "[broker]") {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("empty"));
  absl::StatusOr<std::unique_ptr<Broker>> opened =
      Broker::Open(dir.Sub("empty"), {.create_if_missing = false});
  CHECK(absl::IsNotFound(opened.status()));
  CHECK(std::filesystem::is_empty(dir.Sub("empty")));
  // Someone else's directory: refused either way, and no lock file left in it.
  std::filesystem::create_directories(dir.Sub("other"));
  std::ofstream(dir.Sub("other/notes.txt")) << "mine";
  for (bool create : {false, true}) {
    INFO(create);
    opened = Broker::Open(dir.Sub("other"), {.create_if_missing = create});
    CHECK(!opened.ok());
    CHECK(!std::filesystem::exists(dir.Sub("other/.lock")));
  }
  // One being created right now (its lock held, no registry yet) is in use, not "not a broker's".
  {
    std::filesystem::create_directories(dir.Sub("creating"));
    absl::StatusOr<std::unique_ptr<FileLock>> creator =
        FileSystem::Default()->Lock(dir.Sub("creating/.lock"));
    REQUIRE(creator.ok());
    opened = Broker::Open(dir.Sub("creating"), {.create_if_missing = false});
    CHECK(absl::IsFailedPrecondition(opened.status()));
    CHECK(opened.status().message().find("in use") != std::string::npos);
  }
  // Asked to, an empty directory becomes a broker directory, which then opens either way.
  REQUIRE(OpenBroker(dir.Sub("empty"))->Close().ok());
  opened = Broker::Open(dir.Sub("empty"), {.create_if_missing = false});
  REQUIRE(opened.ok());
  CHECK((*opened)->Close().ok());
}

TEST_CASE("A lock that cannot be taken for another reason is not reported as in use", "[broker]") {
  // The lock file's path is a directory: opening it fails (EISDIR, even for root), which says
  // nothing about another process.
  testing::TempDir dir;
  std::filesystem::create_directories(dir.Sub("b/.lock"));
  absl::StatusOr<std::unique_ptr<Broker>> broker = Broker::Open(dir.Sub("b"), {});
  REQUIRE(!broker.ok());
  CHECK(!absl::IsFailedPrecondition(broker.status()));
  CHECK(broker.status().message().find("in use") == std::string::npos);
  CHECK(broker.status().message().find("Is a directory") != std::string::npos);
  // The same for a Log opened on a Broker's partition.
  {
    auto c = OpenBroker(dir.Sub("c"));
    REQUIRE(c->CreateTopic("t", {.partitions = 1}).ok());
    REQUIRE(c->Close().ok());
  }
  std::filesystem::remove(dir.Sub("c/.lock"));
  std::filesystem::create_directories(dir.Sub("c/.lock"));
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(dir.Sub("c/t-0"), {});
  REQUIRE(!log.ok());
  CHECK(!absl::IsFailedPrecondition(log.status()));
  CHECK(log.status().message().find("Is a directory") != std::string::npos);
}

TEST_CASE("Broker refuses bad topic names and a second opener of its directory", "[broker]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  for (const std::string& bad :
       std::vector<std::string>{"", ".", "..", "a b", "a/b", "__mine", std::string(250, 'x')}) {
    INFO(bad);
    REQUIRE(absl::IsInvalidArgument(broker->CreateTopic(bad, {})));
  }
  REQUIRE(absl::IsInvalidArgument(broker->CreateTopic("t", {.partitions = 0})));
  absl::StatusOr<std::unique_ptr<Broker>> second = Broker::Open(dir.path(), {});
  REQUIRE(absl::IsFailedPrecondition(second.status()));
  REQUIRE(second.status().message().find("in use") != std::string::npos);
  // Partitions hold no lock of their own: a Log opened on one finds the Broker's lock taken.
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(dir.Sub("t-0"), {});
  REQUIRE(absl::IsFailedPrecondition(log.status()));
  REQUIRE(log.status().message().find("partition of the Broker directory") != std::string::npos);
  for (const std::string& spelling : {dir.Sub("t-0/"), dir.Sub("t-0/."), dir.Sub("./t-0")}) {
    INFO(spelling);
    REQUIRE(absl::IsFailedPrecondition(Log::Open(spelling, {}).status()));
  }
  REQUIRE(broker->Close().ok());
  broker.reset();
  log = Log::Open(dir.Sub("t-0"), {});
  REQUIRE(log.ok());
  // ... and while that Log is open, the Broker cannot open.
  second = Broker::Open(dir.path(), {});
  REQUIRE(absl::IsFailedPrecondition(second.status()));
}

// Descriptors this process has open now.
int OpenDescriptors() {
  int n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

TEST_CASE("A Broker with more files than max_open_files keeps to it and loses nothing",
          "[broker]") {
  testing::TempDir dir;
  const int before = OpenDescriptors();
  constexpr size_t kMaxOpen = 16;
  constexpr int32_t kPartitions = 40;  // 3 files each, plus the offsets topic's and checkpoints
  const BrokerOptions options{.background_threads = 0, .max_open_files = kMaxOpen};
  std::map<int32_t, std::vector<std::string>> sent;
  {
    auto broker = OpenBroker(dir.path(), options);
    REQUIRE(broker
                ->CreateTopic("t", {.partitions = kPartitions,
                                    .segment_bytes_max = 16 << 10,
                                    .segment_index_bytes = 4096})
                .ok());
    auto producer = MakeProducer(*broker, {.durability = Durability::kFlushed});
    for (int i = 0; i < 2000; ++i) {
      std::string value = fmt::format("{}:{}", i, std::string(static_cast<size_t>(i % 200), 'v'));
      RecordMetadata md =
          SendSync(*producer, {.topic = "t", .value = value, .partition = i % kPartitions});
      sent[md.partition].push_back(value);
      // The Broker's lock, the descriptors it keeps, and a few in use for an instant.
      REQUIRE(OpenDescriptors() - before <= static_cast<int>(kMaxOpen) + 1);
    }
    REQUIRE(broker->Tick().ok());
  }
  REQUIRE(OpenDescriptors() == before);
  auto broker = OpenBroker(dir.path(), options);
  REQUIRE(OpenDescriptors() - before <= static_cast<int>(kMaxOpen) + 1);
  auto consumer = MakeConsumer(*broker, {.auto_offset_reset = OffsetReset::kEarliest});
  std::vector<TopicPartition> all;
  for (int32_t p = 0; p < kPartitions; ++p) all.push_back({"t", p});
  REQUIRE(consumer->Assign(all).ok());
  std::map<int32_t, std::vector<std::string>> got;
  size_t n = 0;
  while (n < 2000) {
    absl::StatusOr<ConsumerRecords> records = consumer->Poll(std::chrono::milliseconds(0));
    REQUIRE(records.ok());
    if (records->empty()) break;
    for (const ConsumerRecord& r : *records) {
      got[r.partition].push_back(std::string(*r.value()));
      ++n;
    }
  }
  REQUIRE(got == sent);
}

TEST_CASE("A Broker syncs sealed segments soon, not at its next tick", "[broker]") {
  // Left for the hourly tick, a fast producer's sealed segments would pile up until a roll
  // found more than 8 and synced them inline, stalling that append. From 4 on, the Broker's
  // ticker syncs them (LogOptions::on_unsynced_segments).
  testing::TempDir dir;
  auto broker =
      OpenBroker(dir.path(), {.background_threads = 1, .tick_interval = std::chrono::hours(1)});
  REQUIRE(
      broker
          ->CreateTopic(
              "t", {.partitions = 1, .segment_bytes_max = 16 << 10, .segment_index_bytes = 4096})
          .ok());
  auto producer = MakeProducer(*broker);
  const std::string value(1000, 'v');
  std::shared_ptr<Partition> p = *broker->GetPartition({"t", 0});
  // Sends until the log has `segments` segments (~15 records each); false if it never gets there.
  auto fill_to = [&](size_t segments) {
    for (int i = 0; i < 1000 && p->log().Segments().size() < segments; ++i) {
      SendSync(*producer, {.topic = "t", .value = value});
    }
    return p->log().Segments().size() == segments;
  };
  // Three sealed segments: below the threshold, nothing is synced.
  REQUIRE(fill_to(4));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(p->log().flushed_offset() == 0);
  // The fourth is synced with the others, soon.
  REQUIRE(fill_to(5));
  const int64_t end = p->end_offset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (p->log().flushed_offset() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(p->log().flushed_offset() > 0);
  CHECK(p->log().flushed_offset() < end);  // the active segment stays unsynced
}

TEST_CASE("A Partition held past Broker::Close refuses reads and appends", "[broker]") {
  // Close releases the directory: another process may open it and truncate the files under a
  // held Partition's mappings, so the Partition must not read them any more.
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t").ok());
  std::shared_ptr<Partition> p = *broker->GetPartition({"t", 0});
  REQUIRE(p->Append(testing::MakeBatch({"a", "b"})).ok());
  REQUIRE(p->Read(0, {}).ok());
  REQUIRE(broker->Close().ok());
  CHECK(absl::IsFailedPrecondition(p->Read(0, {}).status()));
  CHECK(absl::IsFailedPrecondition(p->Append(testing::MakeBatch({"c"})).status()));
  CHECK(absl::IsFailedPrecondition(p->log().OffsetForTimestamp(0).status()));
  broker.reset();
  auto reopened = OpenBroker(dir.path());
  CHECK((*reopened->GetPartition({"t", 0}))->end_offset() == 2);
}

TEST_CASE("Broker removes partition directories its registry does not list", "[broker]") {
  testing::TempDir dir;
  {
    auto broker = OpenBroker(dir.path());
    REQUIRE(broker->CreateTopic("keep", {}).ok());
  }
  {
    // What a crash between creating a topic's logs and writing the registry leaves behind.
    absl::StatusOr<std::unique_ptr<Log>> orphan = Log::Open(dir.Sub("lost-0"), {});
    REQUIRE(orphan.ok());
  }
  auto broker = OpenBroker(dir.path());
  REQUIRE(!std::filesystem::exists(dir.Sub("lost-0")));
  REQUIRE(std::filesystem::exists(dir.Sub("keep-0")));
}

TEST_CASE("Broker refuses a directory that is not its own", "[broker]") {
  testing::TempDir dir;
  {
    std::ofstream f(dir.Sub("precious.txt"));
    f << "data";
  }
  absl::StatusOr<std::unique_ptr<Broker>> broker = Broker::Open(dir.path(), {});
  REQUIRE(absl::IsFailedPrecondition(broker.status()));
  REQUIRE(std::filesystem::exists(dir.Sub("precious.txt")));
}

TEST_CASE("A partition whose log failed is reported once, not at every tick", "[broker]") {
  testing::TempDir dir;
  testing::FaultFileSystem fs;
  std::vector<std::string> errors;
  BrokerOptions options{.background_threads = 0, .file_system = &fs};
  options.logger = [&](LogLevel level, std::string_view message) {
    if (level == LogLevel::kError) errors.emplace_back(message);
  };
  auto broker = OpenBroker(dir.path(), options);
  REQUIRE(broker->CreateTopic("t", {.partitions = 1, .flushed_reads_only = true}).ok());
  auto producer = MakeProducer(*broker);
  REQUIRE(producer->Send({.topic = "t", .value = "v"}, nullptr).ok());
  REQUIRE(producer->Flush().ok());
  fs.fail_syncs(true);  // the tick's flush fails, and the log with it
  for (int i = 0; i < 5; ++i) CHECK(!broker->Tick().ok());
  size_t about_t0 = 0;
  for (const std::string& e : errors) about_t0 += e.find("partition t-0") != std::string::npos;
  CHECK(about_t0 == 1);
  fs.fail_syncs(false);
}

TEST_CASE("Deleting a topic or closing the Broker stops a compaction pass, not waits it out",
          "[broker][compaction]") {
  for (bool close : {false, true}) {
    INFO((close ? "Close" : "DeleteTopic"));
    testing::TempDir dir;
    auto broker = OpenBroker(
        dir.path(), {.background_threads = 2, .cleaner_backoff = std::chrono::milliseconds(10)});
    TopicConfig config{
        .partitions = 1, .cleanup_policy = CleanupPolicy::kCompact, .segment_bytes_max = 4096};
    config.compaction.io_bytes_per_second = 1;  // a pass over these segments would take days
    REQUIRE(broker->CreateTopic("t", config).ok());
    auto producer = MakeProducer(*broker, {.durability = Durability::kFlushed});
    const std::string value(100, 'v');
    for (int i = 0; i < 200; ++i) SendSync(*producer, {.topic = "t", .key = "k", .value = value});
    absl::StatusOr<std::shared_ptr<Partition>> p = broker->GetPartition({"t", 0});
    REQUIRE(p.ok());
    REQUIRE((*p)->log().compaction_state().due);
    // Give the cleaner thread (10-ms backoff) time to start its pass, then end it.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    producer.reset();
    p->reset();
    if (!close) REQUIRE(broker->DeleteTopic("t").ok());
    REQUIRE(broker->Close().ok());  // returns: the test would time out otherwise
  }
}

TEST_CASE("Broker options that would abort or overflow are refused", "[broker]") {
  testing::TempDir dir;
  for (BrokerOptions options :
       {BrokerOptions{.cleaner_backoff = std::chrono::milliseconds(0)},
        BrokerOptions{.tick_interval = std::chrono::milliseconds::max()},
        BrokerOptions{.cleaner_backoff = std::chrono::milliseconds::max()}}) {
    absl::StatusOr<std::unique_ptr<Broker>> opened = Broker::Open(dir.path(), options);
    CHECK(absl::IsInvalidArgument(opened.status()));
  }
  CHECK(std::filesystem::is_empty(dir.path()));
}

TEST_CASE("A registry naming a topic or config CreateTopic would refuse is damage", "[broker]") {
  // Checksummed as the Broker writes it, so only the contents are wrong: a name that is a path
  // out of the directory (which DeleteTopic would remove), a negative partition count.
  for (const auto& [name, partitions] :
       std::vector<std::pair<std::string, int32_t>>{{"../outside", 1}, {"t", -1}}) {
    INFO(name << " " << partitions);
    testing::TempDir dir;
    broker::TopicRegistry registry;
    registry[name] = {.config = {.partitions = partitions}};
    REQUIRE(broker::WriteTopicRegistry(FileSystem::Default(), dir.path(), registry).ok());
    absl::StatusOr<broker::TopicRegistry> read =
        broker::ReadTopicRegistry(FileSystem::Default(), dir.path());
    CHECK(absl::IsDataLoss(read.status()));
    absl::StatusOr<std::unique_ptr<Broker>> opened = Broker::Open(dir.path(), {});
    CHECK(absl::IsDataLoss(opened.status()));
  }
}

TEST_CASE("A flushed-only topic shows consumers flushed records only, flushed every tick",
          "[broker]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path(), {.background_threads = 0});
  // The OS's flush policy: only the Broker's tick flushes it.
  REQUIRE(broker->CreateTopic("t", {.partitions = 1, .flushed_reads_only = true}).ok());
  auto producer = MakeProducer(*broker);
  const int64_t sent_ms = 1'000'000;
  SendSync(*producer, {.topic = "t", .value = "a", .timestamp = sent_ms});
  absl::StatusOr<std::shared_ptr<Partition>> p = broker->GetPartition({"t", 0});
  REQUIRE(p.ok());
  REQUIRE((*p)->end_offset() == 1);
  CHECK((*p)->high_watermark() == 0);
  auto consumer = MakeConsumer(*broker, {.auto_offset_reset = OffsetReset::kEarliest});
  REQUIRE(consumer->Assign({{"t", 0}}).ok());
  absl::StatusOr<ConsumerRecords> records = consumer->Poll(std::chrono::milliseconds(0));
  REQUIRE(records.ok());
  CHECK(records->empty());
  // Not found by time either while it could still be lost.
  absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> by_time =
      consumer->OffsetsForTimes({{{"t", 0}, sent_ms}});
  REQUIRE(by_time.ok());
  CHECK(!by_time->at({"t", 0}).has_value());
  REQUIRE(broker->Tick().ok());
  CHECK((*p)->high_watermark() == 1);
  records = consumer->Poll(std::chrono::milliseconds(0));
  REQUIRE(records.ok());
  REQUIRE(records->size() == 1);
  CHECK(*(*records).begin()->value() == "a");
  by_time = consumer->OffsetsForTimes({{{"t", 0}, sent_ms}});
  REQUIRE(by_time.ok());
  CHECK(by_time->at({"t", 0}) == std::optional<int64_t>(0));
}

TEST_CASE("Records sent by a Producer are read back by an assigned Consumer", "[broker]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("events", {.partitions = 4}).ok());
  auto producer = MakeProducer(*broker);
  std::map<int32_t, std::vector<std::string>> sent;
  for (int i = 0; i < 200; ++i) {
    std::string key = "entity-" + std::to_string(i % 13);
    std::string value = "v" + std::to_string(i);
    RecordMetadata md = SendSync(*producer, {.topic = "events", .key = key, .value = value});
    REQUIRE(md.partition == PartitionForKey(key, 4));
    sent[md.partition].push_back(value);
  }
  auto consumer = MakeConsumer(*broker, {.auto_offset_reset = OffsetReset::kEarliest});
  std::vector<TopicPartition> all;
  for (int32_t p = 0; p < 4; ++p) all.push_back({"events", p});
  REQUIRE(consumer->Assign(all).ok());
  std::map<int32_t, std::vector<std::string>> got;
  for (int round = 0; round < 50; ++round) {
    absl::StatusOr<ConsumerRecords> records = consumer->Poll(std::chrono::milliseconds(10));
    REQUIRE(records.ok());
    for (const ConsumerRecord& r : *records) {
      REQUIRE(r.topic == "events");
      got[r.partition].push_back(std::string(*r.value()));
    }
  }
  REQUIRE(got == sent);
  for (const auto& [tp, lag] : consumer->Lag()) REQUIRE(lag == 0);
  // The producer's batches carry its producer id.
  absl::StatusOr<std::shared_ptr<Partition>> p0 = broker->GetPartition({"events", 0});
  REQUIRE(p0.ok());
  std::vector<ProducerInfo> producers = (*p0)->log().Producers();
  REQUIRE(producers.size() == 1);
  REQUIRE(producers[0].producer_id == producer->producer_id());
}

}  // namespace
}  // namespace brook
