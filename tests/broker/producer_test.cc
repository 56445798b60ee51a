// Producer: batching, ordering across threads, bounded memory, compression, errors.
#include "brook/producer.h"

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <thread>

#include "absl/strings/match.h"
#include "brook/compression.h"
#include "brook/consumer.h"
#include "brook/status.h"
#include "support/broker.h"
#include "support/catch.h"
#include "support/fault_file_system.h"
#include "support/temp_dir.h"
#include "util/mutex.h"

namespace brook {
namespace {

using std::chrono::milliseconds;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::OpenBroker;
using testing::SendSync;

// Reads every record of `topic` from the start: partition -> values in offset order.
std::map<int32_t, std::vector<std::string>> ReadAll(Broker& broker, const std::string& topic) {
  auto consumer = MakeConsumer(broker, {.auto_offset_reset = OffsetReset::kEarliest});
  std::vector<TopicPartition> all;
  for (int32_t p = 0; p < (*broker.GetTopic(topic))->partition_count(); ++p) {
    all.push_back({topic, p});
  }
  REQUIRE(consumer->Assign(all).ok());
  std::map<int32_t, std::vector<std::string>> out;
  while (true) {
    absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(0));
    REQUIRE(records.ok());
    if (records->empty()) break;
    for (const ConsumerRecord& r : *records) out[r.partition].push_back(std::string(*r.value()));
  }
  return out;
}

TEST_CASE("Many threads send through one Producer; each thread's order is kept per partition",
          "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 3}).ok());
  auto producer = MakeProducer(*broker, {.batch_bytes_max = 512});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::atomic<int> acked{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string key = "k" + std::to_string(t);  // one partition per thread's key
        std::string value = std::to_string(t) + ":" + std::to_string(i);
        absl::Status s = producer->Send({.topic = "t", .key = key, .value = value},
                                        [&](const absl::StatusOr<RecordMetadata>& r) {
                                          (r.ok() ? acked : failed).fetch_add(1);
                                        });
        if (!s.ok()) failed.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(producer->Flush().ok());
  REQUIRE(failed.load() == 0);
  REQUIRE(acked.load() == kThreads * kPerThread);
  std::map<int, int> next;  // per thread, the next index expected
  size_t total = 0;
  for (const auto& [p, values] : ReadAll(*broker, "t")) {
    for (const std::string& v : values) {
      int t = std::stoi(v.substr(0, v.find(':')));
      int i = std::stoi(v.substr(v.find(':') + 1));
      REQUIRE(i == next[t]);
      ++next[t];
      ++total;
    }
  }
  REQUIRE(total == kThreads * kPerThread);
}

TEST_CASE("With linger, a Producer batches records and appends them after the linger",
          "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker, {.linger = milliseconds(30)});
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> futures;
  for (int i = 0; i < 10; ++i) {
    futures.push_back(producer->Send({.topic = "t", .value = std::to_string(i)}));
  }
  auto partition = *broker->GetPartition({"t", 0});
  REQUIRE(partition->end_offset() == 0);  // still lingering
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<RecordMetadata> md = futures[static_cast<size_t>(i)].get();
    REQUIRE(md.ok());
    REQUIRE(md->offset == i);
  }
  REQUIRE(partition->end_offset() == 10);
  absl::StatusOr<ReadResult> read = partition->Read(0, ReadOptions{});
  REQUIRE(read->size() == 1);  // one batch
}

TEST_CASE("A full Producer buffer makes Send wait, then fail with ResourceExhausted",
          "[producer]") {
  // Appends that cannot make room within max_block: each is synced, and each sync sleeps.
  testing::TempDir dir;
  testing::FaultFileSystem fs;
  auto broker = OpenBroker(dir.path(), {.background_threads = 0, .file_system = &fs});
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  fs.set_before_sync([](const std::string&) { std::this_thread::sleep_for(milliseconds(300)); });
  auto producer = MakeProducer(*broker, {.batch_bytes_max = 4096,
                                         .linger = std::chrono::seconds(60),
                                         .buffer_bytes_max = 4096,
                                         .max_block = milliseconds(50),
                                         .durability = Durability::kFlushed});
  std::string value(500, 'x');
  absl::Status s;
  int sent = 0;
  for (; sent < 100; ++sent) {
    s = producer->Send({.topic = "t", .value = value}, nullptr);
    if (!s.ok()) break;
  }
  REQUIRE(absl::IsResourceExhausted(s));
  REQUIRE(sent > 0);
  REQUIRE(sent * 500 <= 4096);
  REQUIRE(producer->Flush().ok());
  fs.set_before_sync(nullptr);
  REQUIRE(producer->Send({.topic = "t", .value = value}, nullptr).ok());  // room again
  REQUIRE(producer->Flush().ok());
}

TEST_CASE("A full Producer buffer sends lingering batches at once to make room", "[producer]") {
  // As Kafka's accumulator: waiting for space is a reason to append what lingers.
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker, {.batch_bytes_max = 4096,
                                         .linger = std::chrono::seconds(60),
                                         .buffer_bytes_max = 4096,
                                         .max_block = std::chrono::seconds(30)});
  std::atomic<int> acked{0};
  for (int i = 0; i < 100; ++i) {
    REQUIRE(producer
                ->Send({.topic = "t", .value = std::string(500, 'x')},
                       [&acked](const absl::StatusOr<RecordMetadata>& r) {
                         if (r.ok()) acked.fetch_add(1);
                       })
                .ok());
  }
  // Eight records fill the buffer; the other 92 Sends each waited for lingering ones to go.
  // Unacknowledged now: at most the buffer's 8, and the 8 of a batch whose append released
  // their space but has not run their callbacks yet.
  CHECK(acked.load() >= 100 - 16);
  REQUIRE(producer->Flush().ok());
  CHECK(acked.load() == 100);
}

TEST_CASE("max_block at its largest waits for room, it does not overflow into a failure",
          "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker, {.batch_bytes_max = 4096,
                                         .linger = std::chrono::microseconds::max(),
                                         .buffer_bytes_max = 4096,
                                         .max_block = milliseconds::max()});
  const std::string value(3000, 'x');
  REQUIRE(producer->Send({.topic = "t", .value = value}, nullptr).ok());  // fills the buffer
  absl::Status second = absl::UnknownError("not returned");
  std::thread sender([&] { second = producer->Send({.topic = "t", .value = value}, nullptr); });
  // It waits: only the Flush below makes room. (Were the deadline to overflow, it would have
  // failed with ResourceExhausted at once, and `second` would say so.)
  std::this_thread::sleep_for(milliseconds(50));
  REQUIRE(producer->Flush().ok());
  sender.join();
  INFO(second);
  CHECK(second.ok());
  REQUIRE(producer->Close().ok());
}

TEST_CASE("Keyless records stay on a partition for batch_bytes_max bytes, as Kafka's batch.size",
          "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 4}).ok());
  auto producer = MakeProducer(*broker, {.batch_bytes_max = 1 << 20});
  for (int i = 0; i < 500; ++i) {  // ~60 KB: past the partitioner's 16-KiB default
    REQUIRE(producer->Send({.topic = "t", .value = std::string(100, 'v')}, nullptr).ok());
  }
  REQUIRE(producer->Flush().ok());
  int used = 0;
  for (int32_t p = 0; p < 4; ++p) used += (*broker->GetPartition({"t", p}))->end_offset() > 0;
  CHECK(used == 1);
}

TEST_CASE("A record with a negative timestamp other than kNoTimestamp is refused", "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker);
  CHECK(absl::IsInvalidArgument(
      producer->Send({.topic = "t", .value = "v", .timestamp = -5}, nullptr)));
  std::vector<ProducerRecord> batch = {{.topic = "t", .value = "a", .timestamp = 10},
                                       {.topic = "t", .value = "b", .timestamp = -2}};
  CHECK(absl::IsInvalidArgument(producer->SendBatch(batch, nullptr)));
  REQUIRE(producer->Send({.topic = "t", .value = "v", .timestamp = kNoTimestamp}, nullptr).ok());
  REQUIRE(producer->Send({.topic = "t", .value = "v", .timestamp = 0}, nullptr).ok());
  REQUIRE(producer->Flush().ok());
  CHECK((*broker->GetPartition({"t", 0}))->end_offset() == 2);
}

TEST_CASE("Producer errors: unknown topic, internal topic, bad partition, too large, closed",
          "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 2, .batch_bytes_max = 2048}).ok());
  auto producer = MakeProducer(*broker);
  REQUIRE(GetErrorCode(producer->Send({.topic = "nope", .value = "v"}, nullptr)) ==
          ErrorCode::kUnknownTopicOrPartition);
  REQUIRE(absl::IsInvalidArgument(
      producer->Send({.topic = "__consumer_offsets", .value = "v"}, nullptr)));
  REQUIRE(GetErrorCode(producer->Send({.topic = "t", .value = "v", .partition = 2}, nullptr)) ==
          ErrorCode::kUnknownTopicOrPartition);
  std::string big(4096, 'x');
  REQUIRE(GetErrorCode(producer->Send({.topic = "t", .value = big}, nullptr)) ==
          ErrorCode::kMessageTooLarge);
  REQUIRE(producer->Close().ok());
  REQUIRE(absl::IsFailedPrecondition(producer->Send({.topic = "t", .value = "v"}, nullptr)));
}

TEST_CASE("Close while threads send: every accepted record is appended, later ones refused",
          "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 3}).ok());
  for (int round = 0; round < 20; ++round) {
    INFO("round " << round);
    const std::string topic = "t" + std::to_string(round);
    REQUIRE(broker->CreateTopic(topic, {.partitions = 3}).ok());
    // Linger keeps batches open, so Close finds records queued that only its Flush appends.
    auto producer = MakeProducer(*broker, {.linger = milliseconds(round % 2 == 0 ? 0 : 50)});
    constexpr int kThreads = 3;
    std::atomic<int> accepted{0};
    std::atomic<int> acked{0};
    std::atomic<int> other_errors{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        for (int i = 0;; ++i) {
          std::string key = "k" + std::to_string(t * 1000 + i);
          absl::Status s = producer->Send({.topic = topic, .key = key, .value = "v"},
                                          [&](const absl::StatusOr<RecordMetadata>& r) {
                                            (r.ok() ? acked : other_errors).fetch_add(1);
                                          });
          if (absl::IsFailedPrecondition(s)) break;
          if (s.ok()) {
            accepted.fetch_add(1);
          } else {
            other_errors.fetch_add(1);
          }
        }
      });
    }
    go = true;
    std::this_thread::sleep_for(std::chrono::microseconds(200 * (round % 5)));
    REQUIRE(producer->Close().ok());
    for (auto& th : threads) th.join();
    CHECK(other_errors.load() == 0);
    // Every accepted record was acknowledged and is in the log.
    CHECK(acked.load() == accepted.load());
    size_t in_log = 0;
    for (const auto& [p, values] : ReadAll(*broker, topic)) in_log += values.size();
    CHECK(in_log == static_cast<size_t>(accepted.load()));
  }
}

TEST_CASE("SendBatch appends its records as one batch, in order with Send", "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 3}).ok());
  auto producer = MakeProducer(*broker, {.linger = milliseconds(20)});
  std::vector<absl::StatusOr<RecordMetadata>> results;
  Mutex mu;
  auto record = [&](const absl::StatusOr<RecordMetadata>& r) {
    MutexLock l(&mu);
    results.push_back(r);
  };
  for (int i = 0; i < 3; ++i) {
    REQUIRE(
        producer
            ->Send({.topic = "t", .value = "before" + std::to_string(i), .partition = 1}, record)
            .ok());
  }
  std::vector<std::string> values;
  for (int i = 0; i < 5; ++i) values.push_back("batch" + std::to_string(i));
  std::vector<ProducerRecord> batch;
  for (const std::string& v : values) batch.push_back({.topic = "t", .key = "k", .value = v});
  batch[0].partition = 1;  // the batch's partition; the others may leave it unset
  batch[2].timestamp = 42;
  REQUIRE(producer->SendBatch(batch, record).ok());
  REQUIRE(producer->Send({.topic = "t", .value = "after", .partition = 1}, record).ok());
  REQUIRE(producer->Flush().ok());

  // One callback for the batch: 3 + 1 + 1.
  REQUIRE(results.size() == 5);
  REQUIRE(results[3].ok());
  CHECK(results[3]->partition == 1);
  CHECK(results[3]->offset == 3);
  CHECK(ReadAll(*broker, "t")[1] == std::vector<std::string>{"before0", "before1", "before2",
                                                             "batch0", "batch1", "batch2", "batch3",
                                                             "batch4", "after"});
  // The five are one batch, record 2 with its own timestamp.
  auto partition = *broker->GetPartition({"t", 1});
  absl::StatusOr<ReadResult> read = partition->Read(3, ReadOptions{});
  REQUIRE(read.ok());
  const RecordBatchView& b = read->batches()[0];
  CHECK(b.base_offset() == 3);
  CHECK(b.records_count() == 5);
  auto it = b.records().begin();
  ++it;
  ++it;
  CHECK((*it).timestamp() == 42);
}

TEST_CASE("SendBatch is all or nothing, and refuses what one batch cannot be", "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("c", {.cleanup_policy = CleanupPolicy::kCompact}).ok());
  REQUIRE(broker->CreateTopic("t", {.partitions = 2, .batch_bytes_max = 4096}).ok());
  auto producer = MakeProducer(*broker);
  // A keyless record fails the compacted topic's check: the whole batch fails, once.
  std::vector<ProducerRecord> mixed = {{.topic = "c", .key = "a", .value = "1"},
                                       {.topic = "c", .value = "no key"},
                                       {.topic = "c", .key = "b", .value = "2"}};
  std::atomic<int> calls{0};
  absl::Status failure;
  REQUIRE(producer
              ->SendBatch(mixed,
                          [&](const absl::StatusOr<RecordMetadata>& r) {
                            ++calls;
                            failure = r.status();
                          })
              .ok());
  CHECK(!producer->Flush().ok());
  CHECK(calls == 1);
  CHECK(GetErrorCode(failure) == ErrorCode::kInvalidRecord);
  CHECK((*broker->GetPartition({"c", 0}))->end_offset() == 0);

  CHECK(absl::IsInvalidArgument(producer->SendBatch({}, nullptr)));
  std::vector<ProducerRecord> two_topics = {{.topic = "t", .value = "x"},
                                            {.topic = "c", .key = "k", .value = "y"}};
  CHECK(absl::IsInvalidArgument(producer->SendBatch(two_topics, nullptr)));
  std::vector<ProducerRecord> two_partitions = {{.topic = "t", .value = "x", .partition = 0},
                                                {.topic = "t", .value = "y", .partition = 1}};
  CHECK(absl::IsInvalidArgument(producer->SendBatch(two_partitions, nullptr)));
  // Over the topic's max.message.bytes together, though each record fits.
  std::string value(1000, 'v');
  std::vector<ProducerRecord> big(5, ProducerRecord{.topic = "t", .value = value});
  CHECK(GetErrorCode(producer->SendBatch(big, nullptr)) == ErrorCode::kMessageTooLarge);
  CHECK((*broker->GetPartition({"t", 0}))->end_offset() == 0);
  CHECK((*broker->GetPartition({"t", 1}))->end_offset() == 0);
  REQUIRE(producer->Close().ok());
  std::vector<ProducerRecord> one = {{.topic = "t", .value = "x"}};
  CHECK(absl::IsFailedPrecondition(producer->SendBatch(one, nullptr)));
}

TEST_CASE("Producer refuses records larger than the topic's segments up front", "[producer]") {
  // The log refuses a batch larger than segment.bytes whatever max.message.bytes says, so the
  // producer takes the smaller of the two as its limit and refuses at Send, not in the callback.
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.segment_bytes_max = 8192}).ok());
  auto producer = MakeProducer(*broker);
  bool called = false;
  absl::Status s = producer->Send({.topic = "t", .value = std::string(10'000, 'v')},
                                  [&](const absl::StatusOr<RecordMetadata>&) { called = true; });
  CHECK(GetErrorCode(s) == ErrorCode::kMessageTooLarge);
  CHECK_THAT(std::string(s.message()), Catch::Contains("segment.bytes"));
  std::vector<ProducerRecord> big(3, ProducerRecord{.topic = "t", .value = std::string(3000, 'v')});
  CHECK(GetErrorCode(producer->SendBatch(big, nullptr)) == ErrorCode::kMessageTooLarge);
  // Records that fit go through, in batches that fit a segment.
  for (int i = 0; i < 20; ++i) {
    REQUIRE(producer->Send({.topic = "t", .value = std::string(3000, 'v')}, nullptr).ok());
  }
  REQUIRE(producer->Flush().ok());
  CHECK_FALSE(called);
  CHECK((*broker->GetPartition({"t", 0}))->end_offset() == 20);
}

TEST_CASE("Producer refuses options it cannot honour, and caps durations", "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  using std::chrono::hours;
  using std::chrono::microseconds;
  const std::vector<ProducerOptions> bad = {
      {.batch_bytes_max = 0},
      {.batch_bytes_max = 1 << 20, .buffer_bytes_max = 1 << 10},
      {.linger = microseconds(-1)},
      {.burst_linger = microseconds(-1)},
      {.delivery_timeout = milliseconds(-1)},
      {.retry_backoff = milliseconds(0)},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    INFO(i);
    CHECK(absl::IsInvalidArgument(Producer::Create(*broker, bad[i]).status()));
  }
  // Kafka's "forever" durations are capped, not refused.
  auto producer = MakeProducer(*broker, {.linger = hours(1'000'000),
                                         .burst_linger = hours(1'000'000),
                                         .max_block = milliseconds::max(),
                                         .delivery_timeout = milliseconds::max(),
                                         .retry_backoff = milliseconds::max()});
  REQUIRE(broker->CreateTopic("t").ok());
  REQUIRE(producer->Send({.topic = "t", .value = "v"}, nullptr).ok());
  REQUIRE(producer->Flush().ok());
  CHECK((*broker->GetPartition({"t", 0}))->end_offset() == 1);
}

TEST_CASE("Producer auto-creates topics when the Broker allows it", "[producer]") {
  testing::TempDir dir;
  BrokerOptions options{.default_topic_config = {.partitions = 2},
                        .auto_create_topics = true,
                        .background_threads = 0};
  auto broker = OpenBroker(dir.path(), options);
  auto producer = MakeProducer(*broker);
  SendSync(*producer, {.topic = "fresh", .value = "v"});
  REQUIRE((*broker->GetTopic("fresh"))->partition_count() == 2);
}

TEST_CASE("Compressed batches from the Producer are read back by the Consumer", "[producer]") {
  for (Compression codec :
       {Compression::kGzip, Compression::kSnappy, Compression::kLz4, Compression::kZstd}) {
    if (!CompressionSupported(codec)) continue;
    CAPTURE(static_cast<int>(codec));
    testing::TempDir dir;
    auto broker = OpenBroker(dir.path());
    REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
    auto producer = MakeProducer(*broker, {.linger = milliseconds(5), .compression = codec});
    for (int i = 0; i < 500; ++i) {
      REQUIRE(producer->Send({.topic = "t", .value = "record " + std::to_string(i)}, nullptr).ok());
    }
    REQUIRE(producer->Flush().ok());
    auto partition = *broker->GetPartition({"t", 0});
    absl::StatusOr<ReadResult> read = partition->Read(0, ReadOptions{});
    REQUIRE(read.ok());
    REQUIRE((*read).batches()[0].compression() == codec);
    std::vector<std::string> values = ReadAll(*broker, "t")[0];
    REQUIRE(values.size() == 500);
    for (int i = 0; i < 500; ++i)
      REQUIRE(values[static_cast<size_t>(i)] == "record " + std::to_string(i));
  }
}

TEST_CASE("A compacted topic takes compressed batches from the Producer", "[producer]") {
  if (!CompressionSupported(Compression::kZstd)) return;
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("c", {.cleanup_policy = CleanupPolicy::kCompact}).ok());
  auto producer =
      MakeProducer(*broker, {.linger = milliseconds(5), .compression = Compression::kZstd});
  for (int i = 0; i < 300; ++i) {
    std::string key = "k" + std::to_string(i % 10);
    REQUIRE(producer->Send({.topic = "c", .key = key, .value = std::to_string(i)}, nullptr).ok());
  }
  REQUIRE(producer->Flush().ok());
  // A keyless record is refused by the compacted topic (it reaches Send's callback).
  absl::StatusOr<RecordMetadata> keyless = producer->Send({.topic = "c", .value = "x"}).get();
  CHECK(GetErrorCode(keyless.status()) == ErrorCode::kInvalidRecord);
  std::vector<std::string> values = ReadAll(*broker, "c")[0];
  REQUIRE(values.size() == 300);
  CHECK(values.back() == "299");
}

TEST_CASE("A fetch error after records returns the records first, then the error", "[consumer]") {
  if (!CompressionSupported(Compression::kLz4)) return;
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 2}).ok());
  auto plain = MakeProducer(*broker);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(plain->Send({.topic = "t", .value = std::to_string(i), .partition = 0}, nullptr).ok());
  }
  REQUIRE(plain->Flush().ok());
  auto packed =
      MakeProducer(*broker, {.linger = milliseconds(5), .compression = Compression::kLz4});
  for (int i = 0; i < 50; ++i) {
    REQUIRE(
        packed->Send({.topic = "t", .value = std::string(100, 'z'), .partition = 1}, nullptr).ok());
  }
  REQUIRE(packed->Flush().ok());
  // Partition 1's batch decompresses to more than the consumer allows: an error, every time.
  auto consumer = MakeConsumer(
      *broker, {.auto_offset_reset = OffsetReset::kEarliest, .max_decompressed_batch_bytes = 1000});
  REQUIRE(consumer->Assign({{"t", 0}, {"t", 1}}).ok());
  std::vector<std::string> delivered;
  int errors = 0;
  for (int i = 0; i < 6; ++i) {
    absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(0));
    if (!records.ok()) {
      ++errors;
      continue;
    }
    for (const ConsumerRecord& r : *records) delivered.push_back(std::string(*r.value()));
  }
  REQUIRE(errors >= 3);
  REQUIRE(delivered == std::vector<std::string>{"0", "1", "2", "3", "4"});
}

TEST_CASE("CommitAsync runs its callback in a later Poll, and refuses after Close", "[consumer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto consumer = MakeConsumer(*broker, {.group_id = "g"});
  REQUIRE(consumer->Assign({{"t", 0}}).ok());
  REQUIRE(consumer->Seek({"t", 0}, 0).ok());
  absl::Status result = absl::UnknownError("not called");
  consumer->CommitAsync([&](const absl::Status& s) { result = s; });
  REQUIRE(consumer->Commit().ok());  // waits for the async commit first
  REQUIRE(consumer->Poll(milliseconds(0)).ok());
  REQUIRE(result.ok());
  REQUIRE(consumer->Close().ok());
  absl::Status after = absl::OkStatus();
  consumer->CommitAsync([&](const absl::Status& s) { after = s; });
  REQUIRE(absl::IsFailedPrecondition(after));
}

TEST_CASE("CommitAsync calls made while a commit is being stored merge into one commit",
          "[consumer]") {
  // The first async commit blocks in its sync; the 99 calls made meanwhile must wait as one
  // commit (the last positions), not as 99: memory stays bounded however fast the caller commits.
  testing::TempDir dir;
  testing::FaultFileSystem fs;
  auto broker = OpenBroker(dir.path(), {.background_threads = 0, .file_system = &fs});
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  std::mutex mu;
  std::condition_variable cv;
  bool blocked = false;
  bool release = false;
  int offsets_syncs = 0;
  fs.set_before_sync([&](const std::string& path) {
    if (path.find("__consumer_offsets") == std::string::npos) return;
    std::unique_lock l(mu);
    ++offsets_syncs;
    blocked = true;
    cv.notify_all();
    cv.wait(l, [&] { return release; });
  });
  auto consumer = MakeConsumer(*broker, {.group_id = "g"});
  REQUIRE(consumer->Assign({{"t", 0}}).ok());
  std::vector<int> called;  // the callbacks, in the order they ran
  for (int i = 0; i < 100; ++i) {
    REQUIRE(consumer->Seek({"t", 0}, i + 1).ok());
    consumer->CommitAsync([&called, i](const absl::Status& s) {
      if (s.ok()) called.push_back(i);
    });
    if (i == 0) {
      std::unique_lock l(mu);
      cv.wait(l, [&] { return blocked; });  // the first commit is being stored
    }
  }
  int syncs_per_commit = 0;
  {
    std::unique_lock l(mu);
    syncs_per_commit = offsets_syncs;
    release = true;
    cv.notify_all();
  }
  REQUIRE(consumer->Commit().ok());  // waits for the async commits first
  REQUIRE(consumer->Poll(milliseconds(0)).ok());
  std::vector<int> expected(100);
  std::iota(expected.begin(), expected.end(), 0);
  REQUIRE(called == expected);
  REQUIRE(consumer->Committed({{"t", 0}})->at({"t", 0}) == 100);
  // The blocked commit, one merged commit, and the synchronous one.
  std::unique_lock l(mu);
  REQUIRE(offsets_syncs == 3 * syncs_per_commit);
  fs.set_before_sync(nullptr);
}

TEST_CASE("Every record is acknowledged within burst_linger, however sends interleave",
          "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  auto producer = MakeProducer(*broker, {.burst_linger = milliseconds(2)});
  // Send-and-wait in a loop: each record arrives just as the previous append finishes, while
  // the drainer may still be busy; none may be left behind in an open batch.
  for (int i = 0; i < 300; ++i) {
    std::future<absl::StatusOr<RecordMetadata>> f =
        producer->Send({.topic = "t", .value = std::to_string(i)});
    REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    absl::StatusOr<RecordMetadata> md = f.get();
    REQUIRE(md.ok());
    REQUIRE(md->offset == i);
  }
  // A fast burst is batched and still acknowledged.
  std::vector<std::future<absl::StatusOr<RecordMetadata>>> burst;
  for (int i = 0; i < 1000; ++i) burst.push_back(producer->Send({.topic = "t", .value = "b"}));
  for (auto& f : burst) {
    REQUIRE(f.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
    REQUIRE(f.get().ok());
  }
}

// Sends to partition 0 of "t" from another thread until stopped, or for at most 20 s (then
// gave_up is set: whatever the test waited for did not end while the stream went on). It sends
// batches of 1000 records, which queue faster than they are appended: a thread appending the
// queue's batches until none is left would go on as long as the stream does.
struct Stream {
  explicit Stream(Producer& producer)
      : thread([this, &producer] {
          const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
          const std::string value(100, 's');
          std::vector<ProducerRecord> batch(1000, {.topic = "t", .value = value, .partition = 0});
          while (!stop.load()) {
            if (!producer.SendBatch(batch, nullptr).ok()) break;
            sent.fetch_add(static_cast<int64_t>(batch.size()));
            if (std::chrono::steady_clock::now() > deadline) {
              gave_up = true;
              break;
            }
          }
          ended = true;
        }) {}
  ~Stream() {
    stop = true;
    thread.join();
  }
  void WaitForSends(int64_t n) const {
    while (sent.load() < n && !ended.load()) std::this_thread::yield();
  }
  std::atomic<bool> stop{false};
  std::atomic<bool> gave_up{false};
  std::atomic<bool> ended{false};
  std::atomic<int64_t> sent{0};
  std::thread thread;
};

// A broker whose appends take at least a millisecond each: every one is synced (the producer
// asks for kFlushed), and each sync sleeps first. Batches then queue faster than they are
// appended, in any build.
struct SlowAppends {
  SlowAppends() {
    fs.set_before_sync([](const std::string&) { std::this_thread::sleep_for(milliseconds(1)); });
    broker = OpenBroker(dir.path(), {.background_threads = 0, .file_system = &fs});
    // Small segments and buffer: the fault file system copies a mapped file whole at each
    // sync, and a Flush still waits for the whole buffer queued before it.
    REQUIRE(broker->CreateTopic("t", {.partitions = 1, .segment_bytes_max = 1 << 20}).ok());
    producer =
        MakeProducer(*broker, {.buffer_bytes_max = 1 << 20, .durability = Durability::kFlushed});
  }
  testing::TempDir dir;
  testing::FaultFileSystem fs;
  std::unique_ptr<Broker> broker;
  std::unique_ptr<Producer> producer;
};

TEST_CASE("Flush waits for the records sent before it, not for those others keep sending",
          "[producer]") {
  SlowAppends slow;
  std::atomic<int> acked{0};
  {
    Stream stream(*slow.producer);
    stream.WaitForSends(10'000);
    for (int i = 0; i < 100; ++i) {
      REQUIRE(slow.producer
                  ->Send({.topic = "t", .value = "mine", .partition = 0},
                         [&acked](const absl::StatusOr<RecordMetadata>& r) {
                           if (r.ok()) acked.fetch_add(1);
                         })
                  .ok());
    }
    REQUIRE(slow.producer->Flush().ok());
    CHECK(acked.load() == 100);
    CHECK_FALSE(stream.gave_up.load());
  }
  REQUIRE(slow.producer->Flush().ok());
}

TEST_CASE("A Send that appends inline returns once its own record is in, however others send",
          "[producer]") {
  SlowAppends slow;
  std::unique_ptr<Stream> stream;
  // The first record finds the partition idle and is appended by its own Send. Its callback,
  // run inside that append, starts a stream to the same partition and lets it queue batches:
  // the Send must then return, not go on appending the stream's batches.
  REQUIRE(slow.producer
              ->Send({.topic = "t", .value = "first", .partition = 0},
                     [&](const absl::StatusOr<RecordMetadata>&) {
                       stream = std::make_unique<Stream>(*slow.producer);
                       stream->WaitForSends(5'000);  // half the buffer: no one appends meanwhile
                     })
              .ok());
  REQUIRE(stream != nullptr);
  CHECK_FALSE(stream->gave_up.load());
  stream.reset();
  REQUIRE(slow.producer->Flush().ok());
}

TEST_CASE("A second Close returns only once the first has appended everything", "[producer]") {
  testing::TempDir dir;
  testing::FaultFileSystem fs;
  std::atomic<bool> syncing{false};
  fs.set_before_sync([&](const std::string&) {
    syncing = true;
    std::this_thread::sleep_for(milliseconds(2));
  });
  auto broker = OpenBroker(dir.path(), {.background_threads = 0, .file_system = &fs});
  REQUIRE(broker->CreateTopic("t", {.partitions = 1, .segment_bytes_max = 1 << 20}).ok());
  auto producer = MakeProducer(*broker, {.batch_bytes_max = 1 << 20,
                                         .linger = std::chrono::seconds(60),
                                         .durability = Durability::kFlushed});
  std::atomic<int> acked{0};
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(producer
                ->Send({.topic = "t", .value = std::string(100, 'v')},
                       [&acked](const absl::StatusOr<RecordMetadata>& r) {
                         if (r.ok()) acked.fetch_add(1);
                       })
                .ok());
  }
  REQUIRE(acked.load() == 0);  // lingering
  syncing = false;             // (opening the broker synced)
  absl::Status first_close;
  std::thread first([&] { first_close = producer->Close(); });  // no CHECK off the main thread
  while (!syncing.load()) std::this_thread::yield();            // the first Close is appending
  REQUIRE(producer->Close().ok());
  CHECK(acked.load() == 1000);
  first.join();
  CHECK(first_close.ok());
}

TEST_CASE("A burst's last batch is appended once the burst stops, long before burst_linger",
          "[producer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  // burst_linger is only the upper bound: a batch that stops growing is appended by the sender
  // thread within a few kBurstGap (20 µs) looks, not after 60 s.
  auto producer = MakeProducer(*broker, {.burst_linger = std::chrono::seconds(60)});
  for (int round = 0; round < 20; ++round) {
    std::vector<std::future<absl::StatusOr<RecordMetadata>>> burst;
    for (int i = 0; i < 50; ++i) burst.push_back(producer->Send({.topic = "t", .value = "b"}));
    for (auto& f : burst) {
      REQUIRE(f.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
      REQUIRE(f.get().ok());
    }
  }
}

// Appends `batches` batches of `per_batch` records with values "0", "1", … to partition 0.
void AppendBatches(Broker& broker, int batches, int per_batch) {
  auto producer = MakeProducer(broker, {.linger = std::chrono::seconds(10)});
  int value = 0;
  for (int b = 0; b < batches; ++b) {
    for (int i = 0; i < per_batch; ++i) {
      REQUIRE(
          producer->Send({.topic = "t", .value = std::to_string(value++), .partition = 0}, nullptr)
              .ok());
    }
    REQUIRE(producer->Flush().ok());
  }
}

// Polls until `n` records came or a Poll returns none: their values.
std::vector<std::string> PollValues(Consumer& consumer, size_t n) {
  std::vector<std::string> out;
  while (out.size() < n) {
    absl::StatusOr<ConsumerRecords> records = consumer.Poll(milliseconds(0));
    REQUIRE(records.ok());
    if (records->empty()) break;
    for (const ConsumerRecord& r : *records) out.push_back(std::string(*r.value()));
  }
  return out;
}

std::vector<std::string> Numbers(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(std::to_string(i));
  return out;
}

TEST_CASE("Polls smaller than a batch go on where the last one stopped, and Seek moves them",
          "[consumer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  AppendBatches(*broker, 3, 50);
  auto consumer =
      MakeConsumer(*broker, {.auto_offset_reset = OffsetReset::kEarliest, .max_poll_records = 7});
  REQUIRE(consumer->Assign({{"t", 0}}).ok());
  REQUIRE(PollValues(*consumer, 150) == Numbers(0, 150));
  // Mid-batch, back within the batch the last Poll stopped in, and forward across batches.
  REQUIRE(consumer->Seek({"t", 0}, 23).ok());
  REQUIRE(PollValues(*consumer, 7) == Numbers(23, 30));
  REQUIRE(consumer->Seek({"t", 0}, 25).ok());
  REQUIRE(PollValues(*consumer, 14) == Numbers(25, 39));
  REQUIRE(consumer->Seek({"t", 0}, 120).ok());
  REQUIRE(PollValues(*consumer, 30) == Numbers(120, 150));
  // Appends after the last Poll are seen by the next.
  AppendBatches(*broker, 1, 10);
  REQUIRE(PollValues(*consumer, 10) == Numbers(0, 10));
}

TEST_CASE("A consumer going on from a cursor sees a truncation and what replaced the cut",
          "[consumer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  AppendBatches(*broker, 5, 10);  // offsets 0-49 in 5 batches
  auto consumer =
      MakeConsumer(*broker, {.auto_offset_reset = OffsetReset::kEarliest, .max_poll_records = 7});
  REQUIRE(consumer->Assign({{"t", 0}}).ok());
  REQUIRE(PollValues(*consumer, 7) == Numbers(0, 7));  // the cursor stops inside batch 0
  std::shared_ptr<Partition> partition = *broker->GetPartition({"t", 0});
  REQUIRE(*partition->log().TruncateTo(10) == 10);
  auto producer = MakeProducer(*broker, {.linger = std::chrono::seconds(10)});
  for (int i = 0; i < 10; ++i) {
    REQUIRE(
        producer->Send({.topic = "t", .value = "new" + std::to_string(i), .partition = 0}, nullptr)
            .ok());
  }
  REQUIRE(producer->Flush().ok());
  std::vector<std::string> expected = Numbers(7, 10);
  for (int i = 0; i < 10; ++i) expected.push_back("new" + std::to_string(i));
  REQUIRE(PollValues(*consumer, 13) == expected);
}

TEST_CASE("A damaged batch fails its CRC check when the consumer reaches it, not before",
          "[consumer]") {
  testing::TempDir dir;
  auto broker = OpenBroker(dir.path());
  REQUIRE(broker->CreateTopic("t", {.partitions = 1}).ok());
  AppendBatches(*broker, 3, 20);
  // Flip the last value byte of the second batch (before its last record's header count) in the
  // file; the mapping sees it.
  std::shared_ptr<Partition> partition = *broker->GetPartition({"t", 0});
  absl::StatusOr<ReadResult> read = partition->Read(0, {.verify = false});
  REQUIRE(read.ok());
  REQUIRE(read->size() == 3);
  const uint64_t at = read->batches()[0].size_bytes() + read->batches()[1].size_bytes() - 2;
  {
    std::fstream f(dir.path() + "/t-0/00000000000000000000.log",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(at));
    char c = 0;
    f.get(c);
    f.seekp(static_cast<std::streamoff>(at));
    f.put(static_cast<char>(c ^ 0x40));
  }
  for (bool check : {true, false}) {
    auto consumer = MakeConsumer(
        *broker,
        {.auto_offset_reset = OffsetReset::kEarliest, .max_poll_records = 7, .check_crcs = check});
    REQUIRE(consumer->Assign({{"t", 0}}).ok());
    std::vector<std::string> values;
    absl::Status error;
    for (int i = 0; i < 20 && error.ok(); ++i) {
      absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(0));
      if (!records.ok()) {
        error = records.status();
        break;
      }
      for (const ConsumerRecord& r : *records) values.push_back(std::string(*r.value()));
    }
    if (check) {
      // The first batch's 20 records, then the error naming the partition and the offset.
      INFO(error);
      REQUIRE(values == Numbers(0, 20));
      REQUIRE(absl::IsDataLoss(error));
      REQUIRE(absl::StrContains(error.message(), "t-0"));
      REQUIRE(absl::StrContains(error.message(), "offset 20"));
    } else {
      REQUIRE(error.ok());
      REQUIRE(values.size() == 60);
      REQUIRE(values[39] == "3y");  // '9' ^ 0x40: the damaged byte, delivered as it is
    }
  }
}

}  // namespace
}  // namespace brook
