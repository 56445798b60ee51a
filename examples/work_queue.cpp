// brook example: a durable work queue. A producer enqueues jobs; a consumer group of worker
// threads shares them, each partition handled by one worker at a time. Positions are committed
// (auto-commit, and on every rebalance), so a restarted worker resumes where the group left off.

#include <brook/brook.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

int Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "work_queue: %s: %s\n", what, status.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  auto broker = brook::Broker::Open("work-queue", {});
  if (!broker.ok()) return Fail("open", broker.status());
  if (absl::Status s = (*broker)->CreateTopic("jobs", {.partitions = 8}); !s.ok()) {
    return Fail("create topic", s);
  }

  constexpr int kJobs = 10000;
  constexpr int kWorkers = 4;
  std::mutex done_mu;
  std::set<int> done;  // jobs handled, by number
  std::atomic<int> handled{0};
  std::atomic<int> duplicates{0};
  std::vector<std::thread> workers;
  std::atomic<bool> failed{false};
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      auto consumer =
          brook::Consumer::Create(**broker, {.group_id = "workers",
                                             .client_id = "worker-" + std::to_string(w),
                                             .auto_offset_reset = brook::OffsetReset::kEarliest});
      if (!consumer.ok() || !(*consumer)->Subscribe({"jobs"}).ok()) {
        failed = true;
        return;
      }
      while (handled.load() < kJobs && !failed.load()) {
        auto records = (*consumer)->Poll(std::chrono::milliseconds(100));
        if (!records.ok()) {
          std::fprintf(stderr, "work_queue: poll: %s\n", records.status().ToString().c_str());
          failed = true;
          return;
        }
        for (const brook::ConsumerRecord& r : *records) {
          int job = std::stoi(std::string(*r.value()));
          std::lock_guard<std::mutex> l(done_mu);
          if (!done.insert(job).second) ++duplicates;
          ++handled;
        }
      }
      // Close commits the positions and leaves the group.
      if (absl::Status s = (*consumer)->Close(); !s.ok()) {
        std::fprintf(stderr, "work_queue: close: %s\n", s.ToString().c_str());
      }
    });
  }

  auto producer = brook::Producer::Create(**broker, {});
  if (!producer.ok()) return Fail("producer", producer.status());
  for (int job = 0; job < kJobs; ++job) {
    std::string value = std::to_string(job);
    if (absl::Status s = (*producer)->Send({.topic = "jobs", .value = value}, nullptr); !s.ok()) {
      return Fail("send", s);
    }
  }
  if (absl::Status s = (*producer)->Flush(); !s.ok()) return Fail("flush", s);
  for (std::thread& t : workers) t.join();

  std::printf("%d workers handled %d jobs (%d duplicates)\n", kWorkers, handled.load(),
              duplicates.load());
  auto group = (*broker)->DescribeGroup("workers");
  if (!group.ok()) return Fail("describe group", group.status());
  int64_t lag = 0;
  for (const brook::GroupOffset& o : group->offsets) lag += o.lag;
  std::printf("group lag after the run: %lld\n", static_cast<long long>(lag));
  if (failed.load() || done.size() != kJobs || duplicates.load() != 0 || lag != 0) return 1;
  return 0;
}
