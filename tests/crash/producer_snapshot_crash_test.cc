// Crash tests for the idempotent-producer state: crash at every sync point of a workload of
// idempotent batches that rolls segments (each roll writes a producer snapshot) and closes (a
// synced snapshot), with and without torn unsynced writes. After each crash the log must open,
// hold every batch at most once and every flushed one, and still recognise retries of each
// producer's last batches.

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "brook/log.h"
#include "brook/record_batch_builder.h"
#include "brook/status.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/fault_file_system.h"
#include "support/seed.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using testing::FaultFileSystem;
using testing::TempDir;

int64_t RealNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

LogOptions Options(FaultFileSystem* fs, FlushPolicy flush = {}) {
  return LogOptions{.segment_bytes_max = 4096,
                    .index_bytes_max = 1024,
                    .index_interval_bytes = 256,
                    .flush = flush,
                    .file_system = fs,
                    .logger = [](LogLevel, std::string_view) {}};
}

// One batch a producer sent.
struct Sent {
  int producer = 0;  // index into Workload::producers
  int64_t producer_id = 0;
  int16_t epoch = 0;
  int32_t sequence = 0;
  std::vector<std::string> values;
  std::vector<std::byte> bytes;
  int64_t base_offset = -1;  // once appended
  int64_t last_offset = -1;
};

std::vector<std::byte> Build(int64_t id, int16_t epoch, int32_t seq,
                             const std::vector<std::string>& values) {
  RecordBatchBuilder builder({.producer_id = id, .producer_epoch = epoch, .base_sequence = seq});
  int64_t ts = RealNowMs();
  for (const std::string& v : values) builder.Append(ts, std::nullopt, v);
  std::span<const std::byte> bytes = builder.Finish();
  return {bytes.begin(), bytes.end()};
}

struct Workload {
  std::vector<ProducerIdentity> producers;
  std::vector<int32_t> next_sequence;
  std::vector<Sent> appended;  // in offset order: every batch the log appended (not duplicates)
  // The append that failed (the crash), with the offsets it would have had: its bytes may
  // survive.
  std::optional<Sent> maybe;
  int64_t flushed = 0;  // offsets below it were acknowledged as flushed
};

// Runs until `steps` or the first error (the crash). Three producers; appends (every third
// durable), retries of the last batch (must be duplicates), epoch bumps, flushes; closes at the
// end.
void Run(Log& log, int steps, std::mt19937_64& rng, Workload* w) {
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto note_flushed = [&] { w->flushed = std::max(w->flushed, log.flushed_offset()); };
  for (int p = 0; p < 3; ++p) {
    absl::StatusOr<ProducerIdentity> id = log.InitProducer();
    if (!id.ok()) return;
    w->producers.push_back(*id);
    w->next_sequence.push_back(0);
  }
  for (int step = 0; step < steps; ++step) {
    int p = pick(0, 2);
    int op = pick(0, 99);
    const ProducerIdentity& id = w->producers[static_cast<size_t>(p)];
    if (op < 80) {
      Sent s{.producer = p,
             .producer_id = id.producer_id,
             .epoch = id.epoch,
             .sequence = w->next_sequence[static_cast<size_t>(p)]};
      int records = pick(1, 3);
      for (int r = 0; r < records; ++r) {
        s.values.push_back("p" + std::to_string(p) + "e" + std::to_string(id.epoch) + "s" +
                           std::to_string(s.sequence + r) + std::string(pick(0, 300), '.'));
      }
      s.bytes = Build(s.producer_id, s.epoch, s.sequence, s.values);
      bool durable = step % 3 == 0;
      int64_t end = log.end_offset();
      absl::StatusOr<AppendResult> r = log.Append(
          s.bytes, {.durability = durable ? Durability::kFlushed : Durability::kAppended});
      if (!r.ok()) {
        s.base_offset = end;
        s.last_offset = end + records - 1;
        w->maybe = std::move(s);
        return;
      }
      REQUIRE_FALSE(r->duplicate);
      s.base_offset = r->base_offset;
      s.last_offset = r->last_offset;
      w->next_sequence[static_cast<size_t>(p)] += records;
      w->appended.push_back(std::move(s));
      note_flushed();
    } else if (op < 92) {
      // Retry the producer's last batch of its current epoch, if any.
      const Sent* last = nullptr;
      for (const Sent& s : w->appended) {
        if (s.producer == p && s.epoch == id.epoch) last = &s;
      }
      if (last == nullptr) continue;
      absl::StatusOr<AppendResult> r = log.Append(last->bytes);
      if (!r.ok()) return;
      REQUIRE(r->duplicate);
      REQUIRE(r->base_offset == last->base_offset);
      REQUIRE(r->last_offset == last->last_offset);
    } else if (op < 96) {
      absl::StatusOr<ProducerIdentity> next = log.InitProducer(id);
      if (!next.ok()) return;
      REQUIRE(next->producer_id == id.producer_id);
      w->producers[static_cast<size_t>(p)] = *next;
      w->next_sequence[static_cast<size_t>(p)] = 0;
    } else {
      if (!log.Flush().ok()) return;
      note_flushed();
    }
  }
  if (log.Close().ok()) w->flushed = static_cast<int64_t>(log.end_offset());
}

// Reopens after the crash and checks the log and the producer state.
void CheckRecovered(const std::string& dir, FaultFileSystem* fs, const Workload& w) {
  absl::StatusOr<std::unique_ptr<Log>> opened = Log::Open(dir, Options(fs));
  INFO(opened.status().ToString());
  REQUIRE(opened.ok());
  Log& log = **opened;
  INFO("recovered to " << log.end_offset() << ", flushed " << w.flushed << ", appended "
                       << w.appended.size() << " batches; " << log.recovery_summary().message);
  REQUIRE(log.start_offset() == 0);
  REQUIRE(log.end_offset() >= w.flushed);

  // The log is a prefix of the batches appended, batch for batch: none twice, none lost below
  // the flushed offset.
  std::vector<Sent> appended = w.appended;
  if (w.maybe) appended.push_back(*w.maybe);
  auto check_log = [&](size_t* survived) {
    size_t i = 0;
    int64_t offset = 0;
    while (offset < log.end_offset()) {
      auto read = log.Read(offset, size_t{64} << 10);
      REQUIRE(read.ok());
      REQUIRE_FALSE(read->empty());
      for (const RecordBatchView& batch : *read) {
        CAPTURE(i, batch.base_offset());
        REQUIRE(i < appended.size());
        const Sent& s = appended[i];
        REQUIRE(batch.base_offset() == s.base_offset);
        REQUIRE(batch.last_offset() == s.last_offset);
        REQUIRE(batch.producer_id() == s.producer_id);
        REQUIRE(batch.producer_epoch() == s.epoch);
        REQUIRE(batch.base_sequence() == s.sequence);
        size_t r = 0;
        for (const RecordView& record : batch.records()) {
          REQUIRE(r < s.values.size());
          REQUIRE(record.value() == s.values[r]);
          ++r;
        }
        REQUIRE(r == s.values.size());
        ++i;
      }
      offset = read->next_offset();
    }
    *survived = i;
  };
  size_t survived = 0;
  check_log(&survived);
  int64_t end = log.end_offset();

  // For each producer: its surviving batches of the newest epoch the log holds for it. Retries
  // of the last five are duplicates with their offsets; older ones and older epochs fail. If
  // the log knows of an epoch bump after the producer's last batch, every retry is fenced.
  std::vector<ProducerInfo> before = log.Producers();
  for (size_t p = 0; p < w.producers.size(); ++p) {
    CAPTURE(p);
    std::vector<const Sent*> mine;
    for (size_t i = 0; i < survived; ++i) {
      if (appended[i].producer == static_cast<int>(p)) mine.push_back(&appended[i]);
    }
    if (mine.empty()) continue;
    int16_t epoch = mine.back()->epoch;
    auto info = std::find_if(before.begin(), before.end(), [&](const ProducerInfo& i) {
      return i.producer_id == mine.back()->producer_id;
    });
    REQUIRE(info != before.end());
    REQUIRE(info->epoch >= epoch);
    bool bumped = info->epoch > epoch;
    std::vector<const Sent*> current;
    for (const Sent* s : mine) {
      if (s->epoch == epoch) current.push_back(s);
    }
    for (size_t k = 0; k < current.size(); ++k) {
      CAPTURE(k, current.size(), bumped);
      absl::StatusOr<AppendResult> r = log.Append(current[k]->bytes);
      if (bumped) {
        REQUIRE(GetErrorCode(r.status()) == ErrorCode::kInvalidProducerEpoch);
      } else if (current.size() - k <= 5) {
        INFO(r.status().ToString());
        REQUIRE(r.ok());
        REQUIRE(r->duplicate);
        REQUIRE(r->base_offset == current[k]->base_offset);
        REQUIRE(r->last_offset == current[k]->last_offset);
      } else {
        REQUIRE(GetErrorCode(r.status()) == ErrorCode::kOutOfOrderSequenceNumber);
      }
    }
    if (mine.front()->epoch != epoch) {
      REQUIRE(GetErrorCode(log.Append(mine.front()->bytes).status()) ==
              ErrorCode::kInvalidProducerEpoch);
    }
  }
  REQUIRE(log.end_offset() == end);
  check_log(&survived);

  // The producers go on: the batch after each one's last surviving batch is appended once (at
  // sequence 0 of the bumped epoch if the log knows of a bump after that batch).
  std::vector<ProducerInfo> infos = log.Producers();
  for (size_t p = 0; p < w.producers.size(); ++p) {
    const Sent* last = nullptr;
    for (size_t i = 0; i < survived; ++i) {
      if (appended[i].producer == static_cast<int>(p)) last = &appended[i];
    }
    if (last == nullptr) continue;
    auto info = std::find_if(infos.begin(), infos.end(), [&](const ProducerInfo& i) {
      return i.producer_id == last->producer_id;
    });
    REQUIRE(info != infos.end());
    REQUIRE(info->epoch >= last->epoch);
    int16_t epoch = last->epoch;
    int32_t next = last->sequence + static_cast<int32_t>(last->values.size());
    if (info->epoch > last->epoch) {
      REQUIRE(info->batches_retained == 0);
      epoch = info->epoch;
      next = 0;
    } else {
      REQUIRE(info->last_offset == last->last_offset);
    }
    std::vector<std::byte> bytes = Build(last->producer_id, epoch, next, {"after"});
    absl::StatusOr<AppendResult> r = log.Append(bytes);
    INFO(r.status().ToString());
    REQUIRE(r.ok());
    REQUIRE_FALSE(r->duplicate);
    absl::StatusOr<AppendResult> again = log.Append(bytes);
    REQUIRE(again.ok());
    REQUIRE(again->duplicate);
    REQUIRE(again->base_offset == r->base_offset);
  }
  REQUIRE(log.Close().ok());
}

TEST_CASE("Producer state survives a crash at every sync point", "[crash][producer]") {
  uint64_t seed = testing::TestSeed();
  constexpr int kSteps = 70;
  int64_t total_syncs;
  {
    TempDir dir;
    FaultFileSystem fs;
    std::mt19937_64 rng(seed);
    Workload w;
    auto log = Log::Open(dir.path(), Options(&fs));
    REQUIRE(log.ok());
    Run(**log, kSteps, rng, &w);
    total_syncs = fs.syncs();
    REQUIRE((*log)->Segments().size() > 3);  // it rolled, so roll snapshots were written
    REQUIRE(w.flushed == (*log)->end_offset());
    // A clean run recovers too.
    log->reset();
    CheckRecovered(dir.path(), &fs, w);
  }
  REQUIRE(total_syncs > 20);
  for (int64_t crash_at = 1; crash_at <= total_syncs; ++crash_at) {
    for (bool torn : {false, true}) {
      CAPTURE(crash_at, torn);
      TempDir dir;
      FaultFileSystem fs;
      std::mt19937_64 rng(seed);
      std::mt19937_64 crash_rng(seed + static_cast<uint64_t>(crash_at));
      fs.crash_at_sync(crash_at, torn ? &crash_rng : nullptr);
      Workload w;
      {
        auto log = Log::Open(dir.path(), Options(&fs));
        if (log.ok()) Run(**log, kSteps, rng, &w);
      }
      REQUIRE(fs.crashed());
      fs.Restart();
      CheckRecovered(dir.path(), &fs, w);
    }
  }
}

TEST_CASE("Producer state survives repeated crashes after clean reopens", "[crash][producer]") {
  // Clean Close (a synced snapshot), reopen, more batches, crash with torn writes: several
  // cycles on one directory, so old synced snapshots and new unsynced ones mix.
  uint64_t seed = testing::TestSeed();
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 10; ++round) {
    CAPTURE(round);
    TempDir dir;
    FaultFileSystem fs;
    Workload w;
    for (int cycle = 0; cycle < 4; ++cycle) {
      CAPTURE(cycle);
      auto log = Log::Open(dir.path(), Options(&fs, FlushPolicy::EveryRecords(4)));
      INFO(log.status().ToString());
      REQUIRE(log.ok());
      // Keep what survived as the model's base.
      size_t kept = 0;
      while (kept < w.appended.size() && w.appended[kept].last_offset < (*log)->end_offset()) {
        ++kept;
      }
      REQUIRE((kept == w.appended.size() || w.appended[kept].base_offset == (*log)->end_offset()));
      w.appended.resize(kept);
      w.flushed = (*log)->end_offset();
      Workload more;
      Run(**log, 30, rng, &more);  // closes cleanly at the end
      for (Sent& s : more.appended) {
        s.producer += static_cast<int>(w.producers.size());
        w.appended.push_back(std::move(s));
      }
      w.producers.insert(w.producers.end(), more.producers.begin(), more.producers.end());
      w.flushed = more.flushed;
      log->reset();
      if (cycle % 2 == 1) {
        // Reopen and crash with a few unflushed batches.
        auto again = Log::Open(dir.path(), Options(&fs));
        REQUIRE(again.ok());
        for (int i = 0; i < 5; ++i) {
          size_t p = std::uniform_int_distribution<size_t>(0, w.producers.size() - 1)(rng);
          const Sent* last = nullptr;
          for (const Sent& s : w.appended) {
            if (s.producer == static_cast<int>(p)) last = &s;
          }
          // Skip producers without a batch, or bumped since their last one.
          if (last == nullptr || last->epoch != w.producers[p].epoch) continue;
          Sent s = *last;
          s.sequence = last->sequence + static_cast<int32_t>(last->values.size());
          s.values = {"crash" + std::to_string(i)};
          s.bytes = Build(s.producer_id, s.epoch, s.sequence, s.values);
          auto r = (*again)->Append(s.bytes);
          REQUIRE(r.ok());
          REQUIRE_FALSE(r->duplicate);
          s.base_offset = r->base_offset;
          s.last_offset = r->last_offset;
          w.appended.push_back(std::move(s));
        }
        fs.SimulateCrash(&rng);
        again->reset();
        fs.Restart();
      }
    }
    CheckRecovered(dir.path(), &fs, w);
  }
}

// --- specific scenarios ---------------------------------------------------------------------

// A batch of one record from producer `id`.
std::vector<std::byte> One(int64_t id, int16_t epoch, int32_t seq, const std::string& value) {
  return Build(id, epoch, seq, {value});
}

TEST_CASE("A snapshot TruncateTo removed does not come back after a crash", "[crash][producer]") {
  TempDir dir;
  FaultFileSystem fs;
  constexpr int64_t kP = 1'000'000;  // ids the log never handed out: accepted at any sequence
  constexpr int64_t kQ = 2'000'000;
  {
    auto log = Log::Open(dir.path(), Options(&fs, FlushPolicy::EveryAppend()));
    REQUIRE(log.ok());
    for (int32_t seq = 0; seq < 10; ++seq) {
      REQUIRE((*log)->Append(One(kP, 0, seq, "p" + std::to_string(seq))).ok());
    }
    REQUIRE((*log)->Close().ok());  // a synced snapshot at offset 10
  }
  {
    auto log = Log::Open(dir.path(), Options(&fs, FlushPolicy::EveryAppend()));
    REQUIRE(log.ok());
    auto cut = (*log)->TruncateTo(5);  // P's batches 5..9 go, and with them the snapshot at 10
    REQUIRE(cut.ok());
    REQUIRE(*cut == 5);
    // Another producer fills offsets 5..10, flushed.
    for (int32_t seq = 0; seq < 6; ++seq) {
      auto r = (*log)->Append(One(kQ, 0, seq, "q" + std::to_string(seq)),
                              {.durability = Durability::kFlushed});
      REQUIRE(r.ok());
    }
    REQUIRE((*log)->flushed_offset() == 11);
    fs.SimulateCrash();
  }
  fs.Restart();
  auto log = Log::Open(dir.path(), Options(&fs));
  REQUIRE(log.ok());
  REQUIRE((*log)->end_offset() == 11);
  // P's batch 5 was truncated: its retry must be written again, not answered with the offsets
  // that now hold Q's records.
  auto retry = (*log)->Append(One(kP, 0, 5, "p5"));
  INFO(retry.status().ToString());
  REQUIRE(retry.ok());
  CHECK_FALSE(retry->duplicate);
  // And Q's last batch is recognised.
  auto q = (*log)->Append(One(kQ, 0, 5, "q5"));
  REQUIRE(q.ok());
  CHECK(q->duplicate);
  CHECK(q->base_offset == 10);
}

TEST_CASE("An epoch bump by InitProducer survives a crash", "[crash][producer]") {
  TempDir dir;
  FaultFileSystem fs;
  ProducerIdentity first;
  {
    auto log = Log::Open(dir.path(), Options(&fs, FlushPolicy::EveryAppend()));
    REQUIRE(log.ok());
    auto id = (*log)->InitProducer();
    REQUIRE(id.ok());
    first = *id;
    REQUIRE((*log)->Append(One(first.producer_id, 0, 0, "a")).ok());
    auto bumped = (*log)->InitProducer(first);  // acknowledged: epoch 0 is fenced
    REQUIRE(bumped.ok());
    REQUIRE(bumped->epoch == 1);
    fs.SimulateCrash();
  }
  fs.Restart();
  auto log = Log::Open(dir.path(), Options(&fs));
  REQUIRE(log.ok());
  // A zombie of epoch 0 must stay fenced, and must not be handed epoch 1 a second time.
  auto zombie = (*log)->Append(One(first.producer_id, 0, 1, "zombie"));
  CHECK(GetErrorCode(zombie.status()) == ErrorCode::kInvalidProducerEpoch);
  auto again = (*log)->InitProducer(first);
  CHECK(GetErrorCode(again.status()) == ErrorCode::kProducerFenced);
}

TEST_CASE("An epoch bump survives a crash that cuts an unflushed tail", "[crash][producer]") {
  TempDir dir;
  FaultFileSystem fs;
  ProducerIdentity first;
  {
    auto log = Log::Open(dir.path(), Options(&fs));  // OsOnly: appends are not flushed
    REQUIRE(log.ok());
    auto id = (*log)->InitProducer();
    REQUIRE(id.ok());
    first = *id;
    for (int32_t seq = 0; seq < 5; ++seq) {
      REQUIRE((*log)->Append(One(first.producer_id, 0, seq, "a")).ok());
    }
    // The bump's snapshot lies at the end offset: InitProducer flushes up to it first, so a
    // crash cannot leave the log ending below it (which would delete it).
    auto bumped = (*log)->InitProducer(first);
    REQUIRE(bumped.ok());
    REQUIRE(bumped->epoch == 1);
    REQUIRE((*log)->flushed_offset() == (*log)->end_offset());
    fs.SimulateCrash();
  }
  fs.Restart();
  auto log = Log::Open(dir.path(), Options(&fs));
  REQUIRE(log.ok());
  auto zombie = (*log)->Append(One(first.producer_id, 0, 5, "zombie"));
  CHECK(GetErrorCode(zombie.status()) == ErrorCode::kInvalidProducerEpoch);
  CHECK(GetErrorCode((*log)->InitProducer(first).status()) == ErrorCode::kProducerFenced);
}

TEST_CASE("An epoch bump outlives a truncation below its snapshot", "[crash][producer]") {
  TempDir dir;
  FaultFileSystem fs;
  auto log = Log::Open(dir.path(), Options(&fs, FlushPolicy::EveryAppend()));
  REQUIRE(log.ok());
  auto p = (*log)->InitProducer();
  REQUIRE(p.ok());
  REQUIRE((*log)->Append(One(p->producer_id, 0, 0, "p")).ok());
  auto bumped = (*log)->InitProducer(*p);  // synced snapshot at offset 1
  REQUIRE(bumped.ok());
  for (int32_t seq = 0; seq < 5; ++seq) {  // another producer's batches after it
    REQUIRE((*log)->Append(One(3'000'000, 0, seq, "q")).ok());
  }
  REQUIRE((*log)->TruncateTo(0).ok());  // below the bump's snapshot: it goes
  // The handed-out epoch 1 still fences epoch 0, and is not handed out again.
  auto zombie = (*log)->Append(One(p->producer_id, 0, 1, "zombie"));
  CHECK(GetErrorCode(zombie.status()) == ErrorCode::kInvalidProducerEpoch);
  CHECK(GetErrorCode((*log)->InitProducer(*p).status()) == ErrorCode::kProducerFenced);
  // After a crash too.
  fs.SimulateCrash();
  log->reset();
  fs.Restart();
  log = Log::Open(dir.path(), Options(&fs));
  REQUIRE(log.ok());
  CHECK(GetErrorCode((*log)->InitProducer(*p).status()) == ErrorCode::kProducerFenced);
}

}  // namespace
}  // namespace brook
