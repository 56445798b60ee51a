// LogCleaner: background compaction of registered logs.

#include "brook/log_cleaner.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "brook/log.h"
#include "brook/record_batch_builder.h"
#include "storage/compactor.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/fault_file_system.h"
#include "support/open_log.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using testing::FaultFileSystem;
using testing::ManualClock;
using testing::TempDir;

void Quiet(LogLevel, std::string_view) {}

LogOptions CompactedOptions(Clock* clock, FileSystem* fs = nullptr) {
  return LogOptions{.segment_bytes_max = 4096,
                    .cleanup_policy = CleanupPolicy::kCompact,
                    .compaction = {.delete_retention = std::chrono::hours(1)},
                    .file_system = fs,
                    .clock = clock,
                    .logger = Quiet};
}

using testing::OpenLog;

// Appends `n` single-record batches cycling through `keys` keys, and flushes (compaction only
// takes flushed data).
void Fill(Log& log, int n, int keys, int64_t timestamp, const std::string& prefix = "k") {
  for (int i = 0; i < n; ++i) {
    RecordBatchBuilder builder;
    builder.Append(timestamp, prefix + std::to_string(i % keys), std::string(60, 'v'));
    REQUIRE(log.Append(builder.Finish()).ok());
  }
  REQUIRE(log.Flush().ok());
}

// Counts the cleaner's log lines by level; called on the cleaner's thread.
struct CountingLogger {
  std::shared_ptr<std::atomic<int>> errors = std::make_shared<std::atomic<int>>(0);
  Logger logger() const {
    return [errors = errors](LogLevel level, std::string_view) {
      if (level == LogLevel::kError) ++*errors;
    };
  }
};

bool WaitFor(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST_CASE("LogCleaner::RunOnce compacts the dirtiest due log, one pass at a time", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  LogOptions options = CompactedOptions(&clock);
  options.compaction.min_cleanable_dirty_ratio = 0.1;
  std::unique_ptr<Log> partly = OpenLog(dir.Sub("partly"), options);
  std::unique_ptr<Log> fully = OpenLog(dir.Sub("fully"), options);
  std::unique_ptr<Log> deleting =
      OpenLog(dir.Sub("deleting"), {.segment_bytes_max = 4096, .clock = &clock, .logger = Quiet});

  LogCleaner cleaner({.logger = Quiet});
  absl::StatusOr<bool> idle = cleaner.RunOnce();  // nothing registered
  REQUIRE(idle.ok());
  CHECK_FALSE(*idle);

  // `partly` was compacted once, then written some more: due, but less dirty than `fully`.
  Fill(*partly, 200, 5, clock.NowMs());
  REQUIRE(partly->Compact().ok());
  Fill(*partly, 60, 5, clock.NowMs());
  Fill(*fully, 200, 5, clock.NowMs());
  Fill(*deleting, 200, 5, clock.NowMs());
  CompactionState partly_before = partly->compaction_state();
  CompactionState fully_before = fully->compaction_state();
  REQUIRE(partly_before.due);
  REQUIRE(fully_before.due);
  REQUIRE(partly_before.dirty_ratio < fully_before.dirty_ratio);
  REQUIRE_FALSE(deleting->compaction_state().due);
  size_t deleting_segments = deleting->Segments().size();

  cleaner.Add(partly.get());
  cleaner.Add(deleting.get());
  cleaner.Add(fully.get());
  cleaner.Add(fully.get());  // twice is once

  absl::StatusOr<bool> first = cleaner.RunOnce();
  REQUIRE(first.ok());
  CHECK(*first);
  CHECK(fully->compaction_state().dirty_bytes == 0);
  CHECK(partly->compaction_state().dirty_bytes == partly_before.dirty_bytes);

  absl::StatusOr<bool> second = cleaner.RunOnce();
  REQUIRE(second.ok());
  CHECK(*second);
  CHECK(partly->compaction_state().dirty_bytes == 0);

  absl::StatusOr<bool> third = cleaner.RunOnce();
  REQUIRE(third.ok());
  CHECK_FALSE(*third);
  CHECK(deleting->Segments().size() == deleting_segments);

  cleaner.Remove(partly.get());
  cleaner.Remove(partly.get());  // not registered: a no-op
  cleaner.Remove(fully.get());
  cleaner.Remove(deleting.get());
}

TEST_CASE("LogCleaner skips a failed log", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  FaultFileSystem fs;
  std::unique_ptr<Log> failed = OpenLog(dir.Sub("failed"), CompactedOptions(&clock, &fs));
  std::unique_ptr<Log> healthy = OpenLog(dir.Sub("healthy"), CompactedOptions(&clock));
  Fill(*failed, 200, 5, clock.NowMs());
  Fill(*healthy, 200, 5, clock.NowMs());
  fs.fail_syncs(true);
  RecordBatchBuilder builder;
  builder.Append(clock.NowMs(), "k", "v");
  CHECK_FALSE(failed->Append(builder.Finish(), {.durability = Durability::kFlushed}).ok());
  REQUIRE_FALSE(failed->health().ok());
  REQUIRE_FALSE(failed->compaction_state().due);  // a failed (or closed) log is never due

  LogCleaner cleaner({.logger = Quiet});
  cleaner.Add(failed.get());  // first: it would win a tie
  cleaner.Add(healthy.get());
  absl::StatusOr<bool> ran = cleaner.RunOnce();
  REQUIRE(ran.ok());
  CHECK(*ran);
  CHECK(healthy->compaction_state().dirty_bytes == 0);
  CHECK(failed->compaction_state().first_dirty_offset == 0);
  absl::StatusOr<bool> again = cleaner.RunOnce();
  REQUIRE(again.ok());
  CHECK_FALSE(*again);
  cleaner.Remove(failed.get());
  cleaner.Remove(healthy.get());
}

TEST_CASE("LogCleaner compacts in the background once woken", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  std::unique_ptr<Log> log = OpenLog(dir.path(), CompactedOptions(&clock));
  CountingLogger counting;
  // A backoff no test waits out: only Wake (or the first look) finds the log due.
  LogCleaner cleaner({.backoff = std::chrono::hours(1), .logger = counting.logger()});
  cleaner.Add(log.get());
  cleaner.Start();
  cleaner.Start();  // already running: a no-op
  for (int round = 0; round < 3; ++round) {
    // Appends run alongside the cleaner's passes.
    Fill(*log, 150, 7, clock.NowMs());
    cleaner.Wake();
    CHECK(WaitFor([&] { return log->compaction_state().dirty_bytes == 0; }));
  }
  cleaner.Stop();
  CHECK(counting.errors->load() == 0);
  CHECK(log->compaction_state().first_dirty_offset > 0);
  // Every key's latest record is still there.
  absl::StatusOr<std::vector<testing::ReadRecord>> records = testing::ReadAll(*log);
  REQUIRE(records.ok());
  std::vector<bool> seen(7);
  for (const testing::ReadRecord& r : *records) {
    REQUIRE(r.key.has_value());
    seen[static_cast<size_t>(std::stoi(r.key->substr(1)))] = true;
  }
  for (bool s : seen) CHECK(s);
  cleaner.Remove(log.get());
}

TEST_CASE("LogCleaner::Remove waits for a pass running on the log", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  LogOptions options = CompactedOptions(&clock);
  // Slow the pass down (about 40 KB read and written at 100 KB/s) so it is likely caught running.
  options.compaction.io_bytes_per_second = 100'000;
  std::unique_ptr<Log> log = OpenLog(dir.path(), options);
  Fill(*log, 300, 10, clock.NowMs());
  REQUIRE(log->compaction_state().due);

  CountingLogger counting;
  LogCleaner cleaner({.backoff = std::chrono::hours(1), .logger = counting.logger()});
  cleaner.Add(log.get());
  cleaner.Start();
  // A `.cleaned` file exists only while a pass writes its output.
  auto cleaning = [&] {
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      if (entry.path().extension() == storage::kCleanedSuffix) return true;
    }
    return false;
  };
  bool caught = WaitFor([&] { return cleaning() || log->compaction_state().dirty_bytes == 0; });
  CHECK(caught);
  cleaner.Remove(log.get());
  // Remove returned after the pass: its output is swapped in and nothing is half done.
  CHECK(log->compaction_state().first_dirty_offset > 0);
  CHECK_FALSE(cleaning());
  // The cleaner no longer touches the log: it may go while the cleaner runs on.
  REQUIRE(log->Close().ok());
  log.reset();
  cleaner.Wake();
  cleaner.Stop();
  CHECK(counting.errors->load() == 0);
}

TEST_CASE("LogCleaner::Stop is idempotent and the cleaner restarts", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  std::unique_ptr<Log> log = OpenLog(dir.path(), CompactedOptions(&clock));
  LogCleaner cleaner({.backoff = std::chrono::hours(1), .logger = Quiet});
  cleaner.Stop();  // never started
  cleaner.Wake();  // no thread: nothing to wake
  cleaner.Add(log.get());
  cleaner.Start();
  cleaner.Stop();
  cleaner.Stop();
  Fill(*log, 200, 5, clock.NowMs());
  REQUIRE(log->compaction_state().due);
  cleaner.Start();
  cleaner.Wake();
  CHECK(WaitFor([&] { return log->compaction_state().dirty_bytes == 0; }));
  cleaner.Stop();
  cleaner.Remove(log.get());
  cleaner.Start();  // running at destruction: the destructor stops it
}

}  // namespace
}  // namespace brook

namespace brook {
namespace {

TEST_CASE("LogCleaner sets aside a log whose pass fails so the others still get compacted",
          "[compaction]") {
  TempDir dir;
  ManualClock clock;
  // An offset map of 37 keys cannot hold a 100-record batch: every pass on this log fails, yet
  // the log stays healthy and due.
  LogOptions tiny = CompactedOptions(&clock);
  tiny.compaction.offset_map_bytes = 1024;
  std::unique_ptr<Log> failing = OpenLog(dir.Sub("failing"), tiny);
  for (int i = 0; i < 60; ++i) {
    RecordBatchBuilder builder;
    for (int r = 0; r < 100; ++r) builder.Append(clock.NowMs(), "k" + std::to_string(r), "v");
    REQUIRE(failing->Append(builder.Finish()).ok());
  }
  REQUIRE(failing->Flush().ok());
  std::unique_ptr<Log> healthy = OpenLog(dir.Sub("healthy"), CompactedOptions(&clock));
  Fill(*healthy, 200, 5, clock.NowMs());
  REQUIRE(failing->compaction_state().due);
  REQUIRE(healthy->compaction_state().due);

  LogCleaner cleaner({.logger = Quiet});
  cleaner.Add(failing.get());  // first: it wins the tie of dirty ratios
  cleaner.Add(healthy.get());
  absl::StatusOr<bool> first = cleaner.RunOnce();
  CHECK(absl::IsResourceExhausted(first.status()));
  absl::StatusOr<bool> second = cleaner.RunOnce();  // the failing log is set aside
  REQUIRE(second.ok());
  CHECK(*second);
  CHECK_FALSE(healthy->compaction_state().due);
  CHECK(failing->compaction_state().due);
  cleaner.Remove(failing.get());
  cleaner.Remove(healthy.get());
}

}  // namespace
}  // namespace brook
