// Crashes at every sync point of a compaction (its segment writes and the swap) and of the
// recovery that finishes an interrupted swap: reopening gives the old segments or the new ones,
// never a lost record and never a duplicate.

#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "brook/log.h"
#include "brook/record_batch_builder.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/fault_file_system.h"
#include "support/seed.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using testing::FaultFileSystem;
using testing::ManualClock;
using testing::TempDir;

using Seen = testing::KeyedRecord;

std::vector<Seen> ReadEverything(const Log& log) {
  auto records = testing::ReadKeyed(log);
  INFO(records.status().ToString());
  REQUIRE(records.ok());
  return *records;
}

LogOptions Options(FaultFileSystem* fs, ManualClock* clock) {
  return LogOptions{.segment_bytes_max = 4096,
                    .index_bytes_max = 4096,  // small files: the fault FS images mapped files
                    .index_interval_bytes = 256,
                    .cleanup_policy = CleanupPolicy::kCompact,
                    .compaction = {.delete_retention = std::chrono::hours(
                                       1),  // tombstones stay: runs compare equal
                                   .offset_map_bytes = 1024},  // 37 keys a pass: several passes
                    .file_system = fs,
                    .clock = clock,
                    .logger = [](LogLevel, std::string_view) {}};
}

// The same keyed records every time (tombstones included), over a dozen segments.
void Fill(Log& log, ManualClock& clock, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 400; ++i) {
    RecordBatchBuilder builder;
    std::string key = "key-" + std::to_string(rng() % 97);
    std::optional<std::string> value;
    if (rng() % 8 != 0) value = "value-" + std::to_string(i) + std::string(rng() % 60, 'x');
    builder.Append(clock.NowMs(), key, value);
    REQUIRE(log.Append(builder.Finish()).ok());
  }
  REQUIRE(log.Flush().ok());  // all of it on disk before the compaction under test
}

// What holds for any state between "before" and "after": every record is one that was
// written at that offset, offsets increase, and every key's latest record is there.
void CheckBetween(const std::vector<Seen>& seen, const std::vector<Seen>& before,
                  const std::vector<Seen>& after) {
  std::map<int64_t, const Seen*> written;
  for (const Seen& s : before) written[s.offset] = &s;
  int64_t previous = -1;
  for (const Seen& s : seen) {
    CAPTURE(s.offset);
    REQUIRE(s.offset > previous);
    previous = s.offset;
    REQUIRE(written.count(s.offset) == 1);
    REQUIRE(*written[s.offset] == s);
  }
  // Everything the complete compaction keeps is there (the latest record of every key).
  for (const Seen& s : after) {
    CAPTURE(s.offset);
    REQUIRE(std::find(seen.begin(), seen.end(), s) != seen.end());
  }
}

TEST_CASE("Compaction survives a crash at every sync point", "[crash][compaction]") {
  uint64_t seed = testing::TestSeed();
  std::vector<Seen> before, after;
  int64_t syncs_in_compaction;
  {
    TempDir dir;
    FaultFileSystem fs;
    ManualClock clock;
    auto log = Log::Open(dir.path(), Options(&fs, &clock));
    REQUIRE(log.ok());
    Fill(**log, clock, seed);
    before = ReadEverything(**log);
    int64_t syncs = fs.syncs();
    auto result = (*log)->Compact();
    REQUIRE(result.ok());
    REQUIRE(result->passes > 1);
    syncs_in_compaction = fs.syncs() - syncs;
    after = ReadEverything(**log);
    REQUIRE(after.size() < before.size());
  }
  REQUIRE(syncs_in_compaction > 10);
  for (int64_t crash_at = 1; crash_at <= syncs_in_compaction; ++crash_at) {
    for (bool torn : {false, true}) {
      CAPTURE(crash_at, torn);
      TempDir dir;
      FaultFileSystem fs;
      ManualClock clock;
      std::mt19937_64 crash_rng(seed + static_cast<uint64_t>(crash_at));
      {
        auto log = Log::Open(dir.path(), Options(&fs, &clock));
        REQUIRE(log.ok());
        Fill(**log, clock, seed);
        fs.crash_at_sync(crash_at, torn ? &crash_rng : nullptr);
        (void)(*log)->Compact();
      }
      REQUIRE(fs.crashed());
      fs.Restart();
      {
        auto log = Log::Open(dir.path(), Options(&fs, &clock));
        INFO(log.status().ToString());
        REQUIRE(log.ok());
        CheckBetween(ReadEverything(**log), before, after);
        // Crash again while the reopened log finishes the job; then it must end where a clean
        // run ends.
        REQUIRE((*log)->Compact().ok());
        REQUIRE(ReadEverything(**log) == after);
        REQUIRE((*log)->Close().ok());
      }
      auto log = Log::Open(dir.path(), Options(&fs, &clock));
      REQUIRE(log.ok());
      REQUIRE(ReadEverything(**log) == after);
    }
  }
}

TEST_CASE("A crash while recovery finishes an interrupted swap is recovered too",
          "[crash][compaction]") {
  uint64_t seed = testing::TestSeed();
  std::vector<Seen> before, after;
  {
    TempDir dir;
    FaultFileSystem fs;
    ManualClock clock;
    auto log = Log::Open(dir.path(), Options(&fs, &clock));
    REQUIRE(log.ok());
    Fill(**log, clock, seed);
    before = ReadEverything(**log);
    REQUIRE((*log)->Compact().ok());
    after = ReadEverything(**log);
  }
  // Crash at each sync of the compaction, then at each sync of the recovery that follows.
  int interrupted_swaps = 0;
  for (int64_t first = 1; first <= 80; ++first) {
    for (int64_t second = 1; second <= 12; ++second) {
      CAPTURE(first, second);
      TempDir dir;
      FaultFileSystem fs;
      ManualClock clock;
      {
        auto log = Log::Open(dir.path(), Options(&fs, &clock));
        REQUIRE(log.ok());
        Fill(**log, clock, seed);
        fs.crash_at_sync(first);
        (void)(*log)->Compact();
      }
      if (!fs.crashed()) break;
      fs.Restart();
      // Only crashes that leave a swap for recovery to finish are of interest here.
      bool swap_pending = false;
      for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
        swap_pending = swap_pending || entry.path().string().ends_with(".swap");
      }
      if (!swap_pending) break;
      ++interrupted_swaps;
      fs.crash_at_sync(second);
      { (void)Log::Open(dir.path(), Options(&fs, &clock)); }
      bool crashed_again = fs.crashed();
      fs.crash_at_sync(0);
      fs.Restart();
      auto log = Log::Open(dir.path(), Options(&fs, &clock));
      INFO(log.status().ToString());
      REQUIRE(log.ok());
      CheckBetween(ReadEverything(**log), before, after);
      if (!crashed_again) break;
    }
  }
  REQUIRE(interrupted_swaps > 0);
}

}  // namespace
}  // namespace brook
