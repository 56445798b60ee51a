// Model-based test of compaction: random keyed appends and tombstones, compactions, clock moves
// and reopens (clean, or crashed with every append flushed), checked against the full history
// of what was appended.

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "brook/compression.h"
#include "brook/log.h"
#include "brook/record_batch_builder.h"
#include "fmt/format.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/fault_file_system.h"
#include "support/open_log.h"
#include "support/seed.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

struct Appended {
  std::string key;
  std::optional<std::string> value;  // nullopt: tombstone
  int64_t cleaned_ms = -1;           // when a compaction first covered it (-1: not yet)
};

using Seen = testing::KeyedRecord;

constexpr Compression kCodecs[] = {Compression::kNone,   Compression::kNone, Compression::kGzip,
                                   Compression::kSnappy, Compression::kLz4,  Compression::kZstd};

std::vector<Seen> ReadFrom(const Log& log, int64_t from, size_t max_bytes = 4096) {
  auto records = testing::ReadKeyed(log, from, max_bytes);
  INFO(records.status().ToString());
  REQUIRE(records.ok());
  return *records;
}

TEST_CASE("Compaction matches a model of Kafka's guarantees", "[property][compaction]") {
  uint64_t seed = testing::TestSeed();
  std::mt19937_64 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  constexpr auto kRetention = std::chrono::minutes(10);
  for (int run = 0; run < 4; ++run) {
    CAPTURE(run);
    testing::TempDir dir;
    testing::FaultFileSystem fs;
    testing::ManualClock clock;
    LogOptions options{
        .segment_bytes_max = static_cast<uint64_t>(pick(4096, 16 << 10)),
        .index_interval_bytes = static_cast<uint32_t>(pick(64, 2048)),
        .flush = FlushPolicy::EveryAppend(),
        .cleanup_policy = pick(0, 1) ? CleanupPolicy::kCompact : CleanupPolicy::kCompactAndDelete,
        .compaction = {.min_cleanable_dirty_ratio = 0.3,
                       .delete_retention = kRetention,
                       // Small maps force several passes.
                       .offset_map_bytes = static_cast<size_t>(pick(0, 1) ? 2048 : 1 << 20)},
        .file_system = &fs,
        .clock = &clock,
        .logger = [](LogLevel, std::string_view) {}};
    auto open = [&] { return testing::OpenLog(dir.path(), options); };
    std::unique_ptr<Log> log = open();
    std::vector<Appended> history;  // by offset (every record gets an offset)
    int keys = static_cast<int>(pick(3, 40));

    // What every read of the log must satisfy, at any time.
    auto check = [&](const std::vector<Seen>& seen) {
      REQUIRE(log->end_offset() == static_cast<int64_t>(history.size()));
      int64_t previous = -1;
      std::map<std::string, int64_t> latest;  // key -> offset of its last record in history
      for (size_t o = 0; o < history.size(); ++o) latest[history[o].key] = static_cast<int64_t>(o);
      std::map<std::string, bool> present;
      for (const Seen& s : seen) {
        CAPTURE(s.offset, s.key);
        REQUIRE(s.offset > previous);  // offsets only increase
        previous = s.offset;
        const Appended& a = history[static_cast<size_t>(s.offset)];
        REQUIRE(s.key == a.key);  // nothing invented, nothing moved
        REQUIRE(s.value == a.value);
        if (latest[s.key] == s.offset) present[s.key] = true;
      }
      // Every key's latest record survives; a latest tombstone may go only after its horizon.
      for (const auto& [key, offset] : latest) {
        CAPTURE(key, offset);
        const Appended& a = history[static_cast<size_t>(offset)];
        bool may_be_gone =
            !a.value && a.cleaned_ms >= 0 && clock.NowMs() >= a.cleaned_ms + kRetention.count();
        if (!may_be_gone && !present[key]) {
          std::string story;
          for (size_t o = 0; o < history.size(); ++o) {
            if (history[o].key == key) {
              story +=
                  fmt::format(" {}:{}{}", o, history[o].value ? "v" : "T", history[o].cleaned_ms);
            }
          }
          for (const Seen& s : seen) {
            if (s.key == key) story += fmt::format(" seen {}", s.offset);
          }
          for (const auto& seg : log->Segments()) {
            story += fmt::format(" seg[{},{})", seg.base_offset, seg.next_offset);
          }
          INFO(story);
          REQUIRE(present[key]);
        }
      }
    };

    // A compaction that reached `cleaned_to` started the delete horizon of every tombstone below.
    auto mark_cleaned = [&](int64_t cleaned_to) {
      for (size_t o = 0; o < history.size() && static_cast<int64_t>(o) < cleaned_to; ++o) {
        if (history[o].cleaned_ms < 0) history[o].cleaned_ms = clock.NowMs();
      }
    };

    for (int step = 0; step < 160; ++step) {
      CAPTURE(step);
      int op = static_cast<int>(pick(0, 99));
      if (op < 70) {
        // Some batches compressed, so the cleaner decompresses, rewrites and recompresses them.
        Compression codec =
            kCodecs[static_cast<size_t>(pick(0, static_cast<int64_t>(std::size(kCodecs)) - 1))];
        if (!CompressionSupported(codec)) codec = Compression::kNone;
        RecordBatchBuilder builder({.compression = codec});
        int n = static_cast<int>(pick(1, 6));
        std::vector<Appended> batch;
        for (int i = 0; i < n; ++i) {
          Appended a{.key = "key-" + std::to_string(pick(0, keys - 1))};
          if (pick(0, 9) > 1)
            a.value = "v" + std::to_string(step) + "-" + std::string(pick(0, 200), 'x');
          builder.Append(clock.NowMs(), a.key, a.value);
          batch.push_back(a);
        }
        auto r = log->Append(builder.Finish());
        INFO(r.status().ToString());
        REQUIRE(r.ok());
        REQUIRE(r->base_offset == static_cast<int64_t>(history.size()));
        history.insert(history.end(), batch.begin(), batch.end());
      } else if (op < 80) {
        // A reader that began before the compaction reads on consistently.
        int64_t from = pick(0, static_cast<int64_t>(history.size()));
        auto before = log->Read(std::max(from, log->start_offset()), 2048);
        REQUIRE(before.ok());
        auto held = [&] {
          std::vector<Seen> out;
          for (const RecordBatchView& b : *before) {
            REQUIRE(testing::ForEachRecordOf(b, [&](const RecordView& r) {
                      out.push_back(testing::ToKeyed(r));
                    }).ok());
          }
          return out;
        };
        std::vector<Seen> first = held();
        auto result = pick(0, 1) ? log->Compact() : log->CompactIfDue();
        INFO(result.status().ToString());
        REQUIRE(result.ok());
        mark_cleaned(result->cleaned_to);
        REQUIRE(held() == first);  // held views are untouched
        std::vector<Seen> rest = ReadFrom(*log, before->next_offset());
        if (!first.empty() && !rest.empty()) REQUIRE(rest.front().offset > first.back().offset);
        // After a pass, below cleaned_to each key appears at most once.
        std::map<std::string, int> below;
        for (const Seen& s : ReadFrom(*log, log->start_offset())) {
          if (s.offset < result->cleaned_to) REQUIRE(++below[s.key] == 1);
        }
      } else if (op < 88) {
        clock.Advance(std::chrono::minutes(pick(1, 8)));
      } else if (op < 94) {
        REQUIRE(log->Close().ok());
        log = open();
      } else {
        std::vector<Seen> before = ReadFrom(*log, log->start_offset());
        fs.SimulateCrash();
        log.reset();
        fs.Restart();
        log = open();
        // Every append was flushed and every compaction finished: nothing changes.
        REQUIRE(ReadFrom(*log, log->start_offset()) == before);
      }
      check(ReadFrom(*log, log->start_offset()));
    }
    // In the end every tombstone goes once its horizon has passed: roll the active segment
    // away, compact (horizons start), wait them out, compact again.
    size_t segments = log->Segments().size();
    while (log->Segments().size() == segments) {
      RecordBatchBuilder builder;
      builder.Append(clock.NowMs(), "filler", std::string(500, 'f'));
      REQUIRE(log->Append(builder.Finish()).ok());
      history.push_back({.key = "filler", .value = std::string(500, 'f')});
    }
    auto first = log->Compact();
    REQUIRE(first.ok());
    mark_cleaned(first->cleaned_to);
    clock.Advance(kRetention);
    auto last = log->Compact();
    REQUIRE(last.ok());
    std::map<std::string, int64_t> latest;
    for (size_t o = 0; o < history.size(); ++o) latest[history[o].key] = static_cast<int64_t>(o);
    std::vector<Seen> seen = ReadFrom(*log, log->start_offset());
    check(seen);
    for (const auto& [name, offset] : latest) {
      if (history[static_cast<size_t>(offset)].value || offset >= last->cleaned_to) continue;
      const std::string& key = name;  // lambdas cannot capture structured bindings in C++20
      CAPTURE(key, offset);
      REQUIRE(std::none_of(seen.begin(), seen.end(), [&](const Seen& s) { return s.key == key; }));
    }
  }
}

}  // namespace
}  // namespace brook
