// Log::Open of a log with 1000 segments: after a clean Close (no scan), and after a crash (the
// active segment's unflushed tail is scanned and its index rebuilt).

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"

namespace brook::bench {
namespace {

constexpr int kSegments = 1000;
constexpr int kRecordsPerBatch = 10;

LogOptions RecoveryOptions() { return {.segment_bytes_max = uint64_t{64} << 10}; }

// Two copies of one log of kSegments 64 KiB segments of 10-record, 100-byte batches, the last
// (active) one half full: `clean`, closed cleanly, and `crashed`, copied while the log was open
// (what a process crash leaves: the active segment's tail appended, not flushed, and no
// clean-shutdown marker). Built once, on first use.
struct RecoveryLogs {
  TempDir root;
  std::string clean = root.Child("clean");
  std::string crashed = root.Child("crashed");
  std::string scratch = root.Child("scratch");  // BM_Recovery/crash opens a fresh copy here
};

// Reports the fastest and slowest Open of this run as min_ms and max_ms: successive opens of the
// same directory need not cost the same.
void SetMinMaxCounters(benchmark::State& state, std::vector<int64_t> opens) {
  if (opens.empty()) return;
  auto [min, max] = std::minmax_element(opens.begin(), opens.end());
  state.counters["min_ms"] = static_cast<double>(*min) * 1e-6;
  state.counters["max_ms"] = static_cast<double>(*max) * 1e-6;
}

const RecoveryLogs& GetRecoveryLogs() {
  static const std::unique_ptr<RecoveryLogs> logs = [] {
    auto made = std::make_unique<RecoveryLogs>();
    std::unique_ptr<Log> log = OpenLog(made->clean, RecoveryOptions());
    BatchSet batches = MakeBatches(100, kRecordsPerBatch, size_t{1} << 20);
    size_t next = 0;
    auto append = [&] {
      Must(log->Append(batches[next]), "fill Log::Append");
      next = (next + 1) % batches.size();
    };
    while (log->Segments().size() < kSegments) append();
    const uint64_t half = RecoveryOptions().segment_bytes_max / 2;
    while (log->Segments().back().size_bytes < half) append();
    std::filesystem::copy(made->clean, made->crashed, std::filesystem::copy_options::recursive);
    std::filesystem::remove(made->crashed + "/.clean-shutdown");
    CheckOk(log->Close(), "Log::Close");
    return made;
  }();
  return *logs;
}

// BM_Recovery/clean: Open (timed) and Close (not timed) of the cleanly closed log.
void RunCleanOpen(benchmark::State& state) {
  const RecoveryLogs& logs = GetRecoveryLogs();
  int segments = 0;
  std::vector<int64_t> opens;
  for (auto _ : state) {
    const int64_t start = NowNanos();
    std::unique_ptr<Log> log = OpenLog(logs.clean, RecoveryOptions());
    opens.push_back(NowNanos() - start);
    state.PauseTiming();
    if (!log->recovery_summary().clean_shutdown) {
      state.SkipWithError("the log did not open as cleanly closed");
      break;
    }
    segments = log->recovery_summary().segments_opened;
    CheckOk(log->Close(), "Log::Close");
    log.reset();
    state.ResumeTiming();
  }
  state.counters["segments"] = segments;
  SetMinMaxCounters(state, std::move(opens));
}

// BM_Recovery/crash: Open (timed) of a fresh copy of the crashed log, copied outside the timing.
void RunCrashOpen(benchmark::State& state) {
  const RecoveryLogs& logs = GetRecoveryLogs();
  int segments = 0;
  int scanned = 0;
  std::vector<int64_t> opens;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(logs.scratch);
    std::filesystem::copy(logs.crashed, logs.scratch, std::filesystem::copy_options::recursive);
    state.ResumeTiming();
    const int64_t start = NowNanos();
    std::unique_ptr<Log> log = OpenLog(logs.scratch, RecoveryOptions());
    opens.push_back(NowNanos() - start);
    state.PauseTiming();
    const RecoverySummary& summary = log->recovery_summary();
    if (summary.clean_shutdown || summary.segments_scanned == 0) {
      state.SkipWithError("the copy did not open as crashed");
      break;
    }
    segments = summary.segments_opened;
    scanned = summary.segments_scanned;
    log.reset();
    state.ResumeTiming();
  }
  state.counters["segments"] = segments;
  state.counters["scanned"] = scanned;
  SetMinMaxCounters(state, std::move(opens));
}

// The Time column is the wall time of one Open, in milliseconds.
void BM_Recovery(benchmark::State& state, bool crashed) {
  if (crashed) {
    RunCrashOpen(state);
  } else {
    RunCleanOpen(state);
  }
}
BENCHMARK_CAPTURE(BM_Recovery, clean, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Recovery, crash, true)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace brook::bench
