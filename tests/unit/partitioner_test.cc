// Kafka's producer partitioners: murmur2 key placement checked against the vectors Kafka's and
// librdkafka's own tests use, the uniform sticky rule for keyless records, round robin.

#include "brook/partitioner.h"

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/catch.h"
#include "support/seed.h"

namespace brook {
namespace {

TEST_CASE("Murmur2 matches Kafka's Utils.murmur2 test vectors", "[partitioner]") {
  // clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java (testMurmur2).
  CHECK(Murmur2("21") == -973932308);
  CHECK(Murmur2("foobar") == -790332482);
  CHECK(Murmur2("a-little-bit-long-string") == -985981536);
  CHECK(Murmur2("a-little-bit-longer-string") == -1486304829);
  CHECK(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971);
  CHECK(Murmur2("abc") == 479470107);
}

TEST_CASE("Murmur2 matches librdkafka's Java-murmur2 vectors, every tail length and alignment",
          "[partitioner]") {
  // librdkafka src/rdmurmur2.c unittest_murmur2 (java_murmur2_results), which also slices its
  // inputs at odd offsets to exercise unaligned reads.
  const std::string short_unaligned = "1234";
  const std::string unaligned = "PreAmbleWillBeRemoved,ThePrePartThatIs";
  const std::vector<std::pair<std::string_view, uint32_t>> cases = {
      {"kafka", 0xd067cf64},
      {"giberish123456789", 0x8f552b0c},
      {std::string_view(short_unaligned), 0x9fc97b14},
      {std::string_view(short_unaligned).substr(1), 0xe7c009ca},
      {std::string_view(short_unaligned).substr(2), 0x873930da},
      {std::string_view(short_unaligned).substr(3), 0x5a4b5ca1},
      {std::string_view(unaligned), 0x78424f1c},
      {std::string_view(unaligned).substr(1), 0x4a62b377},
      {std::string_view(unaligned).substr(2), 0xe0e4e09e},
      {std::string_view(unaligned).substr(3), 0x62b8b43f},
      {"", 0x106e08d9},
  };
  for (const auto& [key, expected] : cases) {
    INFO("key '" << key << "'");
    CHECK(static_cast<uint32_t>(Murmur2(key)) == expected);
  }
}

TEST_CASE("Murmur2 reads bytes, not chars: high bytes hash as unsigned", "[partitioner]") {
  // Java's murmur2 masks each byte with 0xff; a signed-char implementation would differ here.
  const std::string high = "\xff\xfe\x80\x81\x90";
  CHECK(Murmur2(high) == Murmur2(std::string_view(high)));
  CHECK(Murmur2(high) != Murmur2("\x7f\x7e\x00\x01\x10"));
  // Computed with an independent implementation of Kafka's algorithm.
  CHECK(static_cast<uint32_t>(Murmur2(high)) == 0x1433820eu);
}

TEST_CASE("ToPositive clears the sign bit rather than taking abs", "[partitioner]") {
  CHECK(ToPositive(0) == 0);
  CHECK(ToPositive(5) == 5);
  CHECK(ToPositive(-1) == std::numeric_limits<int32_t>::max());
  CHECK(ToPositive(std::numeric_limits<int32_t>::min()) == 0);
  CHECK(ToPositive(-973932308) == 1173551340);
}

TEST_CASE("PartitionForKey puts keys where Java producers put them", "[partitioner]") {
  // toPositive(murmur2(key)) % n, from the vectors above.
  struct Case {
    std::string_view key;
    std::array<int32_t, 4> partitions;  // for 3, 7, 12 and 100 partitions
  };
  const std::vector<Case> cases = {
      {"21", {0, 3, 0, 40}},    {"foobar", {0, 0, 6, 66}},
      {"abc", {0, 4, 3, 7}},    {"a-little-bit-long-string", {2, 1, 8, 12}},
      {"kafka", {1, 3, 4, 80}}, {"giberish123456789", {2, 5, 8, 20}},
      {"", {0, 2, 9, 81}},      {"1234", {0, 0, 0, 40}},
  };
  const std::array<int32_t, 4> counts = {3, 7, 12, 100};
  for (const Case& c : cases) {
    for (size_t i = 0; i < counts.size(); ++i) {
      INFO("key '" << c.key << "', " << counts[i] << " partitions");
      CHECK(PartitionForKey(c.key, counts[i]) == c.partitions[i]);
    }
  }
  // abs() would give 973932308 % 7 == 6 for "21"; Kafka's toPositive gives 3.
  CHECK(PartitionForKey("21", 7) == 3);
  CHECK(PartitionForKey("anything", 1) == 0);
}

TEST_CASE("The default partitioner places keyed records by murmur2", "[partitioner]") {
  auto partitioner = MakeDefaultPartitioner({.seed = 7});
  for (int i = 0; i < 200; ++i) {
    std::string key = "key-" + std::to_string(i);
    PartitionerRecord record{.topic = "t", .key = key, .size_bytes = 100, .num_partitions = 12};
    CHECK(partitioner->Partition(record) == PartitionForKey(key, 12));
  }
  // An empty key is a key, not a null key.
  CHECK(partitioner->Partition({.topic = "t", .key = "", .num_partitions = 12}) == 9);
}

// Partitions chosen for `records` keyless records of `size` bytes to one topic.
std::vector<int32_t> KeylessRun(Partitioner& partitioner, std::string_view topic, int records,
                                size_t size, int32_t partitions,
                                std::optional<std::string_view> key = std::nullopt) {
  std::vector<int32_t> out;
  for (int i = 0; i < records; ++i) {
    out.push_back(partitioner.Partition(
        {.topic = topic, .key = key, .size_bytes = size, .num_partitions = partitions}));
  }
  return out;
}

TEST_CASE("Keyless records stick to a partition until its byte budget is spent", "[partitioner]") {
  auto partitioner =
      MakeDefaultPartitioner({.sticky_batch_bytes = 1000, .seed = testing::TestSeed()});
  // 100-byte records: the 10th reaches the 1000-byte budget and still goes to the same
  // partition; the 11th moves to a different one.
  std::vector<int32_t> run = KeylessRun(*partitioner, "t", 40, 100, 8);
  for (int block = 0; block < 4; ++block) {
    for (int i = 1; i < 10; ++i) {
      INFO("record " << block * 10 + i);
      CHECK(run[block * 10 + i] == run[block * 10]);
    }
    if (block > 0) CHECK(run[block * 10] != run[block * 10 - 1]);
  }
  for (int32_t p : run) CHECK((p >= 0 && p < 8));
}

TEST_CASE("A record larger than the budget moves the next record on", "[partitioner]") {
  auto partitioner = MakeDefaultPartitioner({.sticky_batch_bytes = 1000, .seed = 3});
  std::vector<int32_t> run = KeylessRun(*partitioner, "t", 20, 5000, 4);
  for (size_t i = 1; i < run.size(); ++i) CHECK(run[i] != run[i - 1]);
}

TEST_CASE("Sticky partitioning uses every partition, about evenly, over time", "[partitioner]") {
  auto partitioner =
      MakeDefaultPartitioner({.sticky_batch_bytes = 500, .seed = testing::TestSeed()});
  constexpr int32_t kPartitions = 10;
  std::map<int32_t, int> records_per_partition;
  for (int32_t p : KeylessRun(*partitioner, "t", 50000, 50, kPartitions)) {
    ++records_per_partition[p];
  }
  REQUIRE(records_per_partition.size() == kPartitions);
  // 5000 stints of 10 records over 10 partitions: 500 stints each on average. Loose bounds (a
  // fair choice is below 350 or above 650 stints with negligible probability).
  for (const auto& [partition, records] : records_per_partition) {
    INFO("partition " << partition);
    CHECK(records > 3500);
    CHECK(records < 6500);
  }
}

TEST_CASE("Sticky state is per topic", "[partitioner]") {
  auto partitioner = MakeDefaultPartitioner({.sticky_batch_bytes = 1000, .seed = 11});
  // Interleave two topics: each keeps its own partition and byte count.
  std::vector<int32_t> a;
  std::vector<int32_t> b;
  for (int i = 0; i < 10; ++i) {
    a.push_back(partitioner->Partition({.topic = "a", .size_bytes = 100, .num_partitions = 50}));
    b.push_back(partitioner->Partition({.topic = "b", .size_bytes = 100, .num_partitions = 50}));
  }
  // Ten 100-byte records each: neither topic has moved yet (a shared counter would have moved
  // after five records of each).
  CHECK(std::set<int32_t>(a.begin(), a.end()).size() == 1);
  CHECK(std::set<int32_t>(b.begin(), b.end()).size() == 1);
  CHECK(partitioner->Partition({.topic = "a", .size_bytes = 100, .num_partitions = 50}) != a[0]);
}

TEST_CASE("ignore_keys sends keyed records through the sticky rule", "[partitioner]") {
  auto partitioner =
      MakeDefaultPartitioner({.sticky_batch_bytes = 1000, .ignore_keys = true, .seed = 5});
  std::vector<int32_t> run = KeylessRun(*partitioner, "t", 10, 100, 100, "kafka");
  CHECK(std::set<int32_t>(run.begin(), run.end()).size() == 1);
  // Over several stints the key's murmur2 partition (80) cannot explain the choices.
  std::vector<int32_t> more = KeylessRun(*partitioner, "t", 100, 100, 100, "kafka");
  CHECK(std::set<int32_t>(more.begin(), more.end()).size() > 1);
}

TEST_CASE("Sticky partitioning stays in range when the partition count changes", "[partitioner]") {
  auto partitioner = MakeDefaultPartitioner({.seed = 9});
  for (int32_t n : {100, 3, 1, 7}) {
    for (int32_t p : KeylessRun(*partitioner, "t", 5, 10, n)) CHECK((p >= 0 && p < n));
  }
}

TEST_CASE("The same seed gives the same sticky choices", "[partitioner]") {
  auto a = MakeDefaultPartitioner({.sticky_batch_bytes = 100, .seed = 42});
  auto b = MakeDefaultPartitioner({.sticky_batch_bytes = 100, .seed = 42});
  CHECK(KeylessRun(*a, "t", 200, 60, 16) == KeylessRun(*b, "t", 200, 60, 16));
}

TEST_CASE("Round robin cycles through partitions per topic, keys ignored", "[partitioner]") {
  // Kafka's RoundRobinPartitionerTest.testRoundRobinWithKeyBytes: 30 records to topicA, with a
  // record to topicB every fifth, land 10/10/10 on topicA's three partitions.
  auto partitioner = MakeRoundRobinPartitioner();
  std::map<int32_t, int> counts;
  std::vector<int32_t> order;
  for (int i = 0; i < 30; ++i) {
    int32_t p = partitioner->Partition({.topic = "topicA", .key = "key", .num_partitions = 3});
    order.push_back(p);
    ++counts[p];
    if (i % 5 == 0) {
      CHECK(partitioner->Partition({.topic = "topicB", .key = "key", .num_partitions = 1}) == 0);
    }
  }
  CHECK(counts == std::map<int32_t, int>{{0, 10}, {1, 10}, {2, 10}});
  for (size_t i = 0; i < order.size(); ++i) CHECK(order[i] == static_cast<int32_t>(i % 3));
  // A new topic starts at partition 0.
  CHECK(partitioner->Partition({.topic = "topicC", .num_partitions = 4}) == 0);
  CHECK(partitioner->Partition({.topic = "topicC", .num_partitions = 4}) == 1);
}

TEST_CASE("Partitioners are safe to call from many threads", "[partitioner][concurrency]") {
  constexpr int kThreads = 4;
  constexpr int kRecords = 24000;  // a multiple of kPartitions
  constexpr int32_t kPartitions = 6;
  auto sticky = MakeDefaultPartitioner({.sticky_batch_bytes = 300, .seed = 1});
  auto round_robin = MakeRoundRobinPartitioner();
  std::atomic<int> out_of_range{0};
  std::atomic<int> wrong_key{0};
  std::array<std::atomic<int>, kPartitions> round_robin_counts{};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string topic = "topic-" + std::to_string(t % 2);
      for (int i = 0; i < kRecords; ++i) {
        std::string key = std::to_string(i);
        int32_t keyed = sticky->Partition(
            {.topic = topic, .key = key, .size_bytes = 30, .num_partitions = kPartitions});
        if (keyed != PartitionForKey(key, kPartitions)) ++wrong_key;
        int32_t keyless =
            sticky->Partition({.topic = topic, .size_bytes = 30, .num_partitions = kPartitions});
        int32_t rr = round_robin->Partition({.topic = "rr", .num_partitions = kPartitions});
        if (keyless < 0 || keyless >= kPartitions || rr < 0 || rr >= kPartitions) {
          ++out_of_range;
        } else {
          ++round_robin_counts[rr];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(out_of_range == 0);
  CHECK(wrong_key == 0);
  // One shared counter: every partition got exactly its share, whatever the interleaving.
  for (const std::atomic<int>& count : round_robin_counts) {
    CHECK(count == kThreads * kRecords / kPartitions);
  }
}

}  // namespace
}  // namespace brook
