// Helpers for tests that append and read records.
#ifndef BROOK_TESTS_SUPPORT_BATCHES_H_
#define BROOK_TESTS_SUPPORT_BATCHES_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "brook/compression.h"
#include "brook/log.h"
#include "brook/record_batch_builder.h"

namespace brook::testing {

// A finished batch of `values` (no keys), timestamps starting at `timestamp`.
inline std::vector<std::byte> MakeBatch(const std::vector<std::string>& values,
                                        int64_t timestamp = 1000) {
  RecordBatchBuilder builder;
  for (const std::string& v : values) builder.Append(timestamp++, std::nullopt, v);
  std::span<const std::byte> bytes = builder.Finish();
  return {bytes.begin(), bytes.end()};
}

struct ReadRecord {
  int64_t offset;
  int64_t timestamp;
  std::optional<std::string> key;
  std::string value;
};

// Calls fn(record) for every record of `batch`, decompressing it first if it is compressed.
template <typename Fn>
absl::Status ForEachRecordOf(const RecordBatchView& batch, Fn fn) {
  return VisitRecords(batch, kMaxDecompressedRecordsBytes, fn);
}

// Calls fn(record) for every record from `from` (-1: the start offset) to the end of the log,
// reading `max_bytes` at a time; returns the first read error.
template <typename Fn>
absl::Status ForEachRecord(const Log& log, int64_t from, size_t max_bytes, Fn fn) {
  int64_t offset = from < 0 ? log.start_offset() : from;
  while (offset < log.end_offset()) {
    absl::StatusOr<ReadResult> read = log.Read(offset, max_bytes);
    if (!read.ok()) return read.status();
    if (read->empty()) break;
    for (const RecordBatchView& batch : *read) {
      absl::Status s = ForEachRecordOf(batch, [&](const RecordView& r) {
        if (r.offset() >= offset) fn(r);
      });
      if (!s.ok()) return s;
    }
    offset = read->next_offset();
  }
  return absl::OkStatus();
}

// Every record from `from` to the end of the log, or the read error.
inline absl::StatusOr<std::vector<ReadRecord>> ReadAll(const Log& log, int64_t from = -1) {
  std::vector<ReadRecord> out;
  absl::Status s = ForEachRecord(log, from, size_t{256} << 10, [&](const RecordView& r) {
    out.push_back({r.offset(), r.timestamp(),
                   r.has_key() ? std::optional<std::string>(std::string(r.key())) : std::nullopt,
                   std::string(r.value())});
  });
  if (!s.ok()) return s;
  return out;
}

// A record of a compacted log: a key, and a value or a tombstone (nullopt).
struct KeyedRecord {
  int64_t offset = 0;
  std::string key;
  std::optional<std::string> value;
  bool operator==(const KeyedRecord&) const = default;
};

inline KeyedRecord ToKeyed(const RecordView& r) {
  return {r.offset(), std::string(r.key()),
          r.has_value() ? std::optional<std::string>(std::string(r.value())) : std::nullopt};
}

// Every record from `from` (-1: the start) to the end, read `max_bytes` at a time (small reads
// cross more batch and segment boundaries), or the read error.
inline absl::StatusOr<std::vector<KeyedRecord>> ReadKeyed(const Log& log, int64_t from = -1,
                                                          size_t max_bytes = 4096) {
  std::vector<KeyedRecord> out;
  absl::Status s =
      ForEachRecord(log, from, max_bytes, [&](const RecordView& r) { out.push_back(ToKeyed(r)); });
  if (!s.ok()) return s;
  return out;
}

// A Clock the test moves by hand.
class ManualClock final : public Clock {
 public:
  int64_t NowMs() override { return now_ms_.load(); }
  std::chrono::steady_clock::time_point Monotonic() override {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms_.load()));
  }
  void Advance(std::chrono::milliseconds d) { now_ms_ += d.count(); }
  void Set(int64_t ms) { now_ms_ = ms; }

 private:
  std::atomic<int64_t> now_ms_{1'700'000'000'000};
};

}  // namespace brook::testing

#endif  // BROOK_TESTS_SUPPORT_BATCHES_H_
