// BM_Compaction: Log::Compact over 10 M records of 1 M distinct keys (each key written 10 times),
// 100-byte values, in 1000-record batches: the workload. The log is rebuilt (untimed)
// before each iteration; only Compact() is timed. Reports the log bytes compacted per second
// (bytes_per_second), the offset map's bytes per distinct key, and keys/records removed.

#include <memory>
#include <string>

#include "bench_util.h"

namespace brook::bench {
namespace {

constexpr int64_t kRecords = 10'000'000;
constexpr int64_t kDistinctKeys = 1'000'000;
constexpr int kRecordsPerBatch = 1000;
constexpr size_t kValueBytes = 100;
// Enough slots for 1 M keys at the 90% load factor (24-byte slots): one pass.
constexpr size_t kMapBytes = size_t{28} << 20;

LogOptions CompactionOptions() {
  return {.segment_bytes_max = uint64_t{64} << 20,
          .batch_bytes_max = kBatchBytesMax,
          .cleanup_policy = CleanupPolicy::kCompact,
          .compaction = {.offset_map_bytes = kMapBytes}};
}

uint64_t Fill(Log& log) {
  std::vector<std::string> values = MakeValues(kValueBytes);
  RecordBatchBuilder builder;
  uint64_t bytes = 0;
  for (int64_t i = 0; i < kRecords;) {
    builder.Reset();
    for (int r = 0; r < kRecordsPerBatch; ++r, ++i) {
      builder.Append(kTimestampMs, MakeKey(i % kDistinctKeys),
                     values[static_cast<size_t>(i) % values.size()]);
    }
    std::span<const std::byte> batch = builder.Finish();
    Must(log.Append(batch), "fill Log::Append");
    bytes += batch.size();
  }
  // A last small batch rolls nothing; Flush puts everything below flushed_offset, which is what
  // compaction may clean.
  CheckOk(log.Flush(), "Log::Flush");
  return bytes;
}

void BM_Compaction(benchmark::State& state) {
  double seconds = 0;
  double bytes = 0;
  double records = 0;
  CompactionResult last;
  for (auto _ : state) {
    state.PauseTiming();
    TempDir dir;
    std::unique_ptr<Log> log = OpenLog(dir.path(), CompactionOptions());
    Fill(*log);
    CompactionState before = log->compaction_state();
    state.ResumeTiming();
    int64_t start = NowNanos();
    absl::StatusOr<CompactionResult> result = log->Compact();
    seconds += static_cast<double>(NowNanos() - start) * 1e-9;
    if (!result.ok()) {
      state.SkipWithError(result.status().ToString().c_str());
      break;
    }
    state.PauseTiming();
    bytes += static_cast<double>(before.dirty_bytes + before.clean_bytes);
    records += static_cast<double>(before.first_uncleanable_offset);
    last = *result;
    log.reset();
    state.ResumeTiming();
  }
  SetWallRates(state, seconds, records, bytes);
  state.counters["passes"] = last.passes;
  state.counters["keys"] = static_cast<double>(last.keys);
  state.counters["map_bytes_per_key"] =
      last.keys == 0 ? 0 : static_cast<double>(kMapBytes) / static_cast<double>(kDistinctKeys);
  state.counters["records_removed"] = static_cast<double>(last.records_removed);
  state.counters["segments_before"] = last.segments_before;
  state.counters["segments_after"] = last.segments_after;
  state.counters["bytes_written"] = static_cast<double>(last.bytes_written);
}
BENCHMARK(BM_Compaction)->Iterations(2)->Unit(benchmark::kSecond);

}  // namespace
}  // namespace brook::bench
