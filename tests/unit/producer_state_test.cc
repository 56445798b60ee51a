// Idempotent producers: the append checks a Kafka partition leader makes (sequences, epochs,
// duplicates of the last five batches), producer ids, fencing, and the state's survival across
// Close/reopen, damaged snapshots, truncation, retention and expiry — all through the public
// Log API. Then the snapshot encoding itself (storage::ProducerStateMap).

#include "storage/producer_state.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "brook/crc32c.h"
#include "brook/detail/endian.h"
#include "brook/log.h"
#include "brook/record_batch_builder.h"
#include "brook/status.h"
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

constexpr int32_t kMaxSeq = std::numeric_limits<int32_t>::max();

int64_t RealNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A batch of `records` records (about 330 bytes each) from producer `id` at `epoch`, sequences
// from `seq`. Timestamps default to now: a producer whose last batch is older than
// producer_id_expiration (24 hours by default) is forgotten when the log is opened.
std::vector<std::byte> PBatch(int64_t id, int16_t epoch, int32_t seq, int records = 1,
                              int64_t timestamp = -1) {
  if (timestamp < 0) timestamp = RealNowMs();
  RecordBatchBuilder builder({.producer_id = id, .producer_epoch = epoch, .base_sequence = seq});
  for (int i = 0; i < records; ++i) {
    builder.Append(timestamp + i, std::nullopt,
                   "p" + std::to_string(id) + "e" + std::to_string(epoch) + "s" +
                       std::to_string(seq) + "+" + std::to_string(i) + std::string(300, '.'));
  }
  std::span<const std::byte> bytes = builder.Finish();
  return {bytes.begin(), bytes.end()};
}

LogOptions Quiet(LogOptions options = {}) {
  options.logger = [](LogLevel, std::string_view) {};
  return options;
}

std::unique_ptr<Log> OpenLog(const std::string& dir, LogOptions options = {}) {
  return testing::OpenLog(dir, Quiet(std::move(options)));
}

AppendResult MustAppend(Log& log, std::span<const std::byte> batch) {
  absl::StatusOr<AppendResult> r = log.Append(batch);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
  return *r;
}

ErrorCode AppendError(Log& log, std::span<const std::byte> batch) {
  int64_t end = log.end_offset();
  absl::StatusOr<AppendResult> r = log.Append(batch);
  REQUIRE_FALSE(r.ok());
  REQUIRE(log.end_offset() == end);  // a refused batch writes nothing
  return GetErrorCode(r.status());
}

std::optional<ProducerInfo> FindProducer(const Log& log, int64_t id) {
  for (const ProducerInfo& p : log.Producers()) {
    if (p.producer_id == id) return p;
  }
  return std::nullopt;
}

// Appends `n` batches of 1..3 records from `id` at `epoch`, sequences from `*seq`; returns their
// results and sequence ranges.
struct Sent {
  std::vector<std::byte> bytes;
  AppendResult result;
};
std::vector<Sent> AppendMany(Log& log, int64_t id, int16_t epoch, int32_t* seq, int n) {
  std::vector<Sent> sent;
  for (int i = 0; i < n; ++i) {
    int records = 1 + i % 3;
    Sent s{PBatch(id, epoch, *seq, records), {}};
    s.result = MustAppend(log, s.bytes);
    REQUIRE_FALSE(s.result.duplicate);
    *seq += records;
    sent.push_back(std::move(s));
  }
  return sent;
}

// Retries each of `sent`: the last five must be duplicates with their original offsets, older
// ones out of order; nothing is written.
void CheckRetries(Log& log, const std::vector<Sent>& sent) {
  int64_t end = log.end_offset();
  for (size_t i = 0; i < sent.size(); ++i) {
    CAPTURE(i, sent.size());
    bool retained = sent.size() - i <= static_cast<size_t>(storage::kProducerBatchesRetained);
    if (retained) {
      AppendResult r = MustAppend(log, sent[i].bytes);
      REQUIRE(r.duplicate);
      REQUIRE(r.base_offset == sent[i].result.base_offset);
      REQUIRE(r.last_offset == sent[i].result.last_offset);
    } else {
      REQUIRE(AppendError(log, sent[i].bytes) == ErrorCode::kOutOfOrderSequenceNumber);
    }
    REQUIRE(log.end_offset() == end);
  }
}

// --- the append rules -----------------------------------------------------------------------

TEST_CASE("Producer batches in sequence are appended", "[producer]") {
  TempDir dir;
  auto log = OpenLog(dir.path());
  auto id = log->InitProducer();
  REQUIRE(id.ok());
  REQUIRE(id->epoch == 0);
  int32_t seq = 0;
  std::vector<Sent> sent = AppendMany(*log, id->producer_id, 0, &seq, 4);
  int64_t offset = 0;
  for (const Sent& s : sent) {
    REQUIRE(s.result.base_offset == offset);
    offset = s.result.last_offset + 1;
  }
  REQUIRE(log->end_offset() == offset);
  auto info = FindProducer(*log, id->producer_id);
  REQUIRE(info);
  REQUIRE(info->epoch == 0);
  REQUIRE(info->last_sequence == seq - 1);
  REQUIRE(info->last_offset == offset - 1);
  REQUIRE(info->batches_retained == 4);
  // Batches without a producer id are never checked, in between too.
  REQUIRE_FALSE(MustAppend(*log, testing::MakeBatch({"plain"})).duplicate);
  REQUIRE_FALSE(MustAppend(*log, PBatch(id->producer_id, 0, seq, 2)).duplicate);
}

TEST_CASE("A retry of one of the last five batches is a duplicate, an older one out of order",
          "[producer]") {
  TempDir dir;
  auto log = OpenLog(dir.path());
  auto id = log->InitProducer();
  REQUIRE(id.ok());
  int32_t seq = 0;
  std::vector<Sent> sent = AppendMany(*log, id->producer_id, 0, &seq, 8);
  CheckRetries(*log, sent);
  // A batch overlapping a retained one without matching its range exactly is out of order.
  REQUIRE(AppendError(*log, PBatch(id->producer_id, 0, seq - 1, 1)) ==
          ErrorCode::kOutOfOrderSequenceNumber);
  // The sequence goes on where it was.
  REQUIRE_FALSE(MustAppend(*log, PBatch(id->producer_id, 0, seq, 1)).duplicate);
  // Only the producer's own batches match: same sequences from another producer are new.
  auto other = log->InitProducer();
  REQUIRE(other.ok());
  REQUIRE_FALSE(MustAppend(*log, PBatch(other->producer_id, 0, 0, 1)).duplicate);
  REQUIRE_FALSE(MustAppend(*log, PBatch(other->producer_id, 0, 1, 2)).duplicate);
  // The records of the log are each batch once.
  auto records = testing::ReadAll(*log);
  REQUIRE(records.ok());
  REQUIRE(static_cast<int64_t>(records->size()) == log->end_offset());
}

TEST_CASE("A sequence gap is out of order", "[producer]") {
  TempDir dir;
  auto log = OpenLog(dir.path());
  auto id = log->InitProducer();
  REQUIRE(id.ok());
  int64_t pid = id->producer_id;
  // A fresh producer starts at 0.
  REQUIRE(AppendError(*log, PBatch(pid, 0, 1)) == ErrorCode::kOutOfOrderSequenceNumber);
  MustAppend(*log, PBatch(pid, 0, 0, 3));  // 0..2
  REQUIRE(AppendError(*log, PBatch(pid, 0, 4)) == ErrorCode::kOutOfOrderSequenceNumber);
  REQUIRE(AppendError(*log, PBatch(pid, 0, kMaxSeq)) == ErrorCode::kOutOfOrderSequenceNumber);
  REQUIRE(AppendError(*log, PBatch(pid, 0, 0, 2)) == ErrorCode::kOutOfOrderSequenceNumber);
  MustAppend(*log, PBatch(pid, 0, 3));
  // Negative sequences and epochs are malformed, not out of order.
  {
    absl::StatusOr<AppendResult> r = log->Append(PBatch(pid, 0, -5));
    REQUIRE_FALSE(r.ok());
    REQUIRE(GetErrorCode(r.status()) == ErrorCode::kInvalidRecord);
  }
}

TEST_CASE("An older epoch is fenced and a new epoch starts at sequence 0", "[producer]") {
  TempDir dir;
  auto log = OpenLog(dir.path());
  auto id = log->InitProducer();
  REQUIRE(id.ok());
  int64_t pid = id->producer_id;
  int32_t seq = 0;
  std::vector<Sent> sent = AppendMany(*log, pid, 0, &seq, 3);

  SECTION("a batch with a higher epoch begins it, at 0 only") {
    REQUIRE(AppendError(*log, PBatch(pid, 1, seq)) == ErrorCode::kOutOfOrderSequenceNumber);
    REQUIRE(AppendError(*log, PBatch(pid, 1, 1)) == ErrorCode::kOutOfOrderSequenceNumber);
    REQUIRE_FALSE(MustAppend(*log, PBatch(pid, 1, 0, 2)).duplicate);
    REQUIRE(FindProducer(*log, pid)->epoch == 1);
    REQUIRE(FindProducer(*log, pid)->batches_retained == 1);
    // Old epoch: fenced, retries of its batches included.
    REQUIRE(AppendError(*log, PBatch(pid, 0, seq)) == ErrorCode::kInvalidProducerEpoch);
    REQUIRE(AppendError(*log, sent.back().bytes) == ErrorCode::kInvalidProducerEpoch);
    // The sequences of epoch 1 go on from its own batch.
    REQUIRE_FALSE(MustAppend(*log, PBatch(pid, 1, 2)).duplicate);
    REQUIRE(MustAppend(*log, PBatch(pid, 1, 0, 2)).duplicate);
    // Skipping epochs is allowed (at sequence 0).
    REQUIRE_FALSE(MustAppend(*log, PBatch(pid, 5, 0)).duplicate);
    REQUIRE(AppendError(*log, PBatch(pid, 4, 0)) == ErrorCode::kInvalidProducerEpoch);
  }
  SECTION("InitProducer(previous) bumps the epoch and fences the old one") {
    auto next = log->InitProducer(*id);
    REQUIRE(next.ok());
    REQUIRE(next->producer_id == pid);
    REQUIRE(next->epoch == 1);
    auto info = FindProducer(*log, pid);
    REQUIRE(info);
    REQUIRE(info->epoch == 1);
    REQUIRE(info->last_sequence == kNoSequence);
    REQUIRE(info->batches_retained == 0);
    REQUIRE(AppendError(*log, PBatch(pid, 0, seq)) == ErrorCode::kInvalidProducerEpoch);
    REQUIRE(AppendError(*log, sent.back().bytes) == ErrorCode::kInvalidProducerEpoch);
    // The new epoch starts at 0.
    REQUIRE(AppendError(*log, PBatch(pid, 1, seq)) == ErrorCode::kOutOfOrderSequenceNumber);
    REQUIRE(AppendError(*log, PBatch(pid, 1, 1)) == ErrorCode::kOutOfOrderSequenceNumber);
    REQUIRE_FALSE(MustAppend(*log, PBatch(pid, 1, 0)).duplicate);

    // The old identity again: fenced.
    auto zombie = log->InitProducer(*id);
    REQUIRE_FALSE(zombie.ok());
    REQUIRE(GetErrorCode(zombie.status()) == ErrorCode::kProducerFenced);
    // The current one bumps again.
    auto third = log->InitProducer(*next);
    REQUIRE(third.ok());
    REQUIRE(third->producer_id == pid);
    REQUIRE(third->epoch == 2);
    REQUIRE(GetErrorCode(log->InitProducer(*next).status()) == ErrorCode::kProducerFenced);
    REQUIRE(AppendError(*log, PBatch(pid, 1, 1)) == ErrorCode::kInvalidProducerEpoch);
  }
  SECTION("an identity InitProducer never returned is refused") {
    auto bad = log->InitProducer(ProducerIdentity{.producer_id = -3, .epoch = 0});
    REQUIRE_FALSE(bad.ok());
    REQUIRE(absl::IsInvalidArgument(bad.status()));
  }
}

TEST_CASE("InitProducer past epoch 32767 hands out a new id", "[producer]") {
  TempDir dir;
  auto log = OpenLog(dir.path());
  auto id = log->InitProducer();
  REQUIRE(id.ok());
  int64_t pid = id->producer_id;
  constexpr int16_t kMaxEpoch = std::numeric_limits<int16_t>::max();
  // The producer reaches epoch 32767 by writing at it (a new epoch, at sequence 0).
  MustAppend(*log, PBatch(pid, kMaxEpoch - 1, 0));
  auto last = log->InitProducer(ProducerIdentity{.producer_id = pid, .epoch = kMaxEpoch - 1});
  REQUIRE(last.ok());
  REQUIRE(last->producer_id == pid);
  REQUIRE(last->epoch == kMaxEpoch);
  MustAppend(*log, PBatch(pid, kMaxEpoch, 0));
  auto fresh = log->InitProducer(*last);
  REQUIRE(fresh.ok());
  REQUIRE(fresh->producer_id != pid);
  REQUIRE(fresh->producer_id > pid);
  REQUIRE(fresh->epoch == 0);
  MustAppend(*log, PBatch(fresh->producer_id, 0, 0));
  // The exhausted id stays at its last epoch.
  REQUIRE(FindProducer(*log, pid)->epoch == kMaxEpoch);
  REQUIRE(AppendError(*log, PBatch(fresh->producer_id, 0, 5)) ==
          ErrorCode::kOutOfOrderSequenceNumber);
}

TEST_CASE("An unknown producer is accepted at any sequence", "[producer]") {
  TempDir dir;
  auto log = OpenLog(dir.path());
  // An id the log never handed out (a producer whose state was lost elsewhere).
  constexpr int64_t kId = 987'654'321;
  REQUIRE_FALSE(FindProducer(*log, kId));
  AppendResult first = MustAppend(*log, PBatch(kId, 7, 1234, 2));
  REQUIRE_FALSE(first.duplicate);
  auto info = FindProducer(*log, kId);
  REQUIRE(info);
  REQUIRE(info->epoch == 7);
  REQUIRE(info->last_sequence == 1235);
  // From now on it is known.
  REQUIRE(AppendError(*log, PBatch(kId, 7, 1237)) == ErrorCode::kOutOfOrderSequenceNumber);
  REQUIRE(AppendError(*log, PBatch(kId, 6, 1236)) == ErrorCode::kInvalidProducerEpoch);
  AppendResult dup = MustAppend(*log, PBatch(kId, 7, 1234, 2));
  REQUIRE(dup.duplicate);
  REQUIRE(dup.base_offset == first.base_offset);
  MustAppend(*log, PBatch(kId, 7, 1236));
}

TEST_CASE("Sequences wrap from INT32_MAX to 0", "[producer]") {
  TempDir dir;
  auto log = OpenLog(dir.path());
  constexpr int64_t kId = 555;
  // Ends exactly at INT32_MAX: the next batch starts at 0.
  MustAppend(*log, PBatch(kId, 0, kMaxSeq - 2, 3));
  REQUIRE(FindProducer(*log, kId)->last_sequence == kMaxSeq);
  REQUIRE(AppendError(*log, PBatch(kId, 0, 1)) == ErrorCode::kOutOfOrderSequenceNumber);
  MustAppend(*log, PBatch(kId, 0, 0, 2));  // 0..1
  REQUIRE(FindProducer(*log, kId)->last_sequence == 1);

  // A batch that wraps inside itself: INT32_MAX - 1, INT32_MAX, 0, 1.
  constexpr int64_t kOther = 556;
  std::vector<std::byte> wrapping = PBatch(kOther, 3, kMaxSeq - 1, 4);
  AppendResult r = MustAppend(*log, wrapping);
  REQUIRE(FindProducer(*log, kOther)->last_sequence == 1);
  AppendResult dup = MustAppend(*log, wrapping);
  REQUIRE(dup.duplicate);
  REQUIRE(dup.base_offset == r.base_offset);
  REQUIRE(dup.last_offset == r.last_offset);
  REQUIRE(AppendError(*log, PBatch(kOther, 3, 0)) == ErrorCode::kOutOfOrderSequenceNumber);
  MustAppend(*log, PBatch(kOther, 3, 2));
  // And it is still recognised after a reopen (snapshot and replay keep the wrapped range).
  REQUIRE(log->Close().ok());
  log = OpenLog(dir.path());
  dup = MustAppend(*log, wrapping);
  REQUIRE(dup.duplicate);
  REQUIRE(dup.base_offset == r.base_offset);
}

// --- producer ids ---------------------------------------------------------------------------

TEST_CASE("InitProducer ids are distinct and never repeat across reopens", "[producer]") {
  TempDir dir;
  std::set<int64_t> seen;
  int64_t max_id = -1;
  for (int round = 0; round < 3; ++round) {
    auto log = OpenLog(dir.path());
    for (int i = 0; i < 10; ++i) {
      auto id = log->InitProducer();
      REQUIRE(id.ok());
      REQUIRE(id->epoch == 0);
      REQUIRE(id->producer_id >= 0);
      REQUIRE(seen.insert(id->producer_id).second);
      REQUIRE(id->producer_id > max_id);
      max_id = id->producer_id;
    }
    if (round == 1) {
      log.reset();  // the destructor closes too
    } else {
      REQUIRE(log->Close().ok());
    }
  }
}

TEST_CASE("InitProducer ids never repeat across a crash", "[producer]") {
  TempDir dir;
  FaultFileSystem fs;
  int64_t max_id = -1;
  for (int round = 0; round < 4; ++round) {
    CAPTURE(round);
    {
      auto log = OpenLog(dir.path(), {.segment_bytes_max = 64 << 10, .file_system = &fs});
      for (int i = 0; i < 3 + round; ++i) {
        auto id = log->InitProducer();
        REQUIRE(id.ok());
        REQUIRE(id->producer_id > max_id);
        max_id = id->producer_id;
        if (i == 1) MustAppend(*log, PBatch(id->producer_id, 0, 0));
      }
      fs.SimulateCrash();
    }
    fs.Restart();
  }
  // With a torn crash too.
  std::mt19937_64 rng(7);
  {
    auto log = OpenLog(dir.path(), {.segment_bytes_max = 64 << 10, .file_system = &fs});
    auto id = log->InitProducer();
    REQUIRE(id.ok());
    REQUIRE(id->producer_id > max_id);
    max_id = id->producer_id;
    fs.SimulateCrash(&rng);
  }
  fs.Restart();
  auto log = OpenLog(dir.path(), {.segment_bytes_max = 64 << 10, .file_system = &fs});
  auto id = log->InitProducer();
  REQUIRE(id.ok());
  REQUIRE(id->producer_id > max_id);
}

// --- persistence ----------------------------------------------------------------------------

TEST_CASE("Producer state survives Close and reopen", "[producer]") {
  TempDir dir;
  // Small segments: the state comes from a roll snapshot or the Close snapshot plus the log.
  LogOptions options{.segment_bytes_max = 4096, .index_bytes_max = 1024};
  auto log = OpenLog(dir.path(), options);
  auto a = log->InitProducer();
  auto b = log->InitProducer();
  REQUIRE((a.ok() && b.ok()));
  int32_t seq_a = 0;
  int32_t seq_b = 0;
  std::vector<Sent> sent_a = AppendMany(*log, a->producer_id, 0, &seq_a, 9);
  std::vector<Sent> sent_b = AppendMany(*log, b->producer_id, 0, &seq_b, 3);
  // A bumped epoch with nothing written yet is part of the state too.
  auto c = log->InitProducer();
  REQUIRE(c.ok());
  auto c1 = log->InitProducer(*c);
  REQUIRE(c1.ok());
  std::vector<ProducerInfo> before = log->Producers();
  REQUIRE(log->Segments().size() > 2);

  bool destroy = GENERATE(false, true);
  if (destroy) {
    log.reset();
  } else {
    REQUIRE(log->Close().ok());
  }
  log = OpenLog(dir.path(), options);
  REQUIRE(log->recovery_summary().clean_shutdown);
  std::vector<ProducerInfo> after = log->Producers();
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    CAPTURE(i);
    REQUIRE(after[i].producer_id == before[i].producer_id);
    REQUIRE(after[i].epoch == before[i].epoch);
    REQUIRE(after[i].last_sequence == before[i].last_sequence);
    REQUIRE(after[i].last_offset == before[i].last_offset);
    REQUIRE(after[i].last_timestamp == before[i].last_timestamp);
    REQUIRE(after[i].batches_retained == before[i].batches_retained);
  }
  CheckRetries(*log, sent_a);
  CheckRetries(*log, sent_b);
  REQUIRE(GetErrorCode(log->InitProducer(*c).status()) == ErrorCode::kProducerFenced);
  REQUIRE(AppendError(*log, PBatch(c->producer_id, 0, 0)) == ErrorCode::kInvalidProducerEpoch);
  REQUIRE(AppendError(*log, PBatch(c->producer_id, 1, 3)) == ErrorCode::kOutOfOrderSequenceNumber);
  MustAppend(*log, PBatch(c->producer_id, 1, 0));
  MustAppend(*log, PBatch(a->producer_id, 0, seq_a));
  // New ids are new.
  auto d = log->InitProducer();
  REQUIRE(d.ok());
  REQUIRE(d->producer_id > c->producer_id);
}

std::vector<std::filesystem::path> SnapshotFiles(const std::string& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".snapshot") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void FlipByte(const std::filesystem::path& path, uint64_t at) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekg(static_cast<std::streamoff>(at));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(static_cast<char>(c ^ 0x5a));
  REQUIRE(f.good());
}

TEST_CASE("A damaged snapshot is skipped and the state rebuilt from the log", "[producer]") {
  TempDir dir;
  bool small_segments = GENERATE(false, true);
  CAPTURE(small_segments);
  LogOptions options;
  if (small_segments) options = {.segment_bytes_max = 4096, .index_bytes_max = 1024};
  auto log = OpenLog(dir.path(), options);
  auto a = log->InitProducer();
  auto b = log->InitProducer();
  REQUIRE((a.ok() && b.ok()));
  int32_t seq_a = 0;
  int32_t seq_b = 0;
  std::vector<Sent> sent_a;
  std::vector<Sent> sent_b;
  for (int i = 0; i < 6; ++i) {
    for (Sent& s : AppendMany(*log, a->producer_id, 0, &seq_a, 2)) sent_a.push_back(std::move(s));
    for (Sent& s : AppendMany(*log, b->producer_id, 0, &seq_b, 1)) sent_b.push_back(std::move(s));
  }
  std::vector<ProducerInfo> before = log->Producers();
  REQUIRE(log->Close().ok());
  std::vector<std::filesystem::path> snapshots = SnapshotFiles(dir.path());
  REQUIRE_FALSE(snapshots.empty());
  std::filesystem::path newest = snapshots.back();
  uint64_t size = std::filesystem::file_size(newest);
  // Anywhere: the header, the count, a producer.
  uint64_t at = GENERATE(0u, 3u, 8u, 15u, 20u, 40u);
  CAPTURE(at);
  REQUIRE(at < size);
  FlipByte(newest, at);

  std::vector<std::string> warnings;
  options.logger = [&](LogLevel level, std::string_view message) {
    if (level != LogLevel::kInfo) warnings.emplace_back(message);
  };
  auto reopened = Log::Open(dir.path(), options);
  REQUIRE(reopened.ok());
  log = std::move(*reopened);
  REQUIRE(std::any_of(warnings.begin(), warnings.end(), [](const std::string& w) {
    return w.find("snapshot") != std::string::npos;
  }));
  std::vector<ProducerInfo> after = log->Producers();
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    REQUIRE(after[i].producer_id == before[i].producer_id);
    REQUIRE(after[i].epoch == before[i].epoch);
    REQUIRE(after[i].last_sequence == before[i].last_sequence);
    REQUIRE(after[i].last_offset == before[i].last_offset);
    REQUIRE(after[i].batches_retained == before[i].batches_retained);
  }
  CheckRetries(*log, sent_a);
  CheckRetries(*log, sent_b);
  MustAppend(*log, PBatch(a->producer_id, 0, seq_a));
  // The damaged file is not left behind to be tried again with the same outcome.
  REQUIRE(log->Close().ok());
  log = OpenLog(dir.path(), options);
  REQUIRE(FindProducer(*log, a->producer_id)->last_sequence == seq_a);
}

TEST_CASE("TruncateTo forgets the producer batches after the cut", "[producer]") {
  TempDir dir;
  bool small_segments = GENERATE(false, true);
  CAPTURE(small_segments);
  LogOptions options;
  if (small_segments) options = {.segment_bytes_max = 4096, .index_bytes_max = 1024};
  auto log = OpenLog(dir.path(), options);
  auto a = log->InitProducer();
  REQUIRE(a.ok());
  int64_t pid = a->producer_id;
  int32_t seq = 0;
  std::vector<Sent> sent = AppendMany(*log, pid, 0, &seq, 12);
  // Another producer whose batches all lie after the cut.
  auto b = log->InitProducer();
  REQUIRE(b.ok());
  MustAppend(*log, PBatch(b->producer_id, 0, 0, 2));
  // Close and reopen first in one variant, so a synced snapshot past the cut exists.
  if (GENERATE(false, true)) {
    REQUIRE(log->Close().ok());
    log = OpenLog(dir.path(), options);
  }

  size_t cut = 9;  // batches [cut, 12) go
  auto truncated = log->TruncateTo(sent[cut].result.base_offset);
  REQUIRE(truncated.ok());
  REQUIRE(*truncated == sent[cut].result.base_offset);
  auto info = FindProducer(*log, pid);
  REQUIRE(info);
  REQUIRE(info->last_offset == sent[cut - 1].result.last_offset);
  REQUIRE(info->batches_retained == storage::kProducerBatchesRetained);
  // b wrote only after the cut: whatever the log says about it, its batch is gone and a retry
  // is written again.
  // A retry of a truncated batch is appended again, not reported as a duplicate.
  AppendResult again = MustAppend(*log, sent[cut].bytes);
  REQUIRE_FALSE(again.duplicate);
  REQUIRE(again.base_offset == *truncated);
  // The batches before the cut are still recognised (the five before `cut`, then `cut` itself).
  for (size_t i = cut - 4; i <= cut; ++i) {
    CAPTURE(i);
    AppendResult r = MustAppend(*log, sent[i].bytes);
    REQUIRE(r.duplicate);
    REQUIRE(r.base_offset == (i == cut ? again.base_offset : sent[i].result.base_offset));
  }
  // Skipping the truncated batch cut+1 is a gap.
  REQUIRE(AppendError(*log, sent[cut + 2].bytes) == ErrorCode::kOutOfOrderSequenceNumber);
  REQUIRE_FALSE(MustAppend(*log, sent[cut + 1].bytes).duplicate);
  AppendResult b_again = MustAppend(*log, PBatch(b->producer_id, 0, 0, 2));
  REQUIRE_FALSE(b_again.duplicate);
  // The same after a reopen.
  REQUIRE(log->Close().ok());
  log = OpenLog(dir.path(), options);
  AppendResult r = MustAppend(*log, sent[cut + 1].bytes);
  REQUIRE(r.duplicate);
  REQUIRE(MustAppend(*log, PBatch(b->producer_id, 0, 0, 2)).duplicate);
  REQUIRE_FALSE(MustAppend(*log, sent[cut + 2].bytes).duplicate);
  auto records = testing::ReadAll(*log);
  REQUIRE(records.ok());
  REQUIRE(static_cast<int64_t>(records->size()) == log->end_offset());
}

TEST_CASE("TruncateTo to the log start forgets every producer batch", "[producer]") {
  TempDir dir;
  LogOptions options{.segment_bytes_max = 4096, .index_bytes_max = 1024};
  auto log = OpenLog(dir.path(), options);
  constexpr int64_t kId = 42;
  int32_t seq = 100;
  std::vector<Sent> sent = AppendMany(*log, kId, 3, &seq, 10);
  REQUIRE(log->Close().ok());
  log = OpenLog(dir.path(), options);
  REQUIRE(log->TruncateTo(0).ok());
  REQUIRE(log->end_offset() == 0);
  REQUIRE_FALSE(FindProducer(*log, kId));
  // Unknown again: any sequence.
  REQUIRE_FALSE(MustAppend(*log, sent.back().bytes).duplicate);
  REQUIRE_FALSE(MustAppend(*log, PBatch(kId, 3, seq)).duplicate);
}

TEST_CASE("Retention and DeleteRecordsBefore forget producers whose batches are all gone",
          "[producer]") {
  TempDir dir;
  ManualClock clock;
  LogOptions options{.segment_bytes_max = 4096, .index_bytes_max = 1024, .clock = &clock};
  bool by_retention = GENERATE(false, true);
  CAPTURE(by_retention);
  auto log = OpenLog(dir.path(), options);
  auto a = log->InitProducer();
  auto b = log->InitProducer();
  REQUIRE((a.ok() && b.ok()));
  int32_t seq_a = 0;
  int32_t seq_b = 0;
  std::vector<Sent> sent_a = AppendMany(*log, a->producer_id, 0, &seq_a, 6);
  std::vector<Sent> sent_b = AppendMany(*log, b->producer_id, 0, &seq_b, 1);
  // Fill more segments so a's batches can go while b's last stays.
  for (int i = 0; i < 30; ++i) MustAppend(*log, testing::MakeBatch({std::string(100, 'x')}));
  std::vector<Sent> more_b = AppendMany(*log, b->producer_id, 0, &seq_b, 1);
  int64_t a_end = sent_a.back().result.last_offset + 1;
  if (by_retention) {
    // Delete segments until every batch of a is gone.
    std::vector<SegmentInfo> segments = log->Segments();
    uint64_t keep = 0;
    for (const SegmentInfo& s : segments) {
      if (s.base_offset >= a_end) keep += s.size_bytes;
    }
    log.reset();
    options.retention_bytes = static_cast<int64_t>(keep);
    log = OpenLog(dir.path(), options);
    auto deleted = log->EnforceRetention();
    REQUIRE(deleted.ok());
    REQUIRE(*deleted > 0);
    REQUIRE(log->start_offset() >= a_end);
  } else {
    // One offset short of a's end keeps it.
    REQUIRE(log->DeleteRecordsBefore(a_end - 1).ok());
    REQUIRE(FindProducer(*log, a->producer_id));
    REQUIRE(log->DeleteRecordsBefore(a_end).ok());
  }
  REQUIRE_FALSE(FindProducer(*log, a->producer_id));
  REQUIRE(FindProducer(*log, b->producer_id));
  // a is unknown now: any sequence is accepted, a retry of its old batch too.
  REQUIRE_FALSE(MustAppend(*log, sent_a.front().bytes).duplicate);
  // b is still known.
  REQUIRE(MustAppend(*log, more_b.back().bytes).duplicate);
  REQUIRE(AppendError(*log, PBatch(b->producer_id, 0, seq_b + 1)) ==
          ErrorCode::kOutOfOrderSequenceNumber);
  // And after a reopen.
  REQUIRE(log->Close().ok());
  log = OpenLog(dir.path(), options);
  REQUIRE(FindProducer(*log, b->producer_id));
  REQUIRE(MustAppend(*log, sent_a.front().bytes).duplicate);
}

TEST_CASE("DeleteRecordsBefore forgets a producer across a reopen", "[producer]") {
  TempDir dir;
  auto log = OpenLog(dir.path());
  constexpr int64_t kId = 77;
  MustAppend(*log, PBatch(kId, 0, 0, 3));
  MustAppend(*log, testing::MakeBatch({"x", "y"}));
  REQUIRE(log->Close().ok());  // the Close snapshot still knows kId
  log = OpenLog(dir.path());
  REQUIRE(FindProducer(*log, kId));
  REQUIRE(log->DeleteRecordsBefore(3).ok());
  REQUIRE_FALSE(FindProducer(*log, kId));
  log.reset();
  log = OpenLog(dir.path());
  REQUIRE_FALSE(FindProducer(*log, kId));
  REQUIRE_FALSE(MustAppend(*log, PBatch(kId, 0, 0, 3)).duplicate);
}

TEST_CASE("Idle producers expire on Tick", "[producer]") {
  TempDir dir;
  ManualClock clock;
  LogOptions options{.producer_id_expiration = std::chrono::hours(1), .clock = &clock};
  auto log = OpenLog(dir.path(), options);
  auto a = log->InitProducer();
  auto b = log->InitProducer();
  auto idle = log->InitProducer();  // never writes
  REQUIRE((a.ok() && b.ok() && idle.ok()));
  // Timestamps are the batch's (the client's clock), as Kafka's lastTimestamp.
  std::vector<std::byte> a_batch = PBatch(a->producer_id, 0, 0, 2, clock.NowMs());
  AppendResult a_first = MustAppend(*log, a_batch);
  clock.Advance(std::chrono::minutes(40));
  MustAppend(*log, PBatch(b->producer_id, 0, 0, 1, clock.NowMs()));
  clock.Advance(std::chrono::minutes(19));
  REQUIRE(log->Tick().ok());  // a check, 59 minutes after a's batch
  REQUIRE(log->Producers().size() == 3);
  // a (and the idle one) pass an hour without a write; b does not.
  clock.Advance(std::chrono::minutes(11));
  REQUIRE(log->Tick().ok());
  REQUIRE_FALSE(FindProducer(*log, a->producer_id));
  REQUIRE_FALSE(FindProducer(*log, idle->producer_id));
  REQUIRE(FindProducer(*log, b->producer_id));
  // a's retry is now a new batch.
  AppendResult again = MustAppend(*log, a_batch);
  REQUIRE_FALSE(again.duplicate);
  REQUIRE(again.base_offset != a_first.base_offset);
  MustAppend(*log, PBatch(a->producer_id, 0, 2, 1, clock.NowMs()));
  // Any sequence for the forgotten idle producer, too.
  MustAppend(*log, PBatch(idle->producer_id, 0, 17, 1, clock.NowMs()));
  clock.Advance(std::chrono::minutes(41));
  REQUIRE(log->Tick().ok());
  REQUIRE_FALSE(FindProducer(*log, b->producer_id));
  REQUIRE(FindProducer(*log, a->producer_id));
  REQUIRE(FindProducer(*log, idle->producer_id));
  // Expired producers stay expired across a reopen (the Close snapshot and the log's replay).
  REQUIRE(log->Close().ok());
  log = OpenLog(dir.path(), options);
  REQUIRE_FALSE(FindProducer(*log, b->producer_id));
  REQUIRE(FindProducer(*log, a->producer_id));
  // And a reopen expires what is idle by then.
  clock.Advance(std::chrono::hours(2));
  log.reset();
  log = OpenLog(dir.path(), options);
  REQUIRE(log->Producers().empty());
}

TEST_CASE("Expiry is checked at most every expiration interval and every 10 minutes",
          "[producer]") {
  TempDir dir;
  ManualClock clock;
  LogOptions options{.producer_id_expiration = std::chrono::hours(2), .clock = &clock};
  auto log = OpenLog(dir.path(), options);
  MustAppend(*log, PBatch(9, 0, 0, 1, clock.NowMs()));
  clock.Advance(std::chrono::minutes(115));
  REQUIRE(log->Tick().ok());  // a check: nothing expired yet
  clock.Advance(std::chrono::minutes(6));
  REQUIRE(log->Tick().ok());  // 6 < 10 minutes since the last check: no check
  REQUIRE(FindProducer(*log, 9));
  clock.Advance(std::chrono::minutes(4));
  REQUIRE(log->Tick().ok());
  REQUIRE_FALSE(FindProducer(*log, 9));
}

// --- the snapshot encoding ------------------------------------------------------------------

storage::ProducerStateMap SampleMap() {
  storage::ProducerStateMap map;
  int64_t offset = 0;
  auto add = [&](int64_t id, int16_t epoch, int32_t first, int records) {
    storage::ProducerBatch b{
        .first_sequence = first,
        .last_sequence = storage::IncrementSequence(first, records - 1),
        .first_offset = offset,
        .last_offset = offset + records - 1,
        .max_timestamp = 5000 + offset,
    };
    offset += records;
    map.Record(id, epoch, b);
  };
  for (int i = 0; i < 8; ++i) add(3, 0, i * 2, 2);  // more than five: the oldest go
  add(1, 4, 0, 1);
  add(1000000000000, 32767, kMaxSeq - 1, 3);  // wraps
  map.BeginEpoch(7, 2, 123456);               // no batches
  add(12, 1, 10, 1);
  add(12, 2, 0, 4);  // a new epoch: the older batches are dropped
  return map;
}

constexpr int64_t kSampleOffset = 100;

void RequireSameEntries(const storage::ProducerStateMap& a, const storage::ProducerStateMap& b) {
  std::vector<storage::ProducerEntry> x = a.Entries();
  std::vector<storage::ProducerEntry> y = b.Entries();
  REQUIRE(x.size() == y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    CAPTURE(i);
    REQUIRE(x[i].producer_id == y[i].producer_id);
    REQUIRE(x[i].epoch == y[i].epoch);
    REQUIRE(x[i].last_timestamp == y[i].last_timestamp);
    REQUIRE(x[i].batch_count == y[i].batch_count);
    for (int j = 0; j < x[i].batch_count; ++j) {
      const storage::ProducerBatch& p = x[i].batch(j);
      const storage::ProducerBatch& q = y[i].batch(j);
      REQUIRE(p.first_sequence == q.first_sequence);
      REQUIRE(p.last_sequence == q.last_sequence);
      REQUIRE(p.first_offset == q.first_offset);
      REQUIRE(p.last_offset == q.last_offset);
      REQUIRE(p.max_timestamp == q.max_timestamp);
    }
  }
}

TEST_CASE("A producer snapshot decodes to what was encoded", "[producer]") {
  storage::ProducerStateMap map = SampleMap();
  REQUIRE(map.size() == 5);
  REQUIRE(map.Find(3)->batch_count == storage::kProducerBatchesRetained);
  REQUIRE(map.Find(3)->batch(0).first_sequence == 6);
  REQUIRE(map.Find(12)->batch_count == 1);
  REQUIRE(map.Find(1000000000000)->last_sequence() == 0);
  std::vector<std::byte> bytes = map.EncodeSnapshot(kSampleOffset);
  auto decoded = storage::ProducerStateMap::DecodeSnapshot(bytes, kSampleOffset, "test");
  INFO(decoded.status().ToString());
  REQUIRE(decoded.ok());
  RequireSameEntries(map, *decoded);
  REQUIRE(decoded->EncodeSnapshot(kSampleOffset) == bytes);
  // The decoded map checks like the original.
  storage::ProducerBatch original;
  absl::Status error;
  using Verdict = storage::ProducerStateMap::Verdict;
  REQUIRE(decoded->Check(3, 0, 14, 1, &original, &error) == Verdict::kDuplicate);
  REQUIRE(original.first_offset == 14);
  REQUIRE(original.last_offset == 15);
  REQUIRE(decoded->Check(3, 0, 17, 0, &original, &error) == Verdict::kRejected);
  REQUIRE(GetErrorCode(error) == ErrorCode::kOutOfOrderSequenceNumber);
  REQUIRE(decoded->Check(12, 1, 4, 0, &original, &error) == Verdict::kRejected);
  REQUIRE(GetErrorCode(error) == ErrorCode::kInvalidProducerEpoch);
  REQUIRE(decoded->Check(7, 2, 0, 0, &original, &error) == Verdict::kAppend);
  REQUIRE(decoded->Check(1000000000000, 32767, 1, 0, &original, &error) == Verdict::kAppend);
  REQUIRE(decoded->Check(99, 0, 12345, 0, &original, &error) == Verdict::kAppend);  // unknown

  // An empty map too.
  storage::ProducerStateMap empty;
  std::vector<std::byte> none = empty.EncodeSnapshot(0);
  auto decoded_empty = storage::ProducerStateMap::DecodeSnapshot(none, 0, "empty");
  REQUIRE(decoded_empty.ok());
  REQUIRE(decoded_empty->size() == 0);
}

TEST_CASE("A truncated or garbled producer snapshot is rejected", "[producer]") {
  storage::ProducerStateMap map = SampleMap();
  const std::vector<std::byte> good = map.EncodeSnapshot(kSampleOffset);
  auto decode = [](std::span<const std::byte> bytes, int64_t offset = kSampleOffset) {
    return storage::ProducerStateMap::DecodeSnapshot(bytes, offset, "test.snapshot");
  };
  auto require_damaged = [&](std::span<const std::byte> bytes, int64_t offset = kSampleOffset) {
    auto d = decode(bytes, offset);
    REQUIRE_FALSE(d.ok());
    REQUIRE(absl::IsDataLoss(d.status()));
    REQUIRE(d.status().message().find("test.snapshot") != std::string_view::npos);
  };
  SECTION("every truncation") {
    for (size_t n = 0; n < good.size(); ++n) {
      CAPTURE(n);
      require_damaged(std::span(good).first(n));
    }
  }
  SECTION("trailing bytes") {
    std::vector<std::byte> longer = good;
    longer.push_back(std::byte{0});
    require_damaged(longer);
  }
  SECTION("every single flipped bit") {
    for (size_t i = 0; i < good.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::vector<std::byte> bad = good;
        bad[i] ^= std::byte(1 << bit);
        CAPTURE(i, bit);
        require_damaged(bad);
      }
    }
  }
  SECTION("a snapshot named for another offset") {
    require_damaged(good, kSampleOffset + 1);
    require_damaged(good, 0);
  }
  SECTION("inconsistent contents behind a valid checksum") {
    // Rewrites a field and fixes the checksum, so the checks behind it are reached.
    auto patched = [&](size_t at, auto value) {
      std::vector<std::byte> bad = good;
      detail::StoreBig<decltype(value)>(bad.data() + at, value);
      detail::StoreBig<uint32_t>(bad.data() + 2, Crc32c(bad.data() + 6, bad.size() - 6));
      return bad;
    };
    // The layout: version i16, crc u32, offset i64, count i32, then per producer id i64,
    // epoch i16, last timestamp i64, batch count i8 and 32 bytes per batch (first seq i32,
    // last seq i32, first offset i64, last offset i64, timestamp i64), by id.
    constexpr size_t kFirst = 18;  // the first producer (id 1, one batch)
    constexpr size_t kFirstBatch = kFirst + 19;
    {
      // The timestamp is not checked: a control that patching alone does no harm.
      std::vector<std::byte> control = patched(kFirst + 10, int64_t{5000});
      REQUIRE(decode(control).ok());
    }
    require_damaged(patched(0, int16_t{2}));                             // version
    require_damaged(patched(6, int64_t{kSampleOffset + 1}));             // offset
    require_damaged(patched(14, int32_t{-1}));                           // count
    require_damaged(patched(14, int32_t{6}));                            // count too large
    require_damaged(patched(14, int32_t{4}));                            // count too small
    require_damaged(patched(14, int32_t{1 << 30}));                      // count absurd
    require_damaged(patched(kFirst, int64_t{3}));                        // ids out of order
    require_damaged(patched(kFirst, int64_t{-1}));                       // (equal to -1)
    require_damaged(patched(kFirst + 8, int16_t{-1}));                   // epoch
    require_damaged(patched(kFirst + 18, int8_t{6}));                    // batch count
    require_damaged(patched(kFirst + 18, int8_t{-1}));                   // batch count
    require_damaged(patched(kFirst + 18, int8_t{2}));                    // off by one
    require_damaged(patched(kFirstBatch, int32_t{-1}));                  // first sequence
    require_damaged(patched(kFirstBatch + 4, int32_t{-7}));              // last sequence
    require_damaged(patched(kFirstBatch + 16, int64_t{kSampleOffset}));  // past the snapshot
    require_damaged(patched(kFirstBatch + 8, int64_t{1000}));            // first > last offset
  }
  SECTION("short garbage") {
    for (size_t n : {0u, 1u, 17u, 18u, 19u, 64u}) {
      std::vector<std::byte> junk(n, std::byte{0xff});
      require_damaged(junk);
    }
  }
}

}  // namespace
}  // namespace brook
