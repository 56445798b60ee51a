// Compaction running while an appender appends and readers read (run under TSan by the tsan
// preset).

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "brook/log.h"
#include "brook/record_batch_builder.h"
#include "support/catch.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

// Record at offset o: key k<o % 17>, value v<o>. Readers check what they see against it.
std::string KeyAt(int64_t o) { return "k" + std::to_string(o % 17); }
std::string ValueAt(int64_t o) { return "v" + std::to_string(o) + std::string(o % 50, '.'); }

TEST_CASE("Compaction, appends and reads run together", "[compaction][concurrency]") {
  testing::TempDir dir;
  auto opened = Log::Open(dir.path(), {.segment_bytes_max = 8192,
                                       .cleanup_policy = CleanupPolicy::kCompact,
                                       .logger = [](LogLevel, std::string_view) {}});
  REQUIRE(opened.ok());
  Log& log = **opened;
  constexpr int64_t kRecords = 6000;
  std::atomic<bool> done{false};
  std::atomic<int64_t> errors{0};
  std::atomic<int64_t> compactions{0};
  std::atomic<int64_t> reads{0};

  std::thread appender([&] {
    for (int64_t o = 0; o < kRecords;) {
      RecordBatchBuilder builder;
      int n = 1 + static_cast<int>(o % 4);
      for (int i = 0; i < n; ++i) builder.Append(1000 + o + i, KeyAt(o + i), ValueAt(o + i));
      auto r = log.Append(builder.Finish());
      if (!r.ok() || r->base_offset != o) ++errors;
      o += n;
      if (o % 512 < 4 && !log.Flush().ok()) ++errors;
    }
    if (!log.Flush().ok()) ++errors;
    done = true;
  });
  std::thread compactor([&] {
    while (!done) {
      auto r = log.Compact();
      if (!r.ok()) ++errors;
      if (r.ok() && r->passes > 0) ++compactions;
    }
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      while (!done) {
        int64_t offset = log.start_offset();
        int64_t previous = -1;
        while (offset < log.end_offset()) {
          auto read = log.Read(offset, 4096);
          if (!read.ok()) {
            ++errors;
            break;
          }
          for (const RecordBatchView& batch : *read) {
            for (const RecordView& r : batch.records()) {
              if (r.offset() < offset) continue;
              if (r.offset() <= previous || r.key() != KeyAt(r.offset()) ||
                  r.value() != ValueAt(r.offset())) {
                ++errors;
              }
              previous = r.offset();
            }
          }
          offset = read->next_offset();
        }
        ++reads;
      }
    });
  }
  appender.join();
  compactor.join();
  for (auto& r : readers) r.join();
  CHECK(errors == 0);
  CHECK(reads > 0);
  CHECK(compactions > 0);
  // After a final pass every key below the active segment appears once.
  REQUIRE(log.Compact().ok());
  int64_t active = log.Segments().back().base_offset;
  std::map<std::string, int> seen;
  for (int64_t offset = log.start_offset(); offset < log.end_offset();) {
    auto read = log.Read(offset, 1 << 20);
    REQUIRE(read.ok());
    for (const RecordBatchView& batch : *read)
      for (const RecordView& r : batch.records())
        if (r.offset() >= offset && r.offset() < active) CHECK(++seen[std::string(r.key())] == 1);
    offset = read->next_offset();
  }
}

}  // namespace
}  // namespace brook
