// BM_IdempotentAppend: Log::Append of batches that carry a producer id, epoch and sequence, so
// every append goes through the idempotent-producer check. BM_IdempotentAppendBaseline runs the
// same loop (the same batch patching between cycles) with no producer id: the overhead of
// idempotence is the ratio of the two in one run (benchmarks/ratios.py; the goal is <= 5%).
// BM_LogAppend, whose loop patches nothing, measured ~10% faster than the baseline for 1-record
// batches on the 2-core VM: the patching pass between cycles costs the appends after it, so it
// is not the right reference.

#include <memory>
#include <string>

#include "bench_util.h"
#include "brook/crc32c.h"
#include "brook/detail/endian.h"
#include "storage/producer_state.h"

namespace brook::bench {
namespace {

LogOptions ThroughputOptions() {
  return {.segment_bytes_max = uint64_t{64} << 20, .batch_bytes_max = kBatchBytesMax};
}

// Gives every batch of `set` the producer fields and base sequence it has in cycle `cycle` of a
// round-robin over the set, and a fresh CRC. A real producer writes these before it computes the
// CRC, so none of this is the log's cost: it runs outside the timed region, once per cycle.
void Sequence(BatchSet& set, int64_t producer_id, int64_t cycle) {
  bool idempotent = producer_id >= 0;
  int64_t sequence = cycle * static_cast<int64_t>(set.size()) * set.records_per_batch;
  for (std::span<const std::byte> batch : set.batches) {
    auto* p = const_cast<std::byte*>(batch.data());
    detail::StoreBig<int64_t>(p + batch_layout::kProducerId, producer_id);
    detail::StoreBig<int16_t>(p + batch_layout::kProducerEpoch, idempotent ? 0 : -1);
    detail::StoreBig<int32_t>(
        p + batch_layout::kBaseSequence,
        idempotent
            ? static_cast<int32_t>(sequence % (int64_t{std::numeric_limits<int32_t>::max()} + 1))
            : -1);
    detail::StoreBig<uint32_t>(
        p + batch_layout::kCrc,
        Crc32c(p + batch_layout::kAttributes, batch.size() - batch_layout::kAttributes));
    sequence += set.records_per_batch;
  }
}

// <value_bytes>/<records_per_batch>: as BM_LogAppend, with producer fields when `idempotent`.
void RunAppends(benchmark::State& state, bool idempotent) {
  const auto value_bytes = static_cast<size_t>(state.range(0));
  const auto records_per_batch = static_cast<int>(state.range(1));
  BatchSet batches = MakeBatches(value_bytes, records_per_batch, kSourceBytes);
  TempDir dir;
  std::unique_ptr<Log> log = OpenLog(dir.path(), ThroughputOptions());
  auto init = [&] {
    return idempotent ? Must(log->InitProducer(), "InitProducer") : ProducerIdentity{};
  };
  ProducerIdentity producer = init();
  int64_t cycle = 0;
  Sequence(batches, producer.producer_id, cycle);
  uint64_t since_open = 0;
  double bytes = 0;
  size_t next = 0;
  WallClock wall;
  for (auto _ : state) {
    if (since_open >= kRestartBytes) {
      wall.Pause(state);
      CheckOk(log->Close(), "Log::Close");
      log.reset();
      dir.Clear();
      log = OpenLog(dir.path(), ThroughputOptions());
      producer = init();
      cycle = 0;
      next = 0;
      Sequence(batches, producer.producer_id, cycle);
      since_open = 0;
      wall.Resume(state);
    }
    std::span<const std::byte> batch = batches[next];
    absl::StatusOr<AppendResult> appended = log->Append(batch);
    if (!appended.ok() || appended->duplicate) {
      state.SkipWithError(appended.ok() ? "unexpected duplicate"
                                        : appended.status().ToString().c_str());
      break;
    }
    since_open += batch.size();
    bytes += static_cast<double>(batch.size());
    if (++next == batches.size()) {
      next = 0;
      wall.Pause(state);
      Sequence(batches, producer.producer_id, ++cycle);
      wall.Resume(state);
    }
  }
  SetWallRates(state, wall.seconds(), static_cast<double>(state.iterations()) * records_per_batch,
               bytes);
}
void BM_IdempotentAppend(benchmark::State& state) { RunAppends(state, /*idempotent=*/true); }
void BM_IdempotentAppendBaseline(benchmark::State& state) {
  RunAppends(state, /*idempotent=*/false);
}
BENCHMARK(BM_IdempotentAppendBaseline)->ArgsProduct({{100, 1024}, {1, 10, 100, 1000}});
BENCHMARK(BM_IdempotentAppend)->ArgsProduct({{100, 1024}, {1, 10, 100, 1000}});

}  // namespace
}  // namespace brook::bench

namespace brook::bench {
namespace {

// BM_ProducerStateCheck: the idempotent-producer bookkeeping of one append alone (Check, then
// Record), for one producer in a map of `producers`.
void BM_ProducerStateCheck(benchmark::State& state) {
  storage::ProducerStateMap map;
  const auto producers = static_cast<int64_t>(state.range(0));
  for (int64_t id = 0; id < producers; ++id) {
    map.Record(id, 0,
               {.first_sequence = 0,
                .last_sequence = 0,
                .first_offset = id,
                .last_offset = id,
                .max_timestamp = kTimestampMs});
  }
  int64_t id = producers / 2;
  int32_t sequence = 1;
  int64_t offset = producers;
  for (auto _ : state) {
    storage::ProducerBatch original;
    absl::Status rejected;
    auto verdict = map.Check(id, 0, sequence, 0, &original, &rejected);
    if (verdict != storage::ProducerStateMap::Verdict::kAppend) {
      state.SkipWithError("unexpected verdict");
      break;
    }
    map.Record(id, 0,
               {.first_sequence = sequence,
                .last_sequence = sequence,
                .first_offset = offset,
                .last_offset = offset,
                .max_timestamp = kTimestampMs});
    ++sequence;
    ++offset;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ProducerStateCheck)->Arg(1)->Arg(1000)->Arg(100000);

}  // namespace
}  // namespace brook::bench
