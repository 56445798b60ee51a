// Readers tail the log while the appender rolls segments and retention deletes old ones. Run
// under the tsan preset this also proves the reader/appender protocol race-free.

#include <atomic>
#include <thread>
#include <vector>

#include "brook/log.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

TEST_CASE("Readers tail a log while it rolls and retention deletes segments",
          "[log][concurrency]") {
  testing::TempDir dir;
  auto opened = Log::Open(dir.path(), {.segment_bytes_max = 8 << 10,
                                       .index_bytes_max = 1024,
                                       .index_interval_bytes = 256,
                                       .retention_bytes = 32 << 10,
                                       .wait_spin = std::chrono::microseconds(20)});
  REQUIRE(opened.ok());
  Log& log = **opened;
  constexpr int kRecords = 6000;
  auto value = [](int64_t i) { return "v" + std::to_string(i) + std::string(i % 61, 'z'); };

  std::atomic<bool> failed{false};
  std::atomic<int64_t> tails_done{0};
  auto tail = [&] {
    int64_t next = 0;
    int64_t seen = 0;
    while (next < kRecords && !failed) {
      absl::Status w =
          log.WaitForAppend(next, std::chrono::steady_clock::now() + std::chrono::seconds(30));
      if (!w.ok()) {
        failed = true;
        break;
      }
      absl::StatusOr<ReadResult> read = log.Read(next, 4096);
      if (absl::IsOutOfRange(read.status())) {
        // Retention overtook this reader: skip ahead to what is retained.
        next = log.start_offset();
        continue;
      }
      if (!read.ok()) {
        failed = true;
        break;
      }
      for (const RecordBatchView& batch : *read) {
        if (!batch.crc_ok()) failed = true;
        for (const RecordView& r : batch.records()) {
          if (r.offset() < next) continue;
          if (r.offset() != next || r.value() != value(r.offset())) failed = true;
          ++next;
          ++seen;
        }
      }
    }
    if (seen > 0) ++tails_done;
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(tail);
  std::thread retention([&] {
    while (log.end_offset() < kRecords && !failed) {
      if (!log.EnforceRetention().ok()) failed = true;
      std::this_thread::yield();
    }
  });
  for (int64_t i = 0; i < kRecords; ++i) {
    auto r = log.Append(testing::MakeBatch({value(i)}));
    REQUIRE(r.ok());
    REQUIRE(r->base_offset == i);
  }
  for (auto& t : readers) t.join();
  retention.join();
  CHECK_FALSE(failed);
  CHECK(tails_done == 3);
  CHECK(log.start_offset() > 0);  // retention did delete segments
  CHECK(log.Segments().size() < 10);
}

}  // namespace
}  // namespace brook
