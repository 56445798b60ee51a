// CRC-32C over one buffer, as a batch's append verification, the producer's batch build and the
// consumer's check_crcs each compute it: BM_Crc32c/<bytes> with the CPU's instructions (what
// Crc32c picks when it can), BM_Crc32cPortable/<bytes> with the table-driven fallback. The buffer
// stays in the CPU caches, so this is the checksum's own speed, without memory's.
#include <string>

#include "bench_util.h"
#include "brook/crc32c.h"

namespace brook::bench {
namespace {

template <uint32_t (*Fn)(uint32_t, const void*, size_t)>
void RunCrc(benchmark::State& state) {
  std::string data(static_cast<size_t>(state.range(0)), '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + 7);
  uint32_t crc = 0;
  for (auto _ : state) {
    crc = Fn(crc, data.data(), data.size());
    benchmark::DoNotOptimize(crc);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_Crc32c(benchmark::State& state) {
  if (!detail::Crc32cHardwareAvailable()) {
    state.SkipWithError("this CPU has no CRC-32C instructions");
    return;
  }
  RunCrc<&detail::Crc32cExtendHardware>(state);
}
BENCHMARK(BM_Crc32c)->Arg(128)->Arg(1024)->Arg(4096)->Arg(128 << 10);

void BM_Crc32cPortable(benchmark::State& state) { RunCrc<&detail::Crc32cExtendPortable>(state); }
BENCHMARK(BM_Crc32cPortable)->Arg(128)->Arg(128 << 10);

}  // namespace
}  // namespace brook::bench
