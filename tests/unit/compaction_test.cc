// Log compaction through the public Log API.

#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "brook/compression.h"
#include "brook/crc32c.h"
#include "brook/detail/endian.h"
#include "brook/log.h"
#include "brook/record_batch_builder.h"
#include "brook/status.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using testing::ManualClock;
using testing::TempDir;

struct KV {
  std::string key;
  std::optional<std::string> value;  // nullopt: tombstone
};

std::vector<std::byte> KeyedBatch(const std::vector<KV>& records, int64_t timestamp,
                                  RecordBatchOptions options = {}) {
  RecordBatchBuilder builder(options);
  for (const KV& r : records) builder.Append(timestamp, r.key, r.value);
  std::span<const std::byte> bytes = builder.Finish();
  return {bytes.begin(), bytes.end()};
}

// Appends `n` single-record batches, keys `prefix`0 .. `prefix`<keys - 1> in turn, values of
// `value_bytes` bytes.
void AppendKeyed(Log& log, int n, int keys, size_t value_bytes, int64_t timestamp,
                 const std::string& prefix = "k") {
  for (int i = 0; i < n; ++i) {
    auto r = log.Append(KeyedBatch(
        {{prefix + std::to_string(i % keys), std::string(value_bytes, 'v')}}, timestamp));
    INFO(r.status().ToString());
    REQUIRE(r.ok());
  }
}

using Found = testing::KeyedRecord;

std::vector<Found> ReadKeyed(const Log& log) {
  auto records = testing::ReadKeyed(log, -1, size_t{1} << 20);
  REQUIRE(records.ok());
  return *records;
}

LogOptions CompactedOptions(ManualClock* clock) {
  return LogOptions{.segment_bytes_max = 4096,
                    .cleanup_policy = CleanupPolicy::kCompact,
                    .compaction = {.delete_retention = std::chrono::hours(1)},
                    .clock = clock,
                    .logger = [](LogLevel, std::string_view) {}};
}

TEST_CASE("Compaction keeps the latest record per key with offsets unchanged", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  auto log = Log::Open(dir.path(), CompactedOptions(&clock));
  REQUIRE(log.ok());
  std::map<std::string, std::pair<int64_t, std::string>> latest;
  for (int i = 0; i < 400; ++i) {
    std::string key = "k" + std::to_string(i % 10);
    std::string value = "value-" + std::to_string(i) + std::string(20, 'x');
    auto r = (*log)->Append(KeyedBatch({{key, value}}, clock.NowMs()));
    REQUIRE(r.ok());
    latest[key] = {r->base_offset, value};
  }
  int64_t end = (*log)->end_offset();
  size_t segments = (*log)->Segments().size();
  REQUIRE(segments > 3);
  auto result = (*log)->Compact();
  REQUIRE(result.ok());
  CHECK(result->passes >= 1);
  CHECK(result->records_removed > 0);
  CHECK((*log)->end_offset() == end);
  CHECK((*log)->Segments().size() < segments);

  // Every key's latest value survives at its original offset; the active segment is untouched.
  int64_t active_base = (*log)->Segments().back().base_offset;
  std::vector<Found> found = ReadKeyed(**log);
  std::map<std::string, int> seen_below_active;
  int64_t previous = -1;
  for (const Found& f : found) {
    CHECK(f.offset > previous);
    previous = f.offset;
    if (f.offset < active_base) ++seen_below_active[f.key];
  }
  for (const auto& entry : latest) {
    const std::string& key = entry.first;
    const auto& latest_entry = entry.second;
    bool present = std::any_of(found.begin(), found.end(), [&](const Found& f) {
      return f.key == key && f.offset == latest_entry.first && f.value == latest_entry.second;
    });
    CHECK(present);
  }
  for (const auto& [key, n] : seen_below_active) CHECK(n == 1);

  // Reopen: the compacted segments are the log now.
  REQUIRE((*log)->Close().ok());
  log = Log::Open(dir.path(), CompactedOptions(&clock));
  REQUIRE(log.ok());
  CHECK(ReadKeyed(**log).size() == found.size());
  CHECK((*log)->compaction_state().first_dirty_offset == result->cleaned_to);
}

TEST_CASE("Tombstones go only after the delete horizon", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  auto log = Log::Open(dir.path(), CompactedOptions(&clock));
  REQUIRE(log.ok());
  for (int i = 0; i < 100; ++i) {
    REQUIRE((*log)->Append(KeyedBatch({{"a", std::string(100, 'a')}}, clock.NowMs())).ok());
  }
  REQUIRE((*log)->Append(KeyedBatch({{"a", std::nullopt}}, clock.NowMs())).ok());
  for (int i = 0; i < 100; ++i) {
    REQUIRE((*log)->Append(KeyedBatch({{"b" + std::to_string(i), "v"}}, clock.NowMs())).ok());
  }
  auto has_a = [&] {
    for (const Found& f : ReadKeyed(**log)) {
      if (f.key == "a") return f.value.has_value() ? 2 : 1;
    }
    return 0;
  };
  REQUIRE((*log)->Compact().ok());
  CHECK(has_a() == 1);  // the tombstone stays, the values are gone
  clock.Advance(std::chrono::minutes(59));
  REQUIRE((*log)->Compact().ok());
  CHECK(has_a() == 1);
  clock.Advance(std::chrono::minutes(2));
  auto result = (*log)->Compact();
  REQUIRE(result.ok());
  CHECK(result->tombstones_removed == 1);
  CHECK(has_a() == 0);
}

TEST_CASE("A compacted log rejects records without a key", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  auto log = Log::Open(dir.path(), CompactedOptions(&clock));
  REQUIRE(log.ok());
  auto r = (*log)->Append(testing::MakeBatch({"no key"}));
  CHECK(absl::IsInvalidArgument(r.status()));
  CHECK(GetErrorCode(r.status()) == ErrorCode::kInvalidRecord);
  CHECK(r.status().message().find("key") != std::string_view::npos);
  CHECK((*log)->end_offset() == 0);
}

TEST_CASE("Compressed batches are compacted and stay compressed with their codec", "[compaction]") {
  for (Compression codec :
       {Compression::kGzip, Compression::kSnappy, Compression::kLz4, Compression::kZstd}) {
    if (!CompressionSupported(codec)) continue;
    INFO("codec " << static_cast<int>(codec));
    TempDir dir;
    ManualClock clock;
    auto log = Log::Open(dir.path(), CompactedOptions(&clock));
    REQUIRE(log.ok());
    // Batches of 5 records over 8 keys: each later batch supersedes some records of the earlier
    // ones, so most compressed batches lose some records and are rewritten.
    std::map<std::string, std::pair<int64_t, std::optional<std::string>>> latest;
    for (int b = 0; b < 60; ++b) {
      std::vector<KV> records;
      for (int i = 0; i < 5; ++i) {
        int n = b * 5 + i;
        std::optional<std::string> value;
        if (n % 17 != 0) value = "value-" + std::to_string(n) + std::string(40, 'x');
        records.push_back({"k" + std::to_string((n * 3) % 8), value});
      }
      auto r = (*log)->Append(KeyedBatch(records, clock.NowMs(), {.compression = codec}));
      INFO(r.status().ToString());
      REQUIRE(r.ok());
      for (int i = 0; i < 5; ++i) latest[records[i].key] = {r->base_offset + i, records[i].value};
    }
    // Other keys after them fill a segment or more, so the batches above all get cleaned.
    for (int i = 0; i < 60; ++i) {
      std::string key = "z" + std::to_string(i);
      auto r = (*log)->Append(KeyedBatch({{key, std::string(100, 'z')}}, clock.NowMs()));
      REQUIRE(r.ok());
      latest[key] = {r->base_offset, std::string(100, 'z')};
    }
    REQUIRE((*log)->Segments().size() > 2);
    auto result = (*log)->Compact();
    REQUIRE(result.ok());
    CHECK(result->records_removed > 0);

    // Below the cleaned point every key appears at most once; a key last written there, once,
    // at its latest offset with its latest value (the active segment was not cleaned).
    std::map<std::string, int> below;
    int latest_checked = 0;
    for (const Found& f : ReadKeyed(**log)) {
      const auto& [offset, value] = latest.at(f.key);
      if (f.offset < result->cleaned_to) {
        CHECK(++below[f.key] == 1);
        if (offset < result->cleaned_to) {
          CHECK(f.offset == offset);
          CHECK(f.value == value);
          latest_checked += f.key[0] == 'k' ? 1 : 0;
        }
      }
    }
    CHECK(latest_checked == 8);
    for (const auto& [key, entry] : latest) {
      if (entry.first < result->cleaned_to) CHECK(below[key] == 1);
    }
    // Every compressed batch (offsets 0-299) that still holds records kept its codec.
    int compressed = 0;
    absl::StatusOr<ReadResult> read = (*log)->Read((*log)->start_offset(), size_t{1} << 20);
    REQUIRE(read.ok());
    for (const RecordBatchView& batch : *read) {
      if (batch.records_count() > 0 && batch.base_offset() < 300) {
        CHECK(batch.compression() == codec);
        ++compressed;
      }
    }
    CHECK(compressed > 0);
  }
}

TEST_CASE("A compressed batch the cleaner cannot open is copied as it is", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  LogOptions options = CompactedOptions(&clock);
  options.cleanup_policy = CleanupPolicy::kDelete;
  {
    // Written while the log had the delete policy: codec 5 (none this build knows), which only
    // a check of the header and CRC lets in.
    auto log = Log::Open(dir.path(), options);
    REQUIRE(log.ok());
    std::vector<std::byte> odd = KeyedBatch({{"odd", "1"}}, clock.NowMs());
    using namespace batch_layout;
    detail::StoreBig<uint16_t>(odd.data() + kAttributes, 5);
    detail::StoreBig<uint32_t>(odd.data() + kCrc,
                               Crc32c(odd.data() + kAttributes, odd.size() - kAttributes));
    REQUIRE((*log)->Append(odd, {.verify = Verify::kChecksum}).ok());
    AppendKeyed(**log, 200, 5, 40, clock.NowMs());
    REQUIRE((*log)->Close().ok());
  }
  options.cleanup_policy = CleanupPolicy::kCompact;
  auto log = Log::Open(dir.path(), options);
  REQUIRE(log.ok());
  auto result = (*log)->Compact();
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  CHECK(result->records_removed > 0);
  absl::StatusOr<ReadResult> read = (*log)->Read(0, 4096);
  REQUIRE(read.ok());
  REQUIRE(!read->empty());
  CHECK(static_cast<int>(read->batches()[0].compression()) == 5);
  CHECK(read->batches()[0].base_offset() == 0);
}

TEST_CASE("A compacted log checks the keys of compressed records too", "[compaction]") {
  if (!CompressionSupported(Compression::kLz4)) return;
  TempDir dir;
  ManualClock clock;
  auto log = Log::Open(dir.path(), CompactedOptions(&clock));
  REQUIRE(log.ok());
  RecordBatchBuilder builder({.compression = Compression::kLz4});
  builder.Append(clock.NowMs(), "key", "v");
  builder.Append(clock.NowMs(), std::nullopt, "no key");
  auto r = (*log)->Append(builder.Finish());
  CHECK(GetErrorCode(r.status()) == ErrorCode::kInvalidRecord);
  CHECK(r.status().message().find("key") != std::string_view::npos);
  CHECK((*log)->end_offset() == 0);
  REQUIRE((*log)
              ->Append(KeyedBatch({{"a", "1"}, {"b", std::nullopt}}, clock.NowMs(),
                                  {.compression = Compression::kLz4}))
              .ok());
}

TEST_CASE("A compacted log still checks compressed batches fully, decompressing them once",
          "[compaction]") {
  // Append decompresses a compressed batch once, for its keys, and lets that decompression do
  // Verify::kFull's record checks; the CRC is still checked on the bytes as sent.
  if (!CompressionSupported(Compression::kLz4)) return;
  using namespace batch_layout;
  TempDir dir;
  ManualClock clock;
  auto log = Log::Open(dir.path(), CompactedOptions(&clock));
  REQUIRE(log.ok());
  const std::vector<std::byte> good = KeyedBatch({{"a", "1"}, {"b", "2"}, {"c", "3"}},
                                                 clock.NowMs(), {.compression = Compression::kLz4});
  auto fix_crc = [](std::vector<std::byte>& b) {
    detail::StoreBig<uint32_t>(b.data() + kCrc,
                               Crc32c(b.data() + kAttributes, b.size() - kAttributes));
  };
  // More records claimed than the compressed section holds: only the record checks see it.
  std::vector<std::byte> lying = good;
  detail::StoreBig<int32_t>(lying.data() + kRecordsCount, 4);
  detail::StoreBig<int32_t>(lying.data() + kLastOffsetDelta, 3);
  fix_crc(lying);
  auto r = (*log)->Append(lying);
  CHECK(GetErrorCode(r.status()) == ErrorCode::kCorruptMessage);
  // The same, with a last offset delta that disagrees too: the record checks still come first
  // (kCorruptMessage, which Kafka clients retry, not kInvalidRecord), as on a delete-policy log.
  std::vector<std::byte> both = lying;
  detail::StoreBig<int32_t>(both.data() + kLastOffsetDelta, 2);
  fix_crc(both);
  CHECK(GetErrorCode((*log)->Append(both).status()) == ErrorCode::kCorruptMessage);
  {
    TempDir plain_dir;
    auto plain_log = Log::Open(plain_dir.path(), {.clock = &clock});
    REQUIRE(plain_log.ok());
    CHECK(GetErrorCode((*plain_log)->Append(both).status()) == ErrorCode::kCorruptMessage);
  }
  // A byte the CRC covers changed without a new CRC (the max timestamp's lowest): only the
  // checksum sees it.
  std::vector<std::byte> flipped = good;
  flipped[kMaxTimestamp + 7] ^= std::byte{0x01};
  r = (*log)->Append(flipped);
  CHECK(GetErrorCode(r.status()) == ErrorCode::kCorruptMessage);
  CHECK((*log)->end_offset() == 0);
  REQUIRE((*log)->Append(good).ok());
  CHECK((*log)->end_offset() == 3);
}

TEST_CASE("Compact on a delete-policy log fails clearly", "[compaction]") {
  TempDir dir;
  auto log = Log::Open(dir.path(), {.logger = [](LogLevel, std::string_view) {}});
  REQUIRE(log.ok());
  CHECK(absl::IsFailedPrecondition((*log)->Compact().status()));
}

TEST_CASE("A reader that started before compaction reads on consistently", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  auto log = Log::Open(dir.path(), CompactedOptions(&clock));
  REQUIRE(log.ok());
  AppendKeyed(**log, 300, 7, 50, clock.NowMs());
  auto first = (*log)->Read(0, 2048);
  REQUIRE(first.ok());
  std::vector<int64_t> offsets;
  for (const RecordBatchView& b : *first)
    for (const RecordView& r : b.records()) offsets.push_back(r.offset());
  REQUIRE((*log)->Compact().ok());
  // The batches read before still read (their segments stay mapped)...
  int64_t count = 0;
  for (const RecordBatchView& b : *first) {
    REQUIRE(RecordBatchView::Parse(b.bytes()).ok());
    for (const RecordView& r : b.records()) CHECK(r.offset() == offsets[count++]);
  }
  // ...and reading on from where the reader was gives increasing offsets, none repeated.
  int64_t offset = first->next_offset();
  int64_t previous = offsets.back();
  while (offset < (*log)->end_offset()) {
    auto read = (*log)->Read(offset, 4096);
    REQUIRE(read.ok());
    for (const RecordBatchView& b : *read) {
      for (const RecordView& r : b.records()) {
        if (r.offset() < offset) continue;
        CHECK(r.offset() > previous);
        previous = r.offset();
      }
    }
    offset = read->next_offset();
  }
}

TEST_CASE("CompactIfDue follows the dirty ratio", "[compaction]") {
  TempDir dir;
  ManualClock clock;
  LogOptions options = CompactedOptions(&clock);
  options.compaction.min_cleanable_dirty_ratio = 0.5;
  auto log = Log::Open(dir.path(), options);
  REQUIRE(log.ok());
  CompactionState empty = (*log)->compaction_state();
  CHECK_FALSE(empty.due);
  AppendKeyed(**log, 200, 5, 60, clock.NowMs());
  REQUIRE((*log)->Flush().ok());
  CompactionState before = (*log)->compaction_state();
  CHECK(before.due);
  CHECK(before.dirty_ratio == 1.0);
  auto pass = (*log)->CompactIfDue();
  REQUIRE(pass.ok());
  CHECK(pass->passes == 1);
  CompactionState after = (*log)->compaction_state();
  CHECK_FALSE(after.due);
  CHECK(after.dirty_bytes == 0);
  auto idle = (*log)->CompactIfDue();
  REQUIRE(idle.ok());
  CHECK(idle->passes == 0);
}

}  // namespace
}  // namespace brook

namespace brook {
namespace {

TEST_CASE("The I/O throttle holds a pass back", "[compaction]") {
  testing::TempDir dir;
  testing::ManualClock clock;
  LogOptions options = CompactedOptions(&clock);
  // About 40 KB to read and write at 100 KB/s: the pass must sleep for a good part of it.
  options.compaction.io_bytes_per_second = 100'000;
  auto log = Log::Open(dir.path(), options);
  REQUIRE(log.ok());
  AppendKeyed(**log, 300, 9, 60, clock.NowMs());
  auto result = (*log)->Compact();
  REQUIRE(result.ok());
  uint64_t io = result->bytes_read + result->bytes_written;
  INFO("bytes " << io);
  REQUIRE(io > 20'000);
  // The throttle slept (it sleeps once it is 5 ms ahead of the rate); without a limit it never
  // does. Sleeping is all this checks: how long the pass took is up to the machine.
  CHECK(result->throttled.count() > 0);
  options.compaction.io_bytes_per_second = 0;
  REQUIRE((*log)->Close().ok());
  log = Log::Open(dir.path(), options);
  REQUIRE(log.ok());
  AppendKeyed(**log, 300, 9, 60, clock.NowMs());
  auto unthrottled = (*log)->Compact();
  REQUIRE(unthrottled.ok());
  CHECK(unthrottled->throttled.count() == 0);
}

}  // namespace
}  // namespace brook

namespace brook {
namespace {

TEST_CASE("A truncation below the cleaner checkpoint makes what follows dirty again",
          "[compaction]") {
  testing::TempDir dir;
  testing::ManualClock clock;
  LogOptions options = CompactedOptions(&clock);
  options.compaction.delete_retention = std::chrono::milliseconds(0);
  auto log = Log::Open(dir.path(), options);
  REQUIRE(log.ok());
  auto fill = [&](int n, const std::string& prefix) {
    AppendKeyed(**log, n, 20, 80, clock.NowMs(), prefix);
  };
  fill(300, "a");
  auto first = (*log)->Compact();
  REQUIRE(first.ok());
  int64_t checkpoint = first->cleaned_to;
  REQUIRE(checkpoint > 100);
  // Cut below the checkpoint; write K=v, then delete K, then enough to roll both away.
  auto cut = (*log)->TruncateTo(checkpoint - 50);
  REQUIRE(cut.ok());
  CHECK((*log)->compaction_state().first_dirty_offset <= *cut);
  REQUIRE((*log)->Append(KeyedBatch({{"K", "alive"}}, clock.NowMs())).ok());
  REQUIRE((*log)->Append(KeyedBatch({{"K", std::nullopt}}, clock.NowMs())).ok());
  fill(300, "b");
  REQUIRE((*log)->Compact().ok());  // sets the tombstone's horizon (now + 0)
  REQUIRE((*log)->Compact().ok());  // drops it
  for (const Found& f : ReadKeyed(**log)) {
    CAPTURE(f.offset);
    CHECK(f.key != "K");  // neither the value nor the tombstone: the key stays deleted
  }
}

TEST_CASE("A truncation stops a running compaction pass", "[compaction][concurrency]") {
  testing::TempDir dir;
  testing::ManualClock clock;
  LogOptions options = CompactedOptions(&clock);
  options.compaction.io_bytes_per_second = 200'000;  // a pass of ~1 s
  auto log = Log::Open(dir.path(), options);
  REQUIRE(log.ok());
  AppendKeyed(**log, 2000, 50, 80, clock.NowMs());
  REQUIRE((*log)->Flush().ok());
  absl::Status compacted;
  int passes = -1;
  std::thread compactor([&] {
    auto r = (*log)->Compact();
    compacted = r.status();
    if (r.ok()) passes = r->passes;
  });
  // Wait until the pass has started (its output file appears), then cut into sealed segments.
  bool started = false;
  for (int i = 0; i < 3000 && !started; ++i) {
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      started = started || entry.path().string().ends_with(".cleaned");
    }
    if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  auto cut = (*log)->TruncateTo(700);
  compactor.join();
  REQUIRE(cut.ok());
  CHECK(compacted.ok());  // stopped, not failed
  CHECK(passes == 0);
  CHECK((*log)->end_offset() <= 700);
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    CHECK_FALSE(entry.path().string().ends_with(".cleaned"));
  }
  auto records = testing::ReadKeyed(**log);
  REQUIRE(records.ok());
  CHECK(static_cast<int64_t>(records->size()) == (*log)->end_offset());
  REQUIRE((*log)->Compact().ok());  // and compaction works afterwards
}

}  // namespace
}  // namespace brook
