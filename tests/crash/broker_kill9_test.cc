// Black-box crash test for the Broker: a child process produces (acknowledged records printed as
// they are acked) and consumes in a group, committing (commits printed once Commit returns), and
// is SIGKILLed at a random moment. After reopening, every acknowledged record must be there with
// its value, and no partition's committed offset may be below one the child saw committed.
//
// The child is this test binary itself, running the hidden test case below.
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <random>
#include <sstream>

#include "brook/broker.h"
#include "brook/consumer.h"
#include "brook/producer.h"
#include "support/broker.h"
#include "support/catch.h"
#include "support/seed.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using std::chrono::milliseconds;

constexpr int32_t kPartitions = 3;

void WriteLine(const std::string& line) {
  std::string out = line + "\n";
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = write(STDOUT_FILENO, out.data() + done, out.size() - done);
    if (n <= 0) std::_Exit(3);
    done += static_cast<size_t>(n);
  }
}

// Runs until killed: produce, consume, commit, forever.
TEST_CASE("broker kill9 child", "[.][broker-kill9-child]") {
  const char* dir = std::getenv("BROOK_KILL9_DIR");
  REQUIRE(dir != nullptr);
  absl::StatusOr<std::unique_ptr<Broker>> broker = Broker::Open(dir, {});
  if (!broker.ok()) std::_Exit(4);
  absl::Status created = (*broker)->CreateTopic("t", {.partitions = kPartitions});
  if (!created.ok() && !absl::IsAlreadyExists(created)) std::_Exit(5);
  auto producer = *Producer::Create(**broker, {});
  auto consumer = *Consumer::Create(**broker, {.group_id = "g",
                                               .enable_auto_commit = false,
                                               .auto_offset_reset = OffsetReset::kEarliest,
                                               .max_poll_records = 50});
  if (!consumer->Subscribe({"t"}).ok()) std::_Exit(6);
  std::mt19937_64 rng(static_cast<uint64_t>(getpid()));
  for (int64_t n = 0;; ++n) {
    std::string value = std::to_string(getpid()) + "-" + std::to_string(n) +
                        std::string(static_cast<size_t>(rng() % 200), 'v');
    absl::Status s = producer->Send({.topic = "t", .key = std::to_string(n), .value = value},
                                    [value](const absl::StatusOr<RecordMetadata>& r) {
                                      if (!r.ok()) std::_Exit(7);
                                      WriteLine("ack " + std::to_string(r->partition) + " " +
                                                std::to_string(r->offset) + " " + value);
                                    });
    if (!s.ok()) std::_Exit(8);
    if (n % 20 == 0) {
      absl::StatusOr<ConsumerRecords> records = consumer->Poll(milliseconds(0));
      if (!records.ok()) std::_Exit(9);
      if (!records->empty()) {
        std::map<TopicPartition, int64_t> positions;
        for (const TopicPartition& tp : consumer->assignment()) {
          positions[tp] = *consumer->Position(tp);
        }
        if (consumer->Commit(positions).ok()) {
          for (const auto& [tp, offset] : positions) {
            WriteLine("commit " + std::to_string(tp.partition) + " " + std::to_string(offset));
          }
        }
      }
    }
  }
}

TEST_CASE("Acknowledged records and committed offsets survive SIGKILL of the Broker's process",
          "[crash][blackbox][broker]") {
  std::mt19937_64 rng(testing::TestSeed());
  testing::TempDir dir;
  setenv("BROOK_KILL9_DIR", dir.path().c_str(), 1);
  std::map<std::pair<int32_t, int64_t>, std::string> acked;
  std::map<int32_t, int64_t> committed;
  for (int cycle = 0; cycle < 4; ++cycle) {
    CAPTURE(cycle);
    testing::Child child({"/proc/self/exe", "[broker-kill9-child]"});
    REQUIRE(child.ok());
    // The kill comes 50-300 ms after the child's first acknowledgement (its reopen and recovery
    // take a while under the sanitizers), or after 60 s without one.
    const auto run_for = milliseconds(std::uniform_int_distribution<int>(50, 300)(rng));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    bool acked_once = false;
    std::string out;
    char buf[1 << 16];
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{.fd = child.stdout_fd(), .events = POLLIN, .revents = 0};
      if (poll(&pfd, 1, 5) > 0) {
        ssize_t n = read(child.stdout_fd(), buf, sizeof(buf));
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
        if (!acked_once && out.find("ack ") != std::string::npos) {
          acked_once = true;
          deadline = std::chrono::steady_clock::now() + run_for;
        }
      }
    }
    child.Kill();
    // Whatever the child wrote before it died counts: it was acknowledged.
    out += child.ReadAll();
    std::istringstream lines(out);
    std::string line;
    int acks = 0;
    while (std::getline(lines, line)) {
      if (lines.eof()) break;  // a partial last line was cut by the kill
      std::istringstream words(line);
      std::string kind;
      int32_t p;
      int64_t offset;
      words >> kind >> p >> offset;
      if (kind == "ack") {
        std::string value;
        words >> value;
        acked[{p, offset}] = value;
        ++acks;
      } else if (kind == "commit") {
        committed[p] = std::max(committed[p], offset);
      }
    }
    INFO(out.substr(0, 500));
    REQUIRE(acks > 0);

    auto broker = testing::OpenBroker(dir.path());
    std::map<std::pair<int32_t, int64_t>, std::string> stored;
    for (int32_t p = 0; p < kPartitions; ++p) {
      auto partition = broker->GetPartition({"t", p});
      REQUIRE(partition.ok());
      int64_t offset = 0;
      while (offset < (*partition)->end_offset()) {
        absl::StatusOr<ReadResult> read =
            (*partition)->Read(offset, ReadOptions{.max_bytes = 8 << 20});
        REQUIRE(read.ok());
        for (const RecordBatchView& batch : *read) {
          for (const RecordView& r : batch.records()) stored[{p, r.offset()}] = r.value();
        }
        offset = read->next_offset();
      }
    }
    for (const auto& [where, value] : acked) {
      CAPTURE(where.first, where.second);
      auto it = stored.find(where);
      REQUIRE(it != stored.end());
      REQUIRE(it->second == value);
    }
    absl::StatusOr<GroupDescription> group = broker->DescribeGroup("g");
    if (!committed.empty()) {
      REQUIRE(group.ok());
      for (const auto& [p, offset] : committed) {
        int64_t stored = -1;
        for (const GroupOffset& o : group->offsets) {
          if (o.partition.partition == p) stored = o.committed_offset;
        }
        CAPTURE(p);
        REQUIRE(stored >= offset);
      }
    }
  }
  REQUIRE(!committed.empty());  // the test checked commits, not just records
}

}  // namespace
}  // namespace brook
