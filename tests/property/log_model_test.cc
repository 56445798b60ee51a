// Model-based test: random appends, reads, rolls, flushes, retention, deletions, truncations and
// reopens (clean or crashed) against a plain vector of values, checked after every step.

#include <random>
#include <string>
#include <vector>

#include "brook/log.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/fault_file_system.h"
#include "support/open_log.h"
#include "support/seed.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

struct Model {
  int64_t start = 0;
  std::vector<std::string> values;  // values[o] is the value at offset o (o >= start)
  std::vector<int64_t> batch_starts{0};
  int64_t end() const { return static_cast<int64_t>(values.size()); }
};

void CheckAgainstModel(const Log& log, const Model& m) {
  REQUIRE(log.start_offset() == m.start);
  REQUIRE(log.end_offset() == m.end());
  REQUIRE(log.start_offset() <= log.flushed_offset());
  REQUIRE(log.flushed_offset() <= log.end_offset());
  auto records = testing::ReadAll(log);
  REQUIRE(records.ok());
  REQUIRE(static_cast<int64_t>(records->size()) == m.end() - m.start);
  for (const auto& r : *records) REQUIRE(r.value == m.values[static_cast<size_t>(r.offset)]);
}

TEST_CASE("Log matches a simple model under random operations", "[property]") {
  uint64_t seed = testing::TestSeed();
  std::mt19937_64 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int run = 0; run < 6; ++run) {
    CAPTURE(run);
    testing::TempDir dir;
    testing::FaultFileSystem fs;
    testing::ManualClock clock;
    LogOptions options{.segment_bytes_max = static_cast<uint64_t>(pick(4096, 32 << 10)),
                       .index_bytes_max = 1024,
                       .index_interval_bytes = static_cast<uint32_t>(pick(64, 4096)),
                       .segment_age_max = std::chrono::hours(1),
                       .mapped_append_bytes_max = pick(0, 1) ? 0u : 64u << 10,
                       .retention_bytes = pick(0, 1) ? -1 : pick(16 << 10, 128 << 10),
                       .file_system = &fs,
                       .clock = &clock,
                       .logger = [](LogLevel, std::string_view) {}};
    auto open = [&] { return testing::OpenLog(dir.path(), options); };
    std::unique_ptr<Log> log = open();
    Model m;
    // Retention (by bytes, when configured) may move the start offset up to a segment's base.
    auto follow_retention = [&] {
      if (log->start_offset() == m.start) return;
      REQUIRE(options.retention_bytes >= 0);
      REQUIRE(log->start_offset() > m.start);
      REQUIRE(log->start_offset() == log->Segments().front().base_offset);
      m.start = log->start_offset();
    };
    for (int step = 0; step < 250; ++step) {
      int op = static_cast<int>(pick(0, 99));
      CAPTURE(step, op);
      if (op < 50) {  // append
        int n = static_cast<int>(pick(1, 8));
        std::vector<std::string> values;
        for (int i = 0; i < n; ++i) {
          values.push_back(std::to_string(m.end() + i) + ":" + std::string(pick(0, 400), 'v'));
        }
        auto r = log->Append(testing::MakeBatch(values, clock.NowMs()));
        REQUIRE(r.ok());
        REQUIRE(r->base_offset == m.end());
        m.values.insert(m.values.end(), values.begin(), values.end());
        m.batch_starts.push_back(m.end());
        follow_retention();  // retention runs on a roll
      } else if (op < 62) {  // read from a random offset
        int64_t from = pick(m.start, m.end());
        auto read = log->Read(from, static_cast<size_t>(pick(1, 64 << 10)));
        REQUIRE(read.ok());
        if (from < m.end()) REQUIRE_FALSE(read->empty());
        for (const RecordBatchView& b : *read) {
          for (const RecordView& r : b.records()) {
            REQUIRE(r.value() == m.values[static_cast<size_t>(r.offset())]);
          }
        }
      } else if (op < 67) {  // roll by age
        clock.Advance(std::chrono::hours(2));
      } else if (op < 74) {
        REQUIRE(log->Flush().ok());
        REQUIRE(log->flushed_offset() == m.end());
      } else if (op < 78) {
        REQUIRE(log->EnforceRetention().ok());
        follow_retention();
      } else if (op < 82) {
        int64_t to = pick(m.start, m.end());
        REQUIRE(log->DeleteRecordsBefore(to).ok());
        m.start = std::max(m.start, to);
        follow_retention();  // DeleteRecordsBefore runs retention too
      } else if (op < 88) {  // truncate
        int64_t to = pick(m.start, m.end());
        auto end = log->TruncateTo(to);
        REQUIRE(end.ok());
        REQUIRE(*end <= std::max(to, m.start));
        if (to < m.end()) {
          // The new end is the start of the batch holding `to`, or the start offset if that
          // batch begins below it (the log empties and continues at the start offset).
          auto it = std::upper_bound(m.batch_starts.begin(), m.batch_starts.end(), to);
          REQUIRE(*end == std::max(*(it - 1), m.start));
          if (*(it - 1) < m.start)
            it = std::lower_bound(m.batch_starts.begin(), m.batch_starts.end(), *end);
          m.values.resize(static_cast<size_t>(*end));
          m.batch_starts.erase(it, m.batch_starts.end());
          if (m.batch_starts.empty() || m.batch_starts.back() != *end)
            m.batch_starts.push_back(*end);
        }
        REQUIRE(*end >= m.start);
      } else if (op < 94) {  // clean reopen
        REQUIRE(log->Close().ok());
        log.reset();
        log = open();
        REQUIRE(log->recovery_summary().clean_shutdown);
      } else {  // crash: everything unflushed may be lost
        int64_t flushed = log->flushed_offset();
        fs.SimulateCrash();
        log.reset();
        fs.Restart();
        log = open();
        REQUIRE(log->end_offset() >= flushed);
        REQUIRE(log->end_offset() <= m.end());
        m.values.resize(static_cast<size_t>(log->end_offset()));
        while (m.batch_starts.back() > m.end()) m.batch_starts.pop_back();
        if (m.batch_starts.back() != m.end()) m.batch_starts.push_back(m.end());
        // DeleteRecordsBefore is durable when it returns; retention's start follows segments.
        REQUIRE(log->start_offset() >= m.start);
        m.start = log->start_offset();
      }
      CheckAgainstModel(*log, m);
    }
  }
}

}  // namespace
}  // namespace brook
