#include "brook/log.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "brook/record_batch_builder.h"
#include "brook/status.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using testing::MakeBatch;
using testing::ReadAll;
using testing::TempDir;

LogOptions SmallSegments() {
  return LogOptions{
      .segment_bytes_max = 16 << 10, .index_bytes_max = 1024, .index_interval_bytes = 256};
}

std::unique_ptr<Log> MustOpen(const std::string& dir, LogOptions options = SmallSegments()) {
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(dir, options);
  INFO(log.status().ToString());
  REQUIRE(log.ok());
  return std::move(*log);
}

std::string Value(int i) { return "value-" + std::to_string(i) + std::string(i % 50, 'x'); }

// Appends n single-record batches with values Value(first..first+n).
void AppendValues(Log& log, int first, int n, int64_t timestamp = 1000) {
  for (int i = first; i < first + n; ++i) {
    absl::StatusOr<AppendResult> r = log.Append(MakeBatch({Value(i)}, timestamp + i));
    REQUIRE(r.ok());
  }
}

TEST_CASE("Log appends, assigns offsets and reads back", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  CHECK(log->start_offset() == 0);
  CHECK(log->end_offset() == 0);
  absl::StatusOr<AppendResult> a = log->Append(MakeBatch({"a", "b", "c"}));
  REQUIRE(a.ok());
  CHECK(a->base_offset == 0);
  CHECK(a->last_offset == 2);
  absl::StatusOr<AppendResult> b = log->Append(MakeBatch({"d"}));
  REQUIRE(b.ok());
  CHECK(b->base_offset == 3);
  CHECK(log->end_offset() == 4);

  auto records = ReadAll(*log);
  REQUIRE(records.ok());
  REQUIRE(records->size() == 4);
  CHECK((*records)[3].offset == 3);
  CHECK((*records)[3].value == "d");

  // Reading from the middle of a batch returns the whole batch.
  absl::StatusOr<ReadResult> mid = log->Read(1, 1 << 20);
  REQUIRE(mid.ok());
  REQUIRE(mid->size() == 2);
  CHECK(mid->batches()[0].base_offset() == 0);
  CHECK(mid->next_offset() == 4);
  // At the end: empty. Past it: OutOfRange.
  absl::StatusOr<ReadResult> at_end = log->Read(4, 1 << 20);
  REQUIRE(at_end.ok());
  CHECK(at_end->empty());
  absl::StatusOr<ReadResult> past = log->Read(5, 1 << 20);
  CHECK(absl::IsOutOfRange(past.status()));
  CHECK(GetErrorCode(past.status()) == ErrorCode::kOffsetOutOfRange);
}

TEST_CASE("Log reads respect max_bytes but always return one batch", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  AppendValues(*log, 0, 10);
  absl::StatusOr<ReadResult> one = log->Read(0, 1);
  REQUIRE(one.ok());
  CHECK(one->size() == 1);
  absl::StatusOr<ReadResult> all = log->Read(0, 1 << 20);
  REQUIRE(all.ok());
  CHECK(all->size() == 10);
  size_t three = 0;
  for (int i = 0; i < 3; ++i) three += all->batches()[static_cast<size_t>(i)].size_bytes();
  absl::StatusOr<ReadResult> some = log->Read(0, three);
  REQUIRE(some.ok());
  CHECK(some->size() == 3);
}

TEST_CASE("Log rolls segments, indexes them and finds every offset", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  AppendValues(*log, 0, 2000);
  std::vector<SegmentInfo> segments = log->Segments();
  REQUIRE(segments.size() > 3);
  CHECK(segments.back().active);
  CHECK(segments.front().offset_index_entries > 0);
  CHECK(std::filesystem::exists(dir.Sub("00000000000000000000.log")));
  CHECK(std::filesystem::exists(dir.Sub("00000000000000000000.index")));
  CHECK(std::filesystem::exists(dir.Sub("00000000000000000000.timeindex")));
  // Inactive segments are trimmed to their contents.
  CHECK(std::filesystem::file_size(segments.front().path) == segments.front().size_bytes);
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    CHECK(segments[i].next_offset == segments[i + 1].base_offset);
  }
  for (int64_t offset : {0, 1, 77, 500, 1234, 1999}) {
    absl::StatusOr<ReadResult> read = log->Read(offset, 1);
    REQUIRE(read.ok());
    REQUIRE(read->size() == 1);
    const RecordBatchView& batch = read->batches()[0];
    CHECK(batch.base_offset() == offset);
    CHECK(batch.records().begin()->value() == Value(static_cast<int>(offset)));
  }
}

#if defined(__linux__)
// The mappings of `file` in /proc/self/smaps: start address -> VmFlags line.
std::map<uintptr_t, std::string> MappingsOf(const std::string& file) {
  std::ifstream smaps("/proc/self/smaps");
  std::map<uintptr_t, std::string> out;
  std::string line;
  std::optional<uintptr_t> current;
  while (std::getline(smaps, line)) {
    if (line.rfind("VmFlags:", 0) == 0) {
      if (current) out[*current] = line;
      current.reset();
    } else if (line.size() >= file.size() &&
               line.compare(line.size() - file.size(), file.size(), file) == 0) {
      current = std::stoull(line.substr(0, line.find('-')), nullptr, 16);
    }
  }
  return out;
}

// The VmFlags of the mapping holding `p` among `maps`.
std::string FlagsAt(const std::map<uintptr_t, std::string>& maps, const void* p) {
  auto it = maps.upper_bound(reinterpret_cast<uintptr_t>(p));
  return it == maps.begin() ? "" : std::prev(it)->second;
}

TEST_CASE("Readers of the active segment map it without readahead, sealed ones with it", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  AppendValues(*log, 0, 10);
  const std::string first = std::filesystem::canonical(dir.Sub("00000000000000000000.log"));
  absl::StatusOr<ReadResult> active = log->Read(0, 1);
  REQUIRE(active.ok());
  {
    // Active: a read-only mapping for readers, advised random ("rr"), and one for appends.
    std::map<uintptr_t, std::string> maps = MappingsOf(first);
    CHECK(maps.size() == 2);
    std::string flags = FlagsAt(maps, active->batches()[0].bytes().data());
    CHECK(flags.find(" rr") != std::string::npos);
    CHECK(flags.find(" wr") == std::string::npos);  // not writable
  }
  AppendValues(*log, 10, 1000);  // rolls: the first segment is sealed
  REQUIRE(log->Segments().size() > 2);
  {
    // Sealed: the readers' mapping (which `active` still holds views into) has readahead back.
    std::map<uintptr_t, std::string> maps = MappingsOf(first);
    std::string flags = FlagsAt(maps, active->batches()[0].bytes().data());
    CHECK(flags.find(" rr") == std::string::npos);
    CHECK(active->batches()[0].records().begin()->value() == Value(0));
  }
  REQUIRE(log->Flush().ok());
  {
    // Synced, and trimmed first: the appends' mapping is gone too.
    std::map<uintptr_t, std::string> maps = MappingsOf(first);
    CHECK(maps.size() == 1);
    CHECK(active->batches()[0].records().begin()->value() == Value(0));
  }
}
#endif

TEST_CASE("Log reopens after a clean close without scanning", "[log]") {
  TempDir dir;
  {
    auto log = MustOpen(dir.path());
    AppendValues(*log, 0, 500);
    REQUIRE(log->Close().ok());
  }
  // Several clean cycles: each open must leave the sealed segments' files as it found them.
  for (int cycle = 0; cycle < 3; ++cycle) {
    auto log = MustOpen(dir.path());
    CHECK(log->recovery_summary().clean_shutdown);
    CHECK(log->recovery_summary().segments_scanned == 0);
    REQUIRE(log->Close().ok());
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    // Inactive indexes hold exactly their entries (no preallocated tail left behind).
    if (entry.path().extension() == ".index") CHECK(entry.file_size() % 8 == 0);
    if (entry.path().extension() == ".index") CHECK(entry.file_size() < 1024);
  }
  auto log = MustOpen(dir.path());
  CHECK(log->recovery_summary().clean_shutdown);
  CHECK(log->recovery_summary().segments_scanned == 0);
  CHECK(log->end_offset() == 500);
  CHECK(log->flushed_offset() == 500);
  AppendValues(*log, 500, 10);
  auto records = ReadAll(*log);
  REQUIRE(records.ok());
  REQUIRE(records->size() == 510);
  for (int i = 0; i < 510; ++i) CHECK((*records)[static_cast<size_t>(i)].value == Value(i));
}

TEST_CASE("Log recovers by scanning after an unclean shutdown", "[log]") {
  TempDir dir;
  {
    auto log = MustOpen(dir.path());
    AppendValues(*log, 0, 800);
    // Simulate a crash: no Close. Remove the lock holder's marker by dropping without closing
    // is not possible, so copy the files as a crash would leave them.
    std::filesystem::copy(dir.path(), dir.Sub("crashed"));
  }
  std::filesystem::remove(dir.Sub("crashed/.clean-shutdown"));
  auto log = MustOpen(dir.Sub("crashed"));
  CHECK_FALSE(log->recovery_summary().clean_shutdown);
  CHECK(log->recovery_summary().segments_scanned >= 1);
  CHECK(log->recovery_summary().bytes_truncated == 0);
  CHECK(log->end_offset() == 800);
  auto records = ReadAll(*log);
  REQUIRE(records.ok());
  CHECK(records->size() == 800);
}

TEST_CASE("Log cuts a torn tail and a corrupt batch on recovery", "[log][crash]") {
  TempDir dir;
  std::string active;
  uint64_t size = 0;
  {
    auto log = MustOpen(dir.path());
    AppendValues(*log, 0, 50);
    active = log->Segments().back().path;
    size = log->Segments().back().size_bytes;
    std::filesystem::copy(dir.path(), dir.Sub("crashed"));
  }
  std::string copy = dir.Sub("crashed/" + std::filesystem::path(active).filename().string());
  std::filesystem::remove(dir.Sub("crashed/.clean-shutdown"));
  {
    // Flip a byte inside the last batch: its CRC fails.
    std::fstream f(copy, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 3));
    f.put('\x7f');
  }
  auto log = MustOpen(dir.Sub("crashed"));
  CHECK(log->recovery_summary().bytes_truncated > 0);
  CHECK(log->end_offset() == 49);
  CHECK(log->recovery_summary().truncated_at_offset == 49);
  auto records = ReadAll(*log);
  REQUIRE(records.ok());
  CHECK(records->size() == 49);
  // The log continues from the cut.
  absl::StatusOr<AppendResult> r = log->Append(MakeBatch({"after"}));
  REQUIRE(r.ok());
  CHECK(r->base_offset == 49);
}

TEST_CASE("Log finds offsets by timestamp", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  // Value i has timestamp 1000 + 10*i.
  for (int i = 0; i < 1500; ++i) REQUIRE(log->Append(MakeBatch({Value(i)}, 1000 + 10 * i)).ok());
  CHECK(*log->OffsetForTimestamp(0) == 0);
  CHECK(*log->OffsetForTimestamp(1000) == 0);
  CHECK(*log->OffsetForTimestamp(1001) == 1);
  CHECK(*log->OffsetForTimestamp(1000 + 10 * 777) == 777);
  CHECK(*log->OffsetForTimestamp(1000 + 10 * 777 - 5) == 777);
  CHECK(*log->OffsetForTimestamp(1000 + 10 * 1499) == 1499);
  CHECK(absl::IsNotFound(log->OffsetForTimestamp(1000 + 10 * 1499 + 1).status()));
  REQUIRE(log->Close().ok());
  auto reopened = MustOpen(dir.path());
  CHECK(*reopened->OffsetForTimestamp(1000 + 10 * 1234) == 1234);
}

TEST_CASE("Log truncates to an offset, across segments, and keeps going", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  AppendValues(*log, 0, 1000);
  size_t segments_before = log->Segments().size();
  absl::StatusOr<int64_t> end = log->TruncateTo(300);
  REQUIRE(end.ok());
  CHECK(*end == 300);
  CHECK(log->end_offset() == 300);
  CHECK(log->flushed_offset() <= 300);
  CHECK(log->Segments().size() < segments_before);
  AppendValues(*log, 5000, 10);
  auto records = ReadAll(*log);
  REQUIRE(records.ok());
  REQUIRE(records->size() == 310);
  CHECK((*records)[299].value == Value(299));
  CHECK((*records)[300].value == Value(5000));
  CHECK((*records)[300].offset == 300);
  REQUIRE(log->Close().ok());
  auto reopened = MustOpen(dir.path());
  CHECK(reopened->end_offset() == 310);
  CHECK(absl::IsOutOfRange(reopened->TruncateTo(-1).status()));
}

TEST_CASE("Log truncation inside a multi-record batch removes the whole batch", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  REQUIRE(log->Append(MakeBatch({"a", "b"})).ok());
  REQUIRE(log->Append(MakeBatch({"c", "d", "e"})).ok());
  absl::StatusOr<int64_t> end = log->TruncateTo(3);
  REQUIRE(end.ok());
  CHECK(*end == 2);
}

TEST_CASE("Log deletes records before an offset, durably", "[log]") {
  TempDir dir;
  {
    auto log = MustOpen(dir.path());
    AppendValues(*log, 0, 1000);
    size_t before = log->Segments().size();
    REQUIRE(log->DeleteRecordsBefore(600).ok());
    CHECK(log->start_offset() == 600);
    CHECK(log->Segments().size() < before);
    CHECK(absl::IsOutOfRange(log->Read(599, 100).status()));
    absl::StatusOr<ReadResult> r = log->Read(600, 100);
    REQUIRE(r.ok());
    CHECK(absl::IsOutOfRange(log->DeleteRecordsBefore(1001)));
  }
  auto log = MustOpen(dir.path());
  CHECK(log->start_offset() == 600);
  auto records = ReadAll(*log);
  REQUIRE(records.ok());
  CHECK(records->size() == 400);
  CHECK(records->front().value == Value(600));
}

TEST_CASE("Log retention deletes old segments by size and by time", "[log]") {
  TempDir dir;
  testing::ManualClock clock;
  SECTION("by bytes") {
    LogOptions options = SmallSegments();
    options.retention_bytes = 40 << 10;
    options.clock = &clock;
    auto log = MustOpen(dir.path(), options);
    AppendValues(*log, 0, 3000);
    uint64_t total = 0;
    for (const SegmentInfo& s : log->Segments()) total += s.size_bytes;
    // Retention runs at each roll, so the log can exceed the limit by the active segment and the
    // one just sealed.
    CHECK(total <= (40u << 10) + 2 * options.segment_bytes_max);
    CHECK(total >= (40u << 10));
    CHECK(log->start_offset() > 0);
    CHECK(log->start_offset() == log->Segments().front().base_offset);
    auto records = ReadAll(*log);
    REQUIRE(records.ok());
    CHECK(records->back().value == Value(2999));
  }
  SECTION("by age") {
    LogOptions options = SmallSegments();
    options.retention_age = std::chrono::hours(1);
    options.clock = &clock;
    auto log = MustOpen(dir.path(), options);
    int64_t old_ts = clock.NowMs() - 2 * 3600 * 1000;
    AppendValues(*log, 0, 500, old_ts);
    AppendValues(*log, 500, 500, clock.NowMs());
    REQUIRE(log->EnforceRetention().ok());
    CHECK(log->start_offset() > 0);
    CHECK(log->start_offset() <= 500);
    // Nothing recent was removed.
    auto records = ReadAll(*log, 500);
    REQUIRE(records.ok());
    CHECK(records->size() == 500);
  }
}

TEST_CASE("Readers keep retired segments mapped until they let go", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  AppendValues(*log, 0, 1000);
  absl::StatusOr<ReadResult> pinned = log->Read(0, 1 << 20);
  REQUIRE(pinned.ok());
  std::string first_value(pinned->batches()[0].records().begin()->value());
  REQUIRE(log->DeleteRecordsBefore(900).ok());
  CHECK_FALSE(std::filesystem::exists(dir.Sub("00000000000000000000.log")));
  // The pinned batches are still readable and intact.
  for (const RecordBatchView& batch : *pinned) CHECK(batch.crc_ok());
  CHECK(std::string(pinned->batches()[0].records().begin()->value()) == first_value);
}

TEST_CASE("Log rejects bad appends with clear errors and stays usable", "[log]") {
  TempDir dir;
  LogOptions options = SmallSegments();
  options.batch_bytes_max = 2000;
  auto log = MustOpen(dir.path(), options);
  SECTION("too large") {
    absl::StatusOr<AppendResult> r = log->Append(MakeBatch({std::string(3000, 'x')}));
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(GetErrorCode(r.status()) == ErrorCode::kMessageTooLarge);
    CHECK(r.status().message().find("batch_bytes_max") != absl::string_view::npos);
  }
  SECTION("corrupt") {
    auto bytes = MakeBatch({"hello"});
    bytes.back() ^= std::byte{1};
    absl::StatusOr<AppendResult> r = log->Append(bytes);
    CHECK(absl::IsDataLoss(r.status()));
    CHECK(GetErrorCode(r.status()) == ErrorCode::kCorruptMessage);
  }
  SECTION("two batches in one span") {
    auto bytes = MakeBatch({"a"});
    auto second = MakeBatch({"b"});
    bytes.insert(bytes.end(), second.begin(), second.end());
    CHECK(absl::IsInvalidArgument(log->Append(bytes).status()));
  }
  SECTION("empty") {
    RecordBatchBuilder builder;
    CHECK(absl::IsInvalidArgument(log->Append(builder.Finish()).status()));
  }
  CHECK(log->end_offset() == 0);
  REQUIRE(log->Append(MakeBatch({"ok"})).ok());
  CHECK(log->end_offset() == 1);
}

TEST_CASE("Log refuses directories that are not brook logs, locked or badly configured", "[log]") {
  TempDir dir;
  SECTION("foreign files") {
    std::ofstream(dir.Sub("notes.txt")) << "mine";
    absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(dir.path(), {});
    CHECK(absl::IsFailedPrecondition(log.status()));
    CHECK(log.status().message().find("not a brook log") != absl::string_view::npos);
  }
  SECTION("locked by another Log") {
    auto first = MustOpen(dir.path());
    absl::StatusOr<std::unique_ptr<Log>> second = Log::Open(dir.path(), SmallSegments());
    CHECK(absl::IsFailedPrecondition(second.status()));
    CHECK(second.status().message().find("locked") != absl::string_view::npos);
  }
  SECTION("missing without create_if_missing") {
    LogOptions options;
    options.create_if_missing = false;
    CHECK(absl::IsNotFound(Log::Open(dir.Sub("nope"), options).status()));
  }
  SECTION("bad option") {
    LogOptions options;
    options.segment_bytes_max = 10;
    absl::Status s = Log::Open(dir.path(), options).status();
    CHECK(absl::IsInvalidArgument(s));
    CHECK(s.message().find("segment_bytes_max") != absl::string_view::npos);
  }
  SECTION("sizes that would map or allocate without bound") {
    LogOptions options;
    options.index_bytes_max = uint64_t{1} << 31;
    CHECK(options.Validate().message().find("index_bytes_max") != absl::string_view::npos);
    options = LogOptions{};
    options.compaction.offset_map_bytes = size_t{1} << 40;
    CHECK(options.Validate().message().find("offset_map_bytes") != absl::string_view::npos);
  }
}

TEST_CASE("Log flush policies advance flushed_offset", "[log]") {
  TempDir dir;
  SECTION("OS only: nothing until Flush") {
    auto log = MustOpen(dir.path());
    AppendValues(*log, 0, 5);
    CHECK(log->flushed_offset() == 0);
    REQUIRE(log->Flush().ok());
    CHECK(log->flushed_offset() == 5);
  }
  SECTION("every append") {
    LogOptions options = SmallSegments();
    options.flush = FlushPolicy::EveryAppend();
    auto log = MustOpen(dir.path(), options);
    AppendValues(*log, 0, 3);
    CHECK(log->flushed_offset() == 3);
  }
  SECTION("every N records") {
    LogOptions options = SmallSegments();
    options.flush = FlushPolicy::EveryRecords(4);
    auto log = MustOpen(dir.path(), options);
    AppendValues(*log, 0, 3);
    CHECK(log->flushed_offset() == 0);
    AppendValues(*log, 3, 1);
    CHECK(log->flushed_offset() == 4);
  }
  SECTION("interval, through Tick") {
    testing::ManualClock clock;
    LogOptions options = SmallSegments();
    options.flush = FlushPolicy::Every(std::chrono::milliseconds(100));
    options.clock = &clock;
    auto log = MustOpen(dir.path(), options);
    AppendValues(*log, 0, 2);
    REQUIRE(log->Tick().ok());
    CHECK(log->flushed_offset() == 0);
    clock.Advance(std::chrono::milliseconds(150));
    REQUIRE(log->Tick().ok());
    CHECK(log->flushed_offset() == 2);
  }
  SECTION("per-append durability") {
    auto log = MustOpen(dir.path());
    REQUIRE(log->Append(MakeBatch({"x"}), {.durability = Durability::kFlushed}).ok());
    CHECK(log->flushed_offset() == 1);
  }
  SECTION("Kafka's default flush.ms, Long.MAX_VALUE: never, not every append") {
    LogOptions options = SmallSegments();
    options.flush = FlushPolicy::Every(std::chrono::milliseconds::max());
    auto log = MustOpen(dir.path(), options);
    AppendValues(*log, 0, 3);
    REQUIRE(log->Tick().ok());
    CHECK(log->flushed_offset() == 0);
  }
}

TEST_CASE("WaitForAppend wakes on append, times out and ends on close", "[log]") {
  TempDir dir;
  for (auto spin : {std::chrono::microseconds(0), std::chrono::microseconds(200)}) {
    LogOptions options = SmallSegments();
    options.wait_spin = spin;
    auto log = MustOpen(dir.Sub("w" + std::to_string(spin.count())), options);
    auto soon = [] { return std::chrono::steady_clock::now() + std::chrono::milliseconds(20); };
    CHECK(absl::IsDeadlineExceeded(log->WaitForAppend(0, soon())));
    std::thread appender([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      REQUIRE(log->Append(MakeBatch({"wake"})).ok());
    });
    absl::Status s =
        log->WaitForAppend(0, std::chrono::steady_clock::now() + std::chrono::seconds(30));
    appender.join();
    CHECK(s.ok());
    CHECK(log->WaitForAppend(0, soon()).ok());  // already there
    std::thread closer([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      REQUIRE(log->Close().ok());
    });
    absl::Status closed =
        log->WaitForAppend(5, std::chrono::steady_clock::now() + std::chrono::seconds(30));
    closer.join();
    CHECK(absl::IsCancelled(closed));
    CHECK(absl::IsFailedPrecondition(log->Append(MakeBatch({"late"})).status()));
  }
}

}  // namespace
}  // namespace brook

namespace brook {
namespace {

TEST_CASE("Log rebuilds missing and scrambled indexes of trusted segments", "[log][crash]") {
  TempDir dir;
  std::vector<SegmentInfo> segments;
  {
    auto log = MustOpen(dir.path());
    AppendValues(*log, 0, 1500);
    segments = log->Segments();
    REQUIRE(log->Close().ok());
  }
  REQUIRE(segments.size() > 3);
  std::string stem = segments[1].path.substr(0, segments[1].path.size() - 4);
  std::filesystem::remove(stem + ".index");
  {
    std::string other = segments[2].path.substr(0, segments[2].path.size() - 4) + ".index";
    std::fstream f(other, std::ios::in | std::ios::out | std::ios::binary);
    f.write("\xff\xff\xff\xff\xff\xff\xff\xff", 8);  // first entry now points past the data
  }
  auto log = MustOpen(dir.path());
  CHECK(log->recovery_summary().indexes_rebuilt >= 2);
  CHECK(std::filesystem::exists(stem + ".index"));
  for (int64_t offset = 0; offset < 1500; offset += 37) {
    absl::StatusOr<ReadResult> read = log->Read(offset, 1);
    REQUIRE(read.ok());
    CHECK(read->batches()[0].base_offset() == offset);
  }
}

TEST_CASE("A damaged checkpoint is never trusted", "[log][crash]") {
  TempDir dir;
  {
    auto log = MustOpen(dir.path());
    AppendValues(*log, 0, 1000);
    REQUIRE(log->Close().ok());
  }
  // A clean-shutdown marker whose checksum fails must not let Open skip the scan.
  std::string marker = dir.Sub(".clean-shutdown");
  {
    std::fstream f(marker, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    f.put('X');
  }
  auto log = MustOpen(dir.path());
  CHECK_FALSE(log->recovery_summary().clean_shutdown);
  CHECK(log->end_offset() == 1000);
}

}  // namespace
}  // namespace brook

namespace brook {
namespace {

TEST_CASE("Views pinned across a truncation and a close stay mapped and readable", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  AppendValues(*log, 0, 300);
  absl::StatusOr<ReadResult> pinned = log->Read(250, 1 << 20);
  REQUIRE(pinned.ok());
  REQUIRE_FALSE(pinned->empty());
  REQUIRE(log->TruncateTo(200).ok());
  REQUIRE(log->Close().ok());  // seals (trims) the cut segment
  // Close released the lock, so new reads are refused; views taken before stay valid.
  absl::StatusOr<ReadResult> after_close = log->Read(0, 1 << 20);
  CHECK(absl::IsFailedPrecondition(after_close.status()));
  CHECK_THAT(std::string(after_close.status().message()), Catch::Contains("closed"));
  CHECK(absl::IsFailedPrecondition(log->OffsetForTimestamp(0).status()));
  // The bytes behind the views were zeroed, not unmapped: reading them must not fault.
  size_t zeros = 0;
  for (const RecordBatchView& batch : *pinned) {
    for (std::byte b : batch.bytes()) zeros += b == std::byte{0};
  }
  CHECK(zeros > 0);
  pinned = ReadResult();
  log.reset();
  auto reopened = MustOpen(dir.path());
  CHECK(reopened->end_offset() == 200);
  auto records = ReadAll(*reopened);
  REQUIRE(records.ok());
  CHECK(records->size() == 200);
}

TEST_CASE("OffsetForTimestamp answers at or after the start offset", "[log]") {
  TempDir dir;
  auto log = MustOpen(dir.path());
  for (int i = 0; i < 100; ++i) REQUIRE(log->Append(MakeBatch({Value(i)}, 1000 + i)).ok());
  REQUIRE(log->DeleteRecordsBefore(50).ok());
  // Offsets 0..49 are gone even though their segment may remain: the answer is the start.
  CHECK(*log->OffsetForTimestamp(1000) == 50);
  CHECK(*log->OffsetForTimestamp(1070) == 70);
}

}  // namespace
}  // namespace brook
