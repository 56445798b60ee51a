// BM_RecordBatchBuild/<records>: RecordBatchBuilder encoding that many records (16-B key, 100-B
// value, BM_LogAppend's records) into one uncompressed batch and sealing it (header and CRC), as
// a Producer does for every batch it sends. The builder is reset and reused, as the Producer
// reuses its batches, so this is the encoding alone: varints and copies into a warm buffer.
#include <string>
#include <string_view>
#include <vector>

#include "bench_util.h"
#include "brook/record_batch_builder.h"

namespace brook::bench {
namespace {

constexpr size_t kValueBytes = 100;

void BM_RecordBatchBuild(benchmark::State& state) {
  const auto records = static_cast<int64_t>(state.range(0));
  const std::vector<std::string> values = MakeValues(kValueBytes);
  std::vector<std::string> keys;
  std::vector<std::string_view> record_values;  // no modulo in the timed loop
  for (int64_t i = 0; i < records; ++i) {
    keys.push_back(MakeKey(i));
    record_values.push_back(values[static_cast<size_t>(i) % values.size()]);
  }
  RecordBatchBuilder builder;
  size_t bytes = 0;
  for (auto _ : state) {
    builder.Reset();
    for (int64_t i = 0; i < records; ++i) {
      builder.Append(kTimestampMs + i, keys[static_cast<size_t>(i)],
                     record_values[static_cast<size_t>(i)]);
    }
    std::span<const std::byte> batch = builder.Finish();
    benchmark::DoNotOptimize(batch.data());
    bytes = batch.size();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * records);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_RecordBatchBuild)->Arg(1)->Arg(1000);

}  // namespace
}  // namespace brook::bench
