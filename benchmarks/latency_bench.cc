// How long a reader blocked in Log::WaitForAppend takes to see an append.

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "bench_util.h"

namespace brook::bench {
namespace {

constexpr int kAppends = 20'000;
constexpr int64_t kAppendPeriodNanos = 100'000;  // 10k appends/s
// wait_spin for BM_AppendToReaderLatency/1 and /2.
constexpr std::chrono::microseconds kWaitSpin{50};
constexpr std::chrono::microseconds kWaitSpinCoveringGap{200};

inline void CpuRelax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#endif
}

// BM_AppendToReaderLatency/<spin>: an appender appends 1-record, 100-byte batches at a fixed 10k/s
// (busy-waiting between appends) to a fresh log; a reader thread loops on
// WaitForAppend(next, …) and, when it returns, stamps every newly visible offset with
// now − (the steady_clock time the appender took just before calling Append for it).
// spin=0: wait_spin = 0 (block at once). spin=1: wait_spin = 50 µs. At 10k/s appends come 100 µs
// apart, so with a 50 µs spin the reader has nearly always given up spinning and blocked when the
// next append lands: /1 mostly measures the blocking path too. spin=2: wait_spin = 200 µs, longer
// than the gap, so the reader is still spinning when each append lands: the spinning path.
//
// Counters: p50_us / p99_us / p999_us, the wake-up latency above; read_p50_us / read_p99_us, the
// same stamped after the reader's Read(next, 64 KiB) of the new batch returned (a consumer that
// uses the data); spun_pct, the share of appends that arrived within wait_spin of the reader
// starting to wait, i.e. while it was still spinning (the rest found it blocked on the condvar);
// late_pct, appends the appender started > 20 µs behind schedule (it was descheduled). One
// iteration is the whole 2-second run.
void BM_AppendToReaderLatency(benchmark::State& state) {
  const int64_t spin = state.range(0);
  const std::vector<std::byte> batch = MakeSingleRecordBatch(100);
  const LogOptions options{.wait_spin = spin == 0   ? std::chrono::microseconds(0)
                                        : spin == 1 ? kWaitSpin
                                                    : kWaitSpinCoveringGap};
  std::vector<int64_t> wake_latencies;
  std::vector<int64_t> read_latencies;
  int64_t spun = 0;
  int64_t late = 0;
  for (auto _ : state) {
    state.PauseTiming();
    TempDir dir;
    std::unique_ptr<Log> log = OpenLog(dir.path(), options);
    std::vector<int64_t> sent(kAppends);        // written before Append publishes the offset
    std::vector<int64_t> wait_began(kAppends);  // when the reader began waiting for it
    std::vector<int64_t> woke(kAppends);
    std::vector<int64_t> read(kAppends);
    std::atomic<bool> reader_failed{false};
    state.ResumeTiming();

    std::thread reader([&] {
      const ReadOptions read_options{.max_bytes = size_t{64} << 10, .verify = true};
      int64_t next = 0;
      while (next < kAppends) {
        int64_t began = NowNanos();
        absl::Status waited =
            log->WaitForAppend(next, std::chrono::steady_clock::now() + std::chrono::seconds(10));
        int64_t now = NowNanos();
        if (!waited.ok()) {
          reader_failed = true;
          return;
        }
        int64_t end = std::min<int64_t>(log->end_offset(), kAppends);
        for (int64_t o = next; o < end; ++o) {
          woke[o] = now - sent[o];
          wait_began[o] = began;
        }
        absl::StatusOr<ReadResult> result = log->Read(next, read_options);
        if (!result.ok()) {
          reader_failed = true;
          return;
        }
        for (const RecordBatchView& b : *result) {
          for (const RecordView& record : b.records()) benchmark::DoNotOptimize(record.value());
        }
        now = NowNanos();
        for (int64_t o = next; o < end; ++o) read[o] = now - sent[o];
        next = end;
      }
    });

    const int64_t start = NowNanos() + 1'000'000;  // let the reader reach its first wait
    for (int i = 0; i < kAppends; ++i) {
      const int64_t due = start + i * kAppendPeriodNanos;
      int64_t now;
      while ((now = NowNanos()) < due) CpuRelax();
      if (now - due > 20'000) ++late;
      sent[i] = now;
      absl::StatusOr<AppendResult> appended = log->Append(batch);
      if (!appended.ok()) {
        state.SkipWithError(appended.status().ToString().c_str());
        CheckOk(log->Close(), "Log::Close");  // wakes the reader with Cancelled
        break;
      }
    }
    reader.join();
    if (reader_failed && !state.error_occurred()) {
      state.SkipWithError("the reader's WaitForAppend or Read failed");
    }
    if (state.error_occurred()) break;

    state.PauseTiming();
    for (int i = 0; i < kAppends; ++i) {
      if (sent[i] - wait_began[i] <= std::chrono::nanoseconds(options.wait_spin).count()) ++spun;
    }
    wake_latencies.insert(wake_latencies.end(), woke.begin(), woke.end());
    read_latencies.insert(read_latencies.end(), read.begin(), read.end());
    log.reset();
    state.ResumeTiming();
  }
  if (wake_latencies.empty()) return;
  const double n = static_cast<double>(wake_latencies.size());
  SetLatencyCounters(state, std::move(wake_latencies));
  SetLatencyCounters(state, std::move(read_latencies), "read_", /*with_p999=*/false);
  state.counters["spun_pct"] = benchmark::Counter(100.0 * static_cast<double>(spun) / n);
  state.counters["late_pct"] = benchmark::Counter(100.0 * static_cast<double>(late) / n);
}
BENCHMARK(BM_AppendToReaderLatency)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace brook::bench
