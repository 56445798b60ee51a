// `brook log ...`: info, dump, verify and read inspect a directory without changing it
// (LogInspector); append, compact and producers open it through the Log.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "brook/compression.h"
#include "brook/log.h"
#include "brook/record_batch_builder.h"
#include "cli/commands.h"
#include "cli/log_tail.h"
#include "cli/text.h"
#include "fmt/format.h"
#include "format/compression.h"
#include "storage/log_inspector.h"
#include "storage/segment.h"
#include "util/format.h"
#include "util/status_macros.h"

namespace brook::cli {
namespace {

using storage::LogInspector;
using storage::ScanResult;
using storage::ScanStop;

std::unique_ptr<LogInspector> OpenInspector(const std::string& dir) {
  absl::StatusOr<std::unique_ptr<LogInspector>> inspector = LogInspector::Open(dir);
  if (!inspector.ok()) {
    fmt::print(stderr, "brook: {}\n", inspector.status());
    return nullptr;
  }
  return std::move(*inspector);
}

// --from, or the log's start offset.
std::optional<int64_t> FromOffset(const Args& args, const LogInspector& log) {
  int64_t start = log.segments().empty() ? 0 : log.segments().front().base_offset;
  return IntOption(args, "from", "an offset", 0,
                   std::max(start, log.log_start_offset().value_or(0)));
}

// Opens `dir` for writing through the Log (taking its directory lock), without creating it.
std::unique_ptr<Log> OpenLog(const std::string& dir, LogOptions options) {
  options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<Log>> opened = Log::Open(dir, std::move(options));
  if (!opened.ok()) {
    fmt::print(stderr, "brook: {}\n", opened.status());
    return nullptr;
  }
  return std::move(*opened);
}

// --name=MS as milliseconds >= 0, `fallback` if absent, nullopt (after a message) if bad.
std::optional<std::chrono::milliseconds> Millis(const Args& args, const std::string& name,
                                                std::chrono::milliseconds fallback) {
  std::optional<int64_t> v = IntOption(args, name, "milliseconds", 0, fallback.count());
  if (!v) return std::nullopt;
  return std::chrono::milliseconds(*v);
}

void PrintRecord(const RecordView& r, std::string_view prefix) {
  fmt::print("{}offset: {} timestamp: {} keySize: {} valueSize: {} headers: {}", prefix, r.offset(),
             r.timestamp(), r.has_key() ? static_cast<int64_t>(r.key().size()) : -1,
             r.has_value() ? static_cast<int64_t>(r.value().size()) : -1, r.header_count());
  if (r.has_key()) fmt::print(" key: {}", Printable(r.key()));
  if (r.has_value()) fmt::print(" value: {}", Printable(r.value()));
  fmt::print("\n");
}

}  // namespace

int LogInfo(const Args& args) {
  std::unique_ptr<LogInspector> log = OpenInspector(args.positional[0]);
  if (!log) return 1;
  fmt::print("log {}\n", log->dir());
  if (log->clean_shutdown()) {
    fmt::print("clean shutdown: yes (end offset {})\n", *log->clean_end_offset());
  } else {
    fmt::print("clean shutdown: no (open in a process now, or it crashed: the next open scans)\n");
  }
  fmt::print("{:>20}  {:>20}  {:>12}  {:>7}  {:>7}  {:>14}  {}\n", "base offset", "next offset",
             "bytes", "index", "time", "max timestamp", "file");
  uint64_t total = 0;
  int64_t end = 0;
  for (size_t i = 0; i < log->segments().size(); ++i) {
    const storage::InspectedSegment& s = log->segments()[i];
    int64_t max_ts = -1;
    ScanResult scan =
        log->Scan(i, 0, s.base_offset, Verify::kHeader, [&](uint64_t, const RecordBatchView& b) {
          max_ts = std::max(max_ts, b.max_timestamp());
          return true;
        });
    auto index = log->OffsetIndex(i);
    auto time = log->TimeIndex(i);
    fmt::print("{:>20}  {:>20}  {:>12}  {:>7}  {:>7}  {:>14}  {}{}\n", s.base_offset,
               scan.next_offset, scan.position, index.ok() ? index->size() : 0,
               time.ok() ? time->size() : 0, max_ts, s.path,
               scan.stop == ScanStop::kTorn || scan.stop == ScanStop::kCorrupt
                   ? fmt::format("  (stops at byte {}: {})", scan.position, scan.problem)
                   : "");
    total += scan.position;
    end = scan.next_offset;
  }
  int64_t start = log->segments().empty() ? 0 : log->segments().front().base_offset;
  start = std::max(start, log->log_start_offset().value_or(0));
  fmt::print("segments: {}, {} bytes of batches\n", log->segments().size(), total);
  fmt::print("start offset: {}\nend offset: {}\n", start, end);
  if (log->clean_shutdown()) {
    fmt::print("flushed offset: {} (all)\n", end);
  } else {
    fmt::print(
        "flushed offset: at least {} (the last recovery point; the writer may have flushed "
        "more)\n",
        log->recovery_point().value_or(0));
  }
  return 0;
}

int LogDump(const Args& args) {
  std::unique_ptr<LogInspector> log = OpenInspector(args.positional[0]);
  if (!log) return 1;
  std::optional<int64_t> from = FromOffset(args, *log);
  if (!from) return 2;
  bool records = args.Has("records");
  if (log->segments().empty()) return 0;
  int status = 0;
  for (size_t i = SegmentFor(*log, *from); i < log->segments().size(); ++i) {
    const storage::InspectedSegment& s = log->segments()[i];
    fmt::print("segment {}\n", s.path);
    ScanResult scan = log->Scan(
        i, 0, s.base_offset, Verify::kHeader, [&](uint64_t position, const RecordBatchView& b) {
          if (b.last_offset() < *from) return true;
          fmt::print(
              "baseOffset: {} lastOffset: {} count: {} position: {} size: {} crc: {:08x} "
              "crcValid: {} magic: 2 compression: {} timestampType: {} isTransactional: {} "
              "isControl: {} baseTimestamp: {} maxTimestamp: {} producerId: {} producerEpoch: {} "
              "baseSequence: {} partitionLeaderEpoch: {}\n",
              b.base_offset(), b.last_offset(), b.records_count(), position, b.size_bytes(),
              b.crc(), b.crc_ok(), format::CompressionName(b.compression()),
              b.timestamp_type() == TimestampType::kCreateTime ? "CreateTime" : "LogAppendTime",
              b.is_transactional(), b.is_control(), b.base_timestamp(), b.max_timestamp(),
              b.producer_id(), b.producer_epoch(), b.base_sequence(), b.partition_leader_epoch());
          if (b.has_delete_horizon()) {
            // A compacted batch holding tombstones: they go after this time (BaseTimestamp).
            fmt::print("  deleteHorizonMs: {}\n", b.base_timestamp());
          }
          if (records) {
            absl::Status shown = VisitRecords(b, kMaxDecompressedRecordsBytes,
                                              [](const RecordView& r) { PrintRecord(r, "| "); });
            if (!shown.ok()) {
              fmt::print("| records not shown: {}\n", shown.message());
              status = 1;
            }
          }
          return true;
        });
    if (scan.stop == ScanStop::kTorn || scan.stop == ScanStop::kCorrupt) {
      fmt::print("stops at byte {}: {}\n", scan.position, scan.problem);
      status = 1;
    }
  }
  return status;
}

int LogVerify(const Args& args) {
  std::unique_ptr<LogInspector> log = OpenInspector(args.positional[0]);
  if (!log) return 1;
  bool progress = isatty(STDERR_FILENO) != 0;
  uint64_t total_bytes = 0, done_bytes = 0;
  for (const auto& s : log->segments()) total_bytes += s.file_size;
  int errors = 0, warnings = 0;
  int64_t batches = 0, records = 0;
  auto report = [&](bool error, const std::string& file, std::string message) {
    if (progress) fmt::print(stderr, "\r\033[K");
    fmt::print("{} {}: {}\n", error ? "ERROR" : "warning", file, message);
    (error ? errors : warnings)++;
  };
  int64_t expected = log->segments().empty() ? 0 : log->segments().front().base_offset;
  auto last_progress = std::chrono::steady_clock::now();
  for (size_t i = 0; i < log->segments().size(); ++i) {
    const storage::InspectedSegment& s = log->segments()[i];
    bool last = i + 1 == log->segments().size();
    if (s.base_offset < expected) {
      report(true, s.path,
             fmt::format("segment base offset {} overlaps the previous segment, which ends at {}",
                         s.base_offset, expected));
    }
    std::map<uint32_t, std::pair<int64_t, int64_t>> batch_at;  // position -> (last offset, max ts)
    ScanResult scan = log->Scan(
        i, 0, std::max(expected, s.base_offset), Verify::kFull,
        [&](uint64_t position, const RecordBatchView& b) {
          batch_at[static_cast<uint32_t>(position)] = {b.last_offset(), b.max_timestamp()};
          ++batches;
          records += b.records_count();
          if (progress) {
            auto now = std::chrono::steady_clock::now();
            if (now - last_progress > std::chrono::milliseconds(100)) {
              last_progress = now;
              double pct = total_bytes == 0 ? 100.0
                                            : 100.0 * static_cast<double>(done_bytes + position) /
                                                  static_cast<double>(total_bytes);
              fmt::print(stderr, "\rverifying segment {}/{} {:5.1f}%", i + 1,
                         log->segments().size(), pct);
            }
          }
          return true;
        });
    done_bytes += s.file_size;
    bool tail_expected = last && !log->clean_shutdown();
    if (scan.stop == ScanStop::kTorn || scan.stop == ScanStop::kCorrupt) {
      std::string what = fmt::format("byte {} (after offset {}): {}", scan.position,
                                     scan.next_offset - 1, scan.problem);
      if (tail_expected) {
        report(false, s.path, what + " — an unflushed tail; the next open cuts it off");
      } else {
        report(true, s.path, what);
      }
    } else if (scan.stop == ScanStop::kZeros && !last) {
      report(false, s.path,
             fmt::format("{} bytes of unused preallocated space after byte {} (not trimmed)",
                         s.file_size - scan.position, scan.position));
    }
    // Index entries must point at batch starts and name their batches' offsets and timestamps.
    auto index = log->OffsetIndex(i);
    if (!index.ok()) {
      report(!tail_expected, s.path, fmt::format("offset index unreadable: {}", index.status()));
    } else {
      int64_t previous = -1;
      for (const auto& [rel, position] : *index) {
        auto it = batch_at.find(position);
        if (tail_expected && position >= scan.position) break;  // stale entries of a live tail
        if (it == batch_at.end() || it->second.first != s.base_offset + rel ||
            static_cast<int64_t>(rel) <= previous) {
          report(true, s.path.substr(0, s.path.size() - 4) + ".index",
                 fmt::format("entry (offset {}, position {}) does not match a batch",
                             s.base_offset + rel, position));
          break;
        }
        previous = rel;
      }
    }
    auto time = log->TimeIndex(i);
    if (time.ok()) {
      std::map<int64_t, int64_t> max_ts_at;  // last offset -> batch max timestamp
      for (const auto& [pos, v] : batch_at) max_ts_at[v.first] = v.second;
      int64_t previous_ts = INT64_MIN;
      for (const auto& [ts, rel] : *time) {
        auto it = max_ts_at.find(s.base_offset + rel);
        if (tail_expected && (it == max_ts_at.end())) break;
        if (it == max_ts_at.end() || it->second != ts || ts < previous_ts) {
          report(true, s.path.substr(0, s.path.size() - 4) + ".timeindex",
                 fmt::format("entry (timestamp {}, offset {}) does not match a batch", ts,
                             s.base_offset + rel));
          break;
        }
        previous_ts = ts;
      }
    }
    expected = std::max(expected, scan.next_offset);
  }
  if (progress) fmt::print(stderr, "\r\033[K");
  fmt::print(
      "{}: {} segment(s), {} batch(es), {} record(s), offsets up to {}: {} error(s), {} "
      "warning(s)\n",
      log->dir(), log->segments().size(), batches, records, expected, errors, warnings);
  return errors > 0 ? 1 : 0;
}

int LogRead(const Args& args) {
  std::unique_ptr<LogInspector> log = OpenInspector(args.positional[0]);
  if (!log) return 1;
  std::optional<int64_t> from = FromOffset(args, *log);
  if (!from) return 2;
  bool follow = args.Has("follow");
  LogTail tail(std::move(log), *from);
  while (true) {
    absl::StatusOr<std::optional<TailProblem>> problem = tail.Read([](const RecordView& r) {
      fmt::print("{}\t{}\t{}\t{}\n", r.offset(), r.timestamp(), KeyField(r), ValueField(r));
      return true;
    });
    std::fflush(stdout);
    if (!problem.ok()) {
      fmt::print(stderr, "brook: {}\n", problem.status());
      return 1;
    }
    if (!follow) {
      if (!*problem) return 0;
      // The last segment of a log that was not closed cleanly may end in a batch a writer was
      // copying when it died (or is copying now): the next open cuts it off, as verify says.
      const TailProblem& p = **problem;
      fmt::print(stderr, "brook: {}{} byte {}: {}\n",
                 p.live_tail ? "note: unfinished tail of " : "", p.path, p.position, p.problem);
      return p.live_tail ? 0 : 1;
    }
    // A writer in another process: poll for new batches and segments.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (absl::Status s = tail.Refresh(); !s.ok()) {
      fmt::print(stderr, "brook: {}\n", s);
      return 1;
    }
  }
}

int LogAppend(const Args& args) {
  FlushPolicy policy = FlushPolicy::EveryAppend();
  std::string flush = args.Get("flush").value_or("every");
  auto number = [&](std::string_view prefix) -> std::optional<int64_t> {
    if (flush.rfind(prefix, 0) != 0) return std::nullopt;
    std::optional<int64_t> v = ParseInt(std::string_view(flush).substr(prefix.size()));
    return v && *v > 0 ? v : std::nullopt;
  };
  if (flush == "every") {
    policy = FlushPolicy::EveryAppend();
  } else if (flush == "os") {
    policy = FlushPolicy::OsOnly();
  } else if (auto n = number("records:")) {
    policy = FlushPolicy::EveryRecords(*n);
  } else if (auto b = number("bytes:")) {
    policy = FlushPolicy::EveryBytes(*b);
  } else if (auto ms = number("interval:")) {
    policy = FlushPolicy::Every(std::chrono::milliseconds(*ms));
  } else {
    fmt::print(stderr,
               "brook: --flush wants every, os, records:N, bytes:N or interval:MS; got '{}'\n",
               flush);
    return 2;
  }
  absl::StatusOr<std::unique_ptr<Log>> opened = Log::Open(args.positional[0], {.flush = policy});
  if (!opened.ok()) {
    fmt::print(stderr, "brook: {}\n", opened.status());
    return 1;
  }
  Log& log = **opened;
  int64_t acked = log.flushed_offset();  // offsets below this were printed (or predate us)
  int64_t first = log.end_offset();
  auto print_acks = [&] {
    int64_t flushed = log.flushed_offset();
    for (int64_t o = std::max(acked, first); o < flushed; ++o) fmt::print("acked {}\n", o);
    acked = std::max(acked, flushed);
    std::fflush(stdout);
  };

  constexpr size_t kMaxBatchRecords = 1000;
  constexpr size_t kMaxBatchBytes = 512 << 10;
  RecordBatchBuilder builder;
  // A line that cannot fit in a batch is refused as it arrives, not held whole.
  // (a batch header, and a record's framing: its length, attributes, deltas and sizes).
  constexpr size_t kBatchOverhead = batch_layout::kHeaderSize + 32;
  const size_t max_line_bytes = LogOptions{}.batch_bytes_max - kBatchOverhead;
  LineSplitter lines(max_line_bytes);
  FailedLines failed;  // a line too long is named and dropped; the others still go
  char chunk[64 << 10];
  auto append_lines = [&](std::string_view bytes, bool final) -> bool {
    builder.Reset();
    auto flush_batch = [&]() -> bool {
      if (builder.empty()) return true;
      absl::StatusOr<AppendResult> r = log.Append(builder.Finish());
      builder.Reset();
      if (!r.ok()) {
        fmt::print(stderr, "brook: {}\n", r.status());
        return false;
      }
      return true;
    };
    int64_t now = Clock::Real()->NowMs();
    bool ok = lines.Add(bytes, final, [&](const InputLine& line) {
      if (line.too_long) {
        failed.Add(line.number, fmt::format("longer than a record may be ({} bytes): not appended",
                                            max_line_bytes));
        return true;
      }
      // A long line goes in a batch of its own rather than past the batch size limit.
      if (!builder.empty() &&
          builder.size_bytes() + line.value.size() + line.key.value_or("").size() + kBatchOverhead >
              LogOptions{}.batch_bytes_max &&
          !flush_batch()) {
        return false;
      }
      builder.Append(now, line.key, line.value);
      return (builder.records_count() < static_cast<int32_t>(kMaxBatchRecords) &&
              builder.size_bytes() < kMaxBatchBytes) ||
             flush_batch();
    });
    return ok && flush_batch();
  };

  int timeout_ms = policy.interval.count() > 0
                       ? static_cast<int>(std::min<int64_t>(policy.interval.count(), INT_MAX))
                       : -1;
  while (true) {
    pollfd pfd{.fd = STDIN_FILENO, .events = POLLIN, .revents = 0};
    int ready = poll(&pfd, 1, timeout_ms);
    if (ready == 0) {
      if (absl::Status s = log.Tick(); !s.ok()) fmt::print(stderr, "brook: {}\n", s);
      print_acks();
      continue;
    }
    absl::StatusOr<size_t> n = ReadInput(STDIN_FILENO, chunk, sizeof(chunk), "stdin");
    if (!n.ok()) {
      fmt::print(stderr, "brook: {}\n", n.status().message());
      return 1;
    }
    if (*n == 0) break;
    if (!append_lines(std::string_view(chunk, *n), false)) return 1;
    print_acks();
  }
  if (!append_lines({}, true)) return 1;
  if (absl::Status s = log.Flush(); !s.ok()) {
    fmt::print(stderr, "brook: {}\n", s);
    return 1;
  }
  print_acks();
  if (absl::Status s = log.Close(); !s.ok()) {
    fmt::print(stderr, "brook: {}\n", s);
    return 1;
  }
  if (absl::Status s = failed.Summary("appended"); !s.ok()) {
    fmt::print(stderr, "brook: {}\n", s.message());
    return 1;
  }
  return 0;
}

int LogCompact(const Args& args) {
  CompactionOptions compaction;
  std::optional<std::chrono::milliseconds> retention =
      Millis(args, "delete-retention", compaction.delete_retention);
  if (!retention) return 2;
  std::optional<std::chrono::milliseconds> min_lag = Millis(args, "min-lag", compaction.min_lag);
  if (!min_lag) return 2;
  compaction.delete_retention = *retention;
  compaction.min_lag = *min_lag;
  std::unique_ptr<Log> log = OpenLog(
      args.positional[0], {.cleanup_policy = CleanupPolicy::kCompact, .compaction = compaction});
  if (!log) return 1;

  bool progress = isatty(STDOUT_FILENO) != 0;
  CompactOptions options;
  if (progress) {
    int pass = 0;
    bool pass_done = true;  // the next report starts a pass
    auto last_draw = std::chrono::steady_clock::time_point();
    options.progress = [&](uint64_t done, uint64_t total) {
      if (pass_done) ++pass;
      pass_done = done >= total;
      auto now = std::chrono::steady_clock::now();
      if (now - last_draw < std::chrono::milliseconds(100) && done < total) return;
      last_draw = now;
      constexpr int kWidth = 30;
      double fraction = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
      int filled = static_cast<int>(fraction * kWidth);
      fmt::print("\rcompacting pass {} [{}{}] {:5.1f}%", pass, std::string(filled, '#'),
                 std::string(kWidth - filled, '.'), 100.0 * fraction);
      std::fflush(stdout);
    };
  }
  absl::StatusOr<CompactionResult> result = log->Compact(options);
  if (progress) fmt::print("\r\033[K");
  if (!result.ok()) {
    fmt::print(stderr, "brook: {}\n", result.status());
    return 1;
  }
  fmt::print("compacted {}: {} pass(es)\n", log->dir(), result->passes);
  fmt::print("segments: {} -> {}\n", result->segments_before, result->segments_after);
  fmt::print("bytes read: {}, bytes written: {}\n", result->bytes_read, result->bytes_written);
  fmt::print("records removed: {} (tombstones removed: {})\n", result->records_removed,
             result->tombstones_removed);
  fmt::print("cleaned to offset: {} (end offset {})\n", result->cleaned_to, log->end_offset());
  if (result->passes == 0) {
    fmt::print(
        "nothing to compact: offsets from {} on are in the active segment, which is never "
        "compacted, or younger than --min-lag\n",
        log->compaction_state().first_uncleanable_offset);
  }
  if (absl::Status s = log->Close(); !s.ok()) {
    fmt::print(stderr, "brook: {}\n", s);
    return 1;
  }
  return 0;
}

int LogProducers(const Args& args) {
  std::unique_ptr<Log> log = OpenLog(args.positional[0], {});
  if (!log) return 1;
  std::vector<ProducerInfo> producers = log->Producers();
  fmt::print("{:>20}  {:>6}  {:>13}  {:>20}  {:>14}  {:>16}\n", "producer id", "epoch",
             "last sequence", "last offset", "last timestamp", "batches retained");
  for (const ProducerInfo& p : producers) {
    fmt::print("{:>20}  {:>6}  {:>13}  {:>20}  {:>14}  {:>16}\n", p.producer_id, p.epoch,
               p.last_sequence, p.last_offset, p.last_timestamp, p.batches_retained);
  }
  fmt::print("{} producer(s)\n", producers.size());
  if (absl::Status s = log->Close(); !s.ok()) {
    fmt::print(stderr, "brook: {}\n", s);
    return 1;
  }
  return 0;
}

}  // namespace brook::cli
