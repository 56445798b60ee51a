// Model-based test of idempotent producers: simulated clients send random batches with up to
// five unacknowledged at a time, retry any of them in any order, resend old acknowledged ones
// (late duplicates), bump their epoch with InitProducer(previous) and leave zombies behind, while
// the log is reopened cleanly or after a crash now and then. A model of a Kafka partition
// leader's producer state decides each answer (append, duplicate with the original offsets,
// out-of-order sequence, fenced epoch); the log must give the same one and hold every
// acknowledged batch exactly once, in order.
//
// The log flushes every append (FlushPolicy::EveryAppend), so an acknowledged batch survives a
// crash and the model stays exact across one. The one thing a crash may lose is a fresh id that
// no batch followed yet (nothing to fence); epoch bumps are synced before InitProducer returns
// them and must survive (see ReconcileAfterCrash).

#include <algorithm>
#include <cstdint>
#include <deque>
#include <limits>
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
#include "support/open_log.h"
#include "support/seed.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

constexpr int kRetained = 5;  // Kafka's NUM_BATCHES_TO_RETAIN
constexpr int32_t kMaxSeq = std::numeric_limits<int32_t>::max();
constexpr int16_t kMaxEpoch = std::numeric_limits<int16_t>::max();

int32_t AddSeq(int32_t seq, int32_t n) {
  return static_cast<int32_t>((int64_t{seq} + n) % (int64_t{kMaxSeq} + 1));
}

struct Batch {
  int64_t producer_id = 0;
  int16_t epoch = 0;
  int32_t first_seq = 0;
  int32_t last_seq = 0;
  std::vector<std::string> values;
  std::vector<std::byte> bytes;
};

Batch MakeProducerBatch(int64_t id, int16_t epoch, int32_t seq, int records, int64_t ts,
                        std::mt19937_64& rng) {
  Batch b{
      .producer_id = id, .epoch = epoch, .first_seq = seq, .last_seq = AddSeq(seq, records - 1)};
  RecordBatchBuilder builder({.producer_id = id, .producer_epoch = epoch, .base_sequence = seq});
  for (int i = 0; i < records; ++i) {
    b.values.push_back(std::to_string(id) + "/" + std::to_string(epoch) + "/" +
                       std::to_string(AddSeq(seq, i)) + "/" +
                       std::string(std::uniform_int_distribution<int>(0, 200)(rng), '.'));
    builder.Append(ts, std::nullopt, b.values.back());
  }
  std::span<const std::byte> bytes = builder.Finish();
  b.bytes.assign(bytes.begin(), bytes.end());
  return b;
}

// --- the model: a Kafka partition leader's view -------------------------------------------

struct Meta {
  int32_t first_seq;
  int32_t last_seq;
  int64_t first_offset;
  int64_t last_offset;
};

struct ModelProducer {
  int16_t epoch = 0;
  std::deque<Meta> batches;  // oldest first, at most kRetained
};

struct Written {
  Batch batch;
  int64_t base_offset;
  int64_t last_offset;
};

enum class Answer { kAppend, kDuplicate, kOutOfOrder, kInvalidEpoch };

struct Model {
  std::map<int64_t, ModelProducer> producers;
  std::vector<Written> log;  // every batch appended, in offset order
  int64_t end = 0;
  int64_t max_id = -1;  // the largest id InitProducer returned

  // What a Kafka leader answers to `b`; for a duplicate, the original's offsets.
  Answer Decide(const Batch& b, Meta* original) const {
    auto it = producers.find(b.producer_id);
    if (it == producers.end()) return Answer::kAppend;  // unknown: any sequence (KIP-360)
    const ModelProducer& p = it->second;
    if (b.epoch == p.epoch) {
      for (const Meta& m : p.batches) {
        if (m.first_seq == b.first_seq && m.last_seq == b.last_seq) {
          *original = m;
          return Answer::kDuplicate;
        }
      }
    }
    if (b.epoch < p.epoch) return Answer::kInvalidEpoch;
    if (b.epoch > p.epoch) return b.first_seq == 0 ? Answer::kAppend : Answer::kOutOfOrder;
    int32_t last = p.batches.empty() ? -1 : p.batches.back().last_seq;
    bool in_sequence =
        int64_t{b.first_seq} == int64_t{last} + 1 || (last == kMaxSeq && b.first_seq == 0);
    return in_sequence ? Answer::kAppend : Answer::kOutOfOrder;
  }

  Written Append(const Batch& b) {
    auto n = static_cast<int64_t>(b.values.size());
    Written w{b, end, end + n - 1};
    end += n;
    ModelProducer& p = producers[b.producer_id];
    if (p.epoch != b.epoch) {
      p.epoch = b.epoch;
      p.batches.clear();
    }
    p.batches.push_back({b.first_seq, b.last_seq, w.base_offset, w.last_offset});
    if (p.batches.size() > kRetained) p.batches.pop_front();
    log.push_back(w);
    return w;
  }

  // The producer state the log's batches alone imply (what a replay of the whole log gives).
  std::map<int64_t, ModelProducer> FromLog() const {
    std::map<int64_t, ModelProducer> derived;
    for (const Written& w : log) {
      ModelProducer& p = derived[w.batch.producer_id];
      if (p.batches.empty() || p.epoch != w.batch.epoch) {
        p.epoch = w.batch.epoch;
        p.batches.clear();
      }
      p.batches.push_back({w.batch.first_seq, w.batch.last_seq, w.base_offset, w.last_offset});
      if (p.batches.size() > kRetained) p.batches.pop_front();
    }
    return derived;
  }
};

void CheckProducers(const Log& log, const Model& m) {
  std::vector<ProducerInfo> infos = log.Producers();
  REQUIRE(infos.size() == m.producers.size());
  size_t i = 0;
  for (const auto& [id, p] : m.producers) {
    CAPTURE(id);
    const ProducerInfo& info = infos[i++];
    REQUIRE(info.producer_id == id);
    REQUIRE(info.epoch == p.epoch);
    REQUIRE(info.batches_retained == static_cast<int>(p.batches.size()));
    REQUIRE(info.last_sequence == (p.batches.empty() ? -1 : p.batches.back().last_seq));
    REQUIRE(info.last_offset == (p.batches.empty() ? -1 : p.batches.back().last_offset));
  }
}

void CheckLog(const Log& log, const Model& m) {
  REQUIRE(log.start_offset() == 0);
  REQUIRE(log.end_offset() == m.end);
  size_t i = 0;
  int64_t offset = 0;
  while (offset < log.end_offset()) {
    auto read = log.Read(offset, size_t{256} << 10);
    REQUIRE(read.ok());
    REQUIRE_FALSE(read->empty());
    for (const RecordBatchView& batch : *read) {
      CAPTURE(i, batch.base_offset());
      REQUIRE(i < m.log.size());
      const Written& w = m.log[i++];
      REQUIRE(batch.base_offset() == w.base_offset);
      REQUIRE(batch.last_offset() == w.last_offset);
      REQUIRE(batch.producer_id() == w.batch.producer_id);
      REQUIRE(batch.producer_epoch() == w.batch.epoch);
      REQUIRE(batch.base_sequence() == w.batch.first_seq);
      size_t r = 0;
      for (const RecordView& record : batch.records()) {
        REQUIRE(r < w.batch.values.size());
        REQUIRE(record.value() == w.batch.values[r++]);
      }
      REQUIRE(r == w.batch.values.size());
    }
    offset = read->next_offset();
  }
  REQUIRE(i == m.log.size());
}

// After a crash: a producer whose current epoch has no batch yet (a fresh id, or a bump by
// InitProducer) may be remembered as it was (its epoch was in a snapshot that survived) or
// forgotten, falling back to what its batches in the log say. Batches themselves are never lost
// (every append was flushed). Returns how many were forgotten.
//
int ReconcileAfterCrash(const Log& log, Model* m) {
  std::map<int64_t, ModelProducer> derived = m->FromLog();
  std::vector<ProducerInfo> infos = log.Producers();
  int forgotten = 0;
  for (auto it = m->producers.begin(); it != m->producers.end();) {
    const ModelProducer& p = it->second;
    auto info = std::find_if(infos.begin(), infos.end(),
                             [&](const ProducerInfo& i) { return i.producer_id == it->first; });
    auto d = derived.find(it->first);
    if (!p.batches.empty()) {  // batches are durable: CheckProducers holds the log to them
      ++it;
      continue;
    }
    if (info != infos.end() && info->batches_retained == 0 && info->epoch <= p.epoch) {
      // This bump, or an earlier one, survived: it must be newer than the log's batches.
      if (d != derived.end()) REQUIRE(info->epoch > d->second.epoch);
      // A bump is synced before InitProducer returns it: only a fresh id may be forgotten.
      REQUIRE(info->epoch == p.epoch);
      it->second = ModelProducer{.epoch = info->epoch};
      ++it;
      continue;
    }
    // A fresh id that wrote nothing yet has nothing to fence: forgetting it is harmless. A
    // bumped epoch must never be forgotten (InitProducer syncs it before returning it).
    REQUIRE(p.epoch == 0);
    ++forgotten;
    if (d == derived.end()) {
      it = m->producers.erase(it);
    } else {
      it->second = d->second;
      ++it;
    }
  }
  return forgotten;
}

// --- the clients --------------------------------------------------------------------------

struct Client {
  ProducerIdentity id;
  int32_t next_seq = 0;
  std::vector<Batch> window;  // sent or not, unacknowledged: at most five
  std::deque<Batch> acked;    // recently acknowledged, for late duplicates
  std::vector<Batch> zombie;  // unacknowledged batches of earlier identities
  std::vector<ProducerIdentity> old_ids;
};

TEST_CASE("Idempotent producers match a model of Kafka's rules", "[property][producer]") {
  uint64_t seed = testing::TestSeed();
  std::mt19937_64 rng(seed);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  auto chance = [&](int percent) { return pick(0, 99) < percent; };
  int total_forgotten = 0;
  std::map<Answer, int> answers;
  for (int run = 0; run < 6; ++run) {
    CAPTURE(run);
    testing::TempDir dir;
    testing::FaultFileSystem fs;
    testing::ManualClock clock;
    LogOptions options{.segment_bytes_max = static_cast<uint64_t>(pick(4096, 16 << 10)),
                       .index_bytes_max = 1024,
                       .index_interval_bytes = 256,
                       .flush = FlushPolicy::EveryAppend(),
                       .file_system = &fs,
                       .clock = &clock,
                       .logger = [](LogLevel, std::string_view) {}};
    auto open = [&] { return testing::OpenLog(dir.path(), options); };
    std::unique_ptr<Log> log = open();
    Model m;
    std::vector<Client> clients;

    // A client with an id from InitProducer, or (external) one the log never handed out,
    // starting anywhere: near the sequence wrap, and at a high epoch.
    auto new_client = [&](bool external) {
      Client c;
      if (external) {
        c.id = {.producer_id = int64_t{1} << 40 | static_cast<int64_t>(clients.size()),
                .epoch = static_cast<int16_t>(chance(30) ? kMaxEpoch - 1 : pick(0, 5))};
        c.next_seq = static_cast<int32_t>(chance(50) ? kMaxSeq - pick(0, 20) : pick(0, 1000));
      } else {
        auto id = log->InitProducer();
        INFO(id.status().ToString());
        REQUIRE(id.ok());
        REQUIRE(id->epoch == 0);
        REQUIRE(id->producer_id > m.max_id);
        m.max_id = id->producer_id;
        m.producers[id->producer_id] = ModelProducer{};
        c.id = *id;
      }
      clients.push_back(std::move(c));
    };
    new_client(false);
    new_client(false);
    new_client(true);
    new_client(true);

    // Sends `b` (of client `c`, or a zombie's) and checks the log's answer against the model.
    // Returns whether it was acknowledged.
    auto send = [&](const Batch& b) {
      Meta original{};
      Answer expected = m.Decide(b, &original);
      ++answers[expected];
      CAPTURE(b.producer_id, b.epoch, b.first_seq, b.last_seq, static_cast<int>(expected));
      int64_t end = log->end_offset();
      absl::StatusOr<AppendResult> r = log->Append(b.bytes);
      INFO(r.status().ToString());
      switch (expected) {
        case Answer::kAppend: {
          REQUIRE(r.ok());
          REQUIRE_FALSE(r->duplicate);
          Written w = m.Append(b);
          REQUIRE(r->base_offset == w.base_offset);
          REQUIRE(r->last_offset == w.last_offset);
          return true;
        }
        case Answer::kDuplicate:
          REQUIRE(r.ok());
          REQUIRE(r->duplicate);
          REQUIRE(r->base_offset == original.first_offset);
          REQUIRE(r->last_offset == original.last_offset);
          REQUIRE(log->end_offset() == end);
          return true;
        case Answer::kOutOfOrder:
          REQUIRE(GetErrorCode(r.status()) == ErrorCode::kOutOfOrderSequenceNumber);
          REQUIRE(log->end_offset() == end);
          return false;
        case Answer::kInvalidEpoch:
          REQUIRE(GetErrorCode(r.status()) == ErrorCode::kInvalidProducerEpoch);
          REQUIRE(log->end_offset() == end);
          return false;
      }
      return false;
    };
    auto ack = [&](Client& c, size_t window_index) {
      c.acked.push_back(c.window[window_index]);
      if (c.acked.size() > 8) c.acked.pop_front();
      c.window.erase(c.window.begin() + static_cast<std::ptrdiff_t>(window_index));
    };

    for (int step = 0; step < 800; ++step) {
      CAPTURE(step);
      auto& c = clients[static_cast<size_t>(pick(0, static_cast<int64_t>(clients.size()) - 1))];
      int op = static_cast<int>(pick(0, 99));
      CAPTURE(op, c.id.producer_id, c.id.epoch);
      if (op < 40) {
        // A new batch, sent at once.
        if (c.window.size() >= kRetained) continue;
        int records = static_cast<int>(pick(1, 4));
        c.window.push_back(MakeProducerBatch(c.id.producer_id, c.id.epoch, c.next_seq, records,
                                             clock.NowMs(), rng));
        c.next_seq = AddSeq(c.next_seq, records);
        if (chance(80) && send(c.window.back())) ack(c, c.window.size() - 1);
      } else if (op < 70) {
        // Retry one of the unacknowledged batches: any of them, so out of order too.
        if (c.window.empty()) continue;
        size_t k = static_cast<size_t>(pick(0, static_cast<int64_t>(c.window.size()) - 1));
        if (send(c.window[k])) ack(c, k);
      } else if (op < 78) {
        // A late duplicate of an acknowledged batch (recognised only among the last five).
        if (c.acked.empty()) continue;
        size_t k = static_cast<size_t>(pick(0, static_cast<int64_t>(c.acked.size()) - 1));
        send(c.acked[k]);
      } else if (op < 82) {
        // A zombie: a batch of an earlier identity.
        if (c.zombie.empty()) continue;
        size_t k = static_cast<size_t>(pick(0, static_cast<int64_t>(c.zombie.size()) - 1));
        send(c.zombie[k]);
      } else if (op < 86) {
        // Epoch bump: InitProducer(previous), or a zombie trying the same with an old identity.
        std::optional<ProducerIdentity> previous = c.id;
        bool as_zombie = !c.old_ids.empty() && chance(25);
        if (as_zombie) previous = c.old_ids.back();
        auto state = m.producers.find(previous->producer_id);
        bool fenced = state != m.producers.end() && state->second.epoch > previous->epoch;
        auto next = log->InitProducer(previous);
        INFO(next.status().ToString());
        if (fenced) {
          REQUIRE(GetErrorCode(next.status()) == ErrorCode::kProducerFenced);
          continue;
        }
        REQUIRE(next.ok());
        // Only the epoch the log knows as current is bumped; an identity the log does not know
        // (forgotten, expired) or knows at another epoch gets a fresh id, which cannot collide.
        bool current = state != m.producers.end() && state->second.epoch == previous->epoch;
        if (previous->epoch == kMaxEpoch || !current) {
          REQUIRE(next->producer_id > m.max_id);
          REQUIRE(next->epoch == 0);
          m.max_id = next->producer_id;
        } else {
          REQUIRE(next->producer_id == previous->producer_id);
          REQUIRE(next->epoch == previous->epoch + 1);
        }
        m.producers[next->producer_id] = ModelProducer{.epoch = next->epoch};
        c.old_ids.push_back(c.id);
        c.zombie.insert(c.zombie.end(), c.window.begin(), c.window.end());
        c.zombie.insert(c.zombie.end(), c.acked.begin(), c.acked.end());
        if (c.zombie.size() > 10) c.zombie.erase(c.zombie.begin(), c.zombie.end() - 10);
        c.window.clear();
        c.acked.clear();
        c.id = *next;
        c.next_seq = 0;
      } else if (op < 88) {
        if (clients.size() < 6) new_client(chance(30));
      } else if (op < 91) {
        // Clean reopen: the state survives exactly.
        if (chance(50)) {
          REQUIRE(log->Close().ok());
        }
        log.reset();
        log = open();
        REQUIRE(log->recovery_summary().clean_shutdown);
        CheckLog(*log, m);
        CheckProducers(*log, m);
      } else if (op < 94) {
        // Crash (unsynced writes lost or torn), reopen.
        fs.SimulateCrash(&rng);
        log.reset();
        fs.Restart();
        log = open();
        CheckLog(*log, m);
        total_forgotten += ReconcileAfterCrash(*log, &m);
        CheckProducers(*log, m);
      } else if (op < 96) {
        clock.Advance(std::chrono::seconds(pick(1, 60)));
        REQUIRE(log->Tick().ok());
        CheckProducers(*log, m);
      }
      if (step % 50 == 49) CheckLog(*log, m);
    }
    CheckLog(*log, m);
    CheckProducers(*log, m);
  }
  // The walk must have reached every kind of answer.
  INFO("appended " << answers[Answer::kAppend] << ", duplicates " << answers[Answer::kDuplicate]
                   << ", out of order " << answers[Answer::kOutOfOrder] << ", fenced "
                   << answers[Answer::kInvalidEpoch] << "; pending epochs lost in crashes "
                   << total_forgotten);
  CHECK(answers[Answer::kAppend] > 100);
  CHECK(answers[Answer::kDuplicate] > 20);
  CHECK(answers[Answer::kOutOfOrder] > 20);
  CHECK(answers[Answer::kInvalidEpoch] > 5);
}

}  // namespace
}  // namespace brook
