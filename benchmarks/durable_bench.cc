// Durable appends (Durability::kFlushed): each returns only once its batch is fdatasync'd, and
// concurrent appenders share one fdatasync (group commit).

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace brook::bench {
namespace {

// BM_DurableAppend/<threads>: <threads> appenders share one Log and append 1-record, 100-byte
// batches with {.durability = kFlushed} back to back. The benchmark's own thread is one of them
// and times each of its appends (Time column, p50_us / p99_us); the others run for the length of
// its loop. items_per_second counts every appender's appends over the loop's wall time.
void BM_DurableAppend(benchmark::State& state) {
  const auto threads = static_cast<int>(state.range(0));
  const std::vector<std::byte> batch = MakeSingleRecordBatch(100);
  const AppendOptions durable{.durability = Durability::kFlushed};
  TempDir dir;
  std::unique_ptr<Log> log = OpenLog(dir.path(), {});

  std::atomic<bool> stop{false};
  std::atomic<int64_t> helper_appends{0};
  std::atomic<bool> helper_failed{false};
  std::vector<std::thread> helpers;
  for (int t = 1; t < threads; ++t) {
    helpers.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        if (!log->Append(batch, durable).ok()) {
          helper_failed = true;
          return;
        }
        helper_appends.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }

  std::vector<int64_t> latencies;
  latencies.reserve(1 << 16);
  const int64_t helpers_before = helper_appends.load();
  WallClock wall;
  for (auto _ : state) {
    const int64_t start = NowNanos();
    absl::StatusOr<AppendResult> appended = log->Append(batch, durable);
    if (!appended.ok()) {
      state.SkipWithError(appended.status().ToString().c_str());
      break;
    }
    latencies.push_back(NowNanos() - start);
  }
  const double seconds = wall.seconds();
  const int64_t helpers_during = helper_appends.load() - helpers_before;
  stop = true;
  for (std::thread& helper : helpers) helper.join();
  if (helper_failed && !state.error_occurred()) state.SkipWithError("a helper's Append failed");
  const double appends = static_cast<double>(state.iterations() + helpers_during);
  SetWallRates(state, seconds, appends, 0);
  SetLatencyCounters(state, std::move(latencies), "", /*with_p999=*/false);
}
BENCHMARK(BM_DurableAppend)->Arg(1)->Arg(8)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace brook::bench
