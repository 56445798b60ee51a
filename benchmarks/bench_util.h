// benchmarks/bench_util.h — helpers shared by brook's Google Benchmark suite: temporary
// directories, the records and batches every benchmark writes, wall-clock rates and latency
// percentiles.
//
// Rates are wall-clock. Google Benchmark divides its rate counters by the main thread's CPU time
// unless UseRealTime() is set, and UseRealTime() appends "/real_time" to the benchmark's name. The
// names here are compared over time and must not change, and most of these benchmarks wait (on
// fdatasync, on other threads, on a segment roll's sync), where CPU time would flatter them. So
// each benchmark times itself with a WallClock and reports `items_per_second` /
// `bytes_per_second` as plain counters computed from that wall time (SetWallRates).

#ifndef BROOK_BENCHMARKS_BENCH_UTIL_H_
#define BROOK_BENCHMARKS_BENCH_UTIL_H_

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "benchmark/benchmark.h"
#include "brook/log.h"
#include "brook/log_options.h"
#include "brook/record_batch_builder.h"

namespace brook::bench {

// Every benchmark's records carry this timestamp (CreateTime); none of them looks at it.
inline constexpr int64_t kTimestampMs = 1'700'000'000'000;
// Appends cycle through about this many bytes of distinct source data (batches for brook, chunks
// for the raw limits), so copies read from the CPU caches as a producer's fresh batch would, but
// not from one buffer that never leaves L1/L2.
inline constexpr size_t kSourceBytes = size_t{4} << 20;
// Bytes of a key from MakeKey: "key-" and 12 digits.
inline constexpr size_t kKeyBytes = 16;
// A batch of 1000 records of 1 KiB is ~1.05 MB, over the default batch_bytes_max (1 MiB + 12,
// Kafka's max.message.bytes). The benchmarks that append or fill such batches raise the limit.
inline constexpr uint32_t kBatchBytesMax = 4u << 20;
// Appending benchmarks delete what they wrote and start over (outside the timing) once they have
// written this much. Besides keeping the disk from filling, this keeps every one of them in the
// same memory regime: the page cache recycles freed pages instead of growing into memory the
// guest has not touched lately, which on this VM (free page reporting hands idle 8-MiB blocks
// back to the host) costs a host fault per page on first touch, several times a memcpy.
inline constexpr uint64_t kRestartBytes = uint64_t{512} << 20;

// Aborts with `what` and the status. For setup and teardown only; timed loops report errors with
// state.SkipWithError.
inline void CheckOk(const absl::Status& status, std::string_view what) {
  if (status.ok()) return;
  std::fprintf(stderr, "brook_bench: %.*s: %s\n", static_cast<int>(what.size()), what.data(),
               status.ToString().c_str());
  std::abort();
}

template <typename T>
T Must(absl::StatusOr<T> value, std::string_view what) {
  CheckOk(value.status(), what);
  return std::move(*value);
}

inline std::unique_ptr<Log> OpenLog(const std::string& dir, LogOptions options) {
  return Must(Log::Open(dir, std::move(options)), "Log::Open " + dir);
}

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "brook-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("brook_bench: mkdtemp");
      std::abort();
    }
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Child(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Deletes everything inside, keeping the (now empty) directory.
  void Clear() const {
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      std::filesystem::remove_all(entry.path());
    }
  }

 private:
  std::string path_;
};

// "key-000000012345": 16 bytes.
inline std::string MakeKey(int64_t i) {
  char key[kKeyBytes + 1];
  std::snprintf(key, sizeof(key), "key-%012lld", static_cast<long long>(i % 1'000'000'000'000));
  return std::string(key, kKeyBytes);
}

// `size` pseudo-random lowercase letters, the same for the same seed (xorshift64).
inline std::string MakeValue(size_t size, uint64_t seed) {
  std::string value(size, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (char& c : value) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>('a' + x % 26);
  }
  return value;
}

// The values record i carries: value i % 64 of these. Sixty-four distinct values keep this cheap
// without letting a compressor or a cache see one value only.
inline std::vector<std::string> MakeValues(size_t value_bytes) {
  std::vector<std::string> values;
  for (uint64_t seed = 0; seed < 64; ++seed) values.push_back(MakeValue(value_bytes, seed));
  return values;
}

struct Record {
  std::string key;
  std::string value;
};

// Records `first`, `first + 1`, …: key MakeKey(i), value MakeValues(value_bytes)[i % 64]. The
// same records MakeBatches puts in its batches.
inline std::vector<Record> MakeRecords(size_t value_bytes, int64_t first, int64_t count) {
  std::vector<std::string> values = MakeValues(value_bytes);
  std::vector<Record> records;
  records.reserve(static_cast<size_t>(count));
  for (int64_t i = first; i < first + count; ++i) {
    records.push_back({MakeKey(i), values[static_cast<size_t>(i) % values.size()]});
  }
  return records;
}

// Finished RecordBatch v2 batches in one buffer, to be appended round-robin.
struct BatchSet {
  std::vector<std::byte> buffer;
  std::vector<std::span<const std::byte>> batches;
  int records_per_batch = 0;
  // Key and value bytes of one batch's records, the accounting the comparison backends use.
  uint64_t key_value_bytes_per_batch = 0;

  size_t size() const { return batches.size(); }
  std::span<const std::byte> operator[](size_t i) const { return batches[i]; }
};

// Batches of `records_per_batch` records 0, 1, 2, … (as MakeRecords), about `total_bytes` of them
// and at least two, so appends do not copy one cache-hot buffer over and over.
inline BatchSet MakeBatches(size_t value_bytes, int records_per_batch, size_t total_bytes) {
  BatchSet set;
  set.records_per_batch = records_per_batch;
  set.key_value_bytes_per_batch =
      static_cast<uint64_t>(records_per_batch) * (kKeyBytes + value_bytes);
  std::vector<std::string> values = MakeValues(value_bytes);
  RecordBatchBuilder builder;
  std::vector<size_t> ends;
  int64_t i = 0;
  while (ends.size() < 2 || set.buffer.size() < total_bytes) {
    builder.Reset();
    for (int r = 0; r < records_per_batch; ++r, ++i) {
      builder.Append(kTimestampMs, MakeKey(i), values[static_cast<size_t>(i) % values.size()]);
    }
    std::span<const std::byte> batch = builder.Finish();
    set.buffer.insert(set.buffer.end(), batch.begin(), batch.end());
    ends.push_back(set.buffer.size());
  }
  size_t begin = 0;
  for (size_t end : ends) {
    set.batches.push_back(std::span<const std::byte>(set.buffer).subspan(begin, end - begin));
    begin = end;
  }
  return set;
}

// One finished batch of one record with a `value_bytes` value.
inline std::vector<std::byte> MakeSingleRecordBatch(size_t value_bytes) {
  RecordBatchBuilder builder;
  builder.Append(kTimestampMs, MakeKey(0), MakeValue(value_bytes, 0));
  std::span<const std::byte> batch = builder.Finish();
  return std::vector<std::byte>(batch.begin(), batch.end());
}

inline int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Wall time of a benchmark's timed loop, less the parts spent in Pause()…Resume(). Start it
// right before `for (auto _ : state)`; read seconds() right after.
class WallClock {
 public:
  WallClock() : start_(NowNanos()) {}
  void Pause(benchmark::State& state) {
    state.PauseTiming();
    paused_at_ = NowNanos();
  }
  void Resume(benchmark::State& state) {
    paused_ += NowNanos() - paused_at_;
    state.ResumeTiming();
  }
  double seconds() const { return static_cast<double>(NowNanos() - start_ - paused_) * 1e-9; }

 private:
  int64_t start_;
  int64_t paused_at_ = 0;
  int64_t paused_ = 0;
};

// Reports items_per_second and bytes_per_second (when `bytes` > 0) over `seconds` of wall time.
inline void SetWallRates(benchmark::State& state, double seconds, double items, double bytes) {
  if (seconds <= 0) return;
  state.counters["items_per_second"] = benchmark::Counter(items / seconds);
  if (bytes > 0) {
    state.counters["bytes_per_second"] = benchmark::Counter(
        bytes / seconds, benchmark::Counter::kDefaults, benchmark::Counter::kIs1024);
  }
}

// The loop most throughput benchmarks share: `step()` once per iteration (returns false after
// SkipWithError to stop), with `restart()` run outside the timing whenever `restart_every` bytes
// were written since the last one, so the disk does not fill. Reports wall-clock items/s and
// bytes/s.
template <typename Restart, typename Step>
void RunRestartingLoop(benchmark::State& state, uint64_t bytes_per_step, double items_per_step,
                       uint64_t restart_every, Restart restart, Step step) {
  uint64_t since_restart = 0;
  WallClock wall;
  for (auto _ : state) {
    if (since_restart >= restart_every) {
      wall.Pause(state);
      restart();
      if (state.error_occurred()) break;  // ResumeTiming must not follow SkipWithError
      since_restart = 0;
      wall.Resume(state);
    }
    if (!step()) break;
    since_restart += bytes_per_step;
  }
  const auto steps = static_cast<double>(state.iterations());
  SetWallRates(state, wall.seconds(), steps * items_per_step,
               steps * static_cast<double>(bytes_per_step));
}

// The p-th percentile (0 < p < 1) of `sorted`, nearest rank.
inline int64_t Percentile(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(p * static_cast<double>(sorted.size()));
  return sorted[std::min(rank, sorted.size() - 1)];
}

// Sorts `nanos` and reports its p50, p99 and p99.9 in microseconds as `<prefix>p50_us`, ….
inline void SetLatencyCounters(benchmark::State& state, std::vector<int64_t> nanos,
                               const std::string& prefix = "", bool with_p999 = true) {
  std::sort(nanos.begin(), nanos.end());
  state.counters[prefix + "p50_us"] = benchmark::Counter(Percentile(nanos, 0.50) * 1e-3);
  state.counters[prefix + "p99_us"] = benchmark::Counter(Percentile(nanos, 0.99) * 1e-3);
  if (with_p999) {
    state.counters[prefix + "p999_us"] = benchmark::Counter(Percentile(nanos, 0.999) * 1e-3);
  }
}

}  // namespace brook::bench

#endif  // BROOK_BENCHMARKS_BENCH_UTIL_H_
