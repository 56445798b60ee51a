// Log::Append throughput with the default flush policy (the OS decides), and a sequential,
// CRC-checked scan with Log::Read.

#include <memory>
#include <string>

#include "bench_util.h"

namespace brook::bench {
namespace {

LogOptions ThroughputOptions() {
  return {.segment_bytes_max = uint64_t{64} << 20, .batch_bytes_max = kBatchBytesMax};
}

// BM_LogAppend/<value_bytes>/<records_per_batch>: only Log::Append is timed, including the segment
// rolls (and the fdatasync of the finished segment each roll does) that fall inside the run.
// Bytes are batch bytes (header and record framing included); items are records.
void BM_LogAppend(benchmark::State& state) {
  const auto value_bytes = static_cast<size_t>(state.range(0));
  const auto records_per_batch = static_cast<int>(state.range(1));
  BatchSet batches = MakeBatches(value_bytes, records_per_batch, kSourceBytes);
  TempDir dir;
  std::unique_ptr<Log> log = OpenLog(dir.path(), ThroughputOptions());
  uint64_t since_open = 0;
  double bytes = 0;
  size_t next = 0;
  WallClock wall;
  for (auto _ : state) {
    std::span<const std::byte> batch = batches[next];
    if (++next == batches.size()) next = 0;
    if (since_open >= kRestartBytes) {
      wall.Pause(state);
      CheckOk(log->Close(), "Log::Close");
      log.reset();
      dir.Clear();
      log = OpenLog(dir.path(), ThroughputOptions());
      since_open = 0;
      wall.Resume(state);
    }
    absl::StatusOr<AppendResult> appended = log->Append(batch);
    if (!appended.ok()) {
      state.SkipWithError(appended.status().ToString().c_str());
      break;
    }
    since_open += batch.size();
    bytes += static_cast<double>(batch.size());
  }
  SetWallRates(state, wall.seconds(), static_cast<double>(state.iterations()) * records_per_batch,
               bytes);
}
BENCHMARK(BM_LogAppend)->ArgsProduct({{100, 1024}, {1, 10, 100, 1000}});

// A log filled once for BM_LogScan/<value_bytes> and kept for the benchmark's repeated runs.
struct ScanLog {
  size_t value_bytes = 0;
  int64_t records = 0;
  TempDir dir;
  std::unique_ptr<Log> log;
};

// ~1M records of 100 B, or ~256 MiB of records for larger values, in 1000-record batches.
const ScanLog& GetScanLog(size_t value_bytes) {
  static std::unique_ptr<ScanLog> cached;
  if (cached != nullptr && cached->value_bytes == value_bytes) return *cached;
  cached.reset();
  constexpr int kRecordsPerBatch = 1000;
  const int64_t records = value_bytes <= 100
                              ? 1'000'000
                              : int64_t{256 << 20} / static_cast<int64_t>(value_bytes + kKeyBytes);
  auto scan = std::make_unique<ScanLog>();
  scan->value_bytes = value_bytes;
  scan->log = OpenLog(scan->dir.path(), ThroughputOptions());
  BatchSet batches = MakeBatches(value_bytes, kRecordsPerBatch, kSourceBytes);
  for (int64_t appended = 0, i = 0; appended < records;
       appended += kRecordsPerBatch, i = (i + 1) % static_cast<int64_t>(batches.size())) {
    Must(scan->log->Append(batches[static_cast<size_t>(i)]), "fill Log::Append");
  }
  scan->records = scan->log->end_offset() - scan->log->start_offset();
  cached = std::move(scan);
  return *cached;
}

// BM_LogScan/<value_bytes>: one iteration reads the whole log from start_offset to end_offset with
// Read(offset, {.max_bytes = 1 MiB, .verify = true}) (each batch's CRC-32C checked) and walks every
// record, touching its key and value sizes. Items are records; bytes are batch bytes.
void BM_LogScan(benchmark::State& state) {
  const ScanLog& scan = GetScanLog(static_cast<size_t>(state.range(0)));
  const Log& log = *scan.log;
  const ReadOptions options{.max_bytes = size_t{1} << 20, .verify = true};
  double bytes = 0;
  int64_t records = 0;
  WallClock wall;
  for (auto _ : state) {
    int64_t offset = log.start_offset();
    const int64_t end = log.end_offset();
    int64_t seen = 0;
    while (offset < end) {
      absl::StatusOr<ReadResult> read = log.Read(offset, options);
      if (!read.ok()) {
        state.SkipWithError(read.status().ToString().c_str());
        return;
      }
      for (const RecordBatchView& batch : *read) {
        for (const RecordView& record : batch.records()) {
          benchmark::DoNotOptimize(record.key().size());
          benchmark::DoNotOptimize(record.value().size());
          ++seen;
        }
      }
      bytes += static_cast<double>(read->size_bytes());
      offset = read->next_offset();
    }
    if (seen != scan.records) {
      state.SkipWithError("the scan did not see every record");
      return;
    }
    records += seen;
  }
  SetWallRates(state, wall.seconds(), static_cast<double>(records), bytes);
}
BENCHMARK(BM_LogScan)->Arg(100)->Arg(1024)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace brook::bench
