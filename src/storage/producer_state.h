// The idempotent-producer state of one Log: for each producer id, its epoch and the metadata of
// its last five batches, checked on every append exactly as a Kafka partition leader does
// (shared/reference/kafka-internals.md §6), plus the snapshot files that let Open rebuild it
// without reading the whole log.
//
// Thread safety: none; the Log calls it under its append mutex.

#ifndef BROOK_STORAGE_PRODUCER_STATE_H_
#define BROOK_STORAGE_PRODUCER_STATE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "brook/log.h"
#include "brook/record_batch.h"

namespace brook::storage {

// Kafka's NUM_BATCHES_TO_RETAIN: how many batches per producer a retry is matched against, so a
// client may have at most this many unacknowledged batches per partition.
inline constexpr int kProducerBatchesRetained = 5;

// A batch a producer wrote.
struct ProducerBatch {
  int32_t first_sequence = 0;
  int32_t last_sequence = 0;
  int64_t first_offset = 0;
  int64_t last_offset = 0;
  int64_t max_timestamp = kNoTimestamp;
};

struct ProducerEntry {
  int64_t producer_id = kNoProducerId;
  int16_t epoch = kNoProducerEpoch;
  // The newest batch's max timestamp (Kafka's lastTimestamp), for expiry.
  int64_t last_timestamp = kNoTimestamp;
  // How many recent batches are held (batch(0) the oldest). None after an epoch bump.
  int batch_count = 0;
  // A ring: a new batch overwrites the oldest in place (shifting the array on every append
  // measured as a store-forwarding stall on the 1-record append path). ring_first moves only
  // once the ring is full and is 0 whenever batch_count is reset, so the held batches are
  // always slots [0, batch_count).
  std::array<ProducerBatch, kProducerBatchesRetained> ring{};
  int ring_first = 0;

  const ProducerBatch& batch(int i) const {
    int at = ring_first + i;  // < 2 * kProducerBatchesRetained: no division needed
    return ring[static_cast<size_t>(at >= kProducerBatchesRetained ? at - kProducerBatchesRetained
                                                                   : at)];
  }
  const ProducerBatch* last_batch() const {
    return batch_count == 0 ? nullptr : &batch(batch_count - 1);
  }
  // The last sequence written, or kNoSequence when none since the epoch began.
  int32_t last_sequence() const {
    return batch_count == 0 ? kNoSequence : last_batch()->last_sequence;
  }
  void AddBatch(const ProducerBatch& batch);
};

// The last sequence of a batch of `last_offset_delta + 1` records starting at `first` (sequences
// wrap from INT32_MAX to 0, as Kafka's DefaultRecordBatch.incrementSequence).
int32_t IncrementSequence(int32_t first, int32_t last_offset_delta);

class ProducerStateMap {
 public:
  ProducerStateMap() = default;
  // Movable (a decoded snapshot moves in), not copyable: see hot_.
  ProducerStateMap(ProducerStateMap&& other) noexcept : producers_(std::move(other.producers_)) {
    other.hot_ = nullptr;
  }
  ProducerStateMap& operator=(ProducerStateMap&& other) noexcept {
    producers_ = std::move(other.producers_);
    hot_ = nullptr;
    other.hot_ = nullptr;
    return *this;
  }
  ProducerStateMap(const ProducerStateMap&) = delete;
  ProducerStateMap& operator=(const ProducerStateMap&) = delete;

  // Checks a client batch from `producer_id` >= 0 against the producer's state: kAppend (append
  // it, then call Record), kDuplicate (a retry of one of its last five batches, same epoch and
  // sequences: *original is that batch; don't append) or kRejected (*error says why, with Kafka's
  // code: kInvalidProducerEpoch for a fenced, older epoch; kOutOfOrderSequenceNumber for a gap, a
  // new epoch not starting at 0, or a retry too old to recognise). No allocation unless rejected:
  // this runs on every idempotent append.
  enum class Verdict : uint8_t { kAppend, kDuplicate, kRejected };
  Verdict Check(int64_t producer_id, int16_t epoch, int32_t first_sequence,
                int32_t last_offset_delta, ProducerBatch* original, absl::Status* error) const;

  // Records a batch appended at [batch.first_offset, batch.last_offset]. No checks: recovery
  // replays the log through here.
  void Record(int64_t producer_id, int16_t epoch, const ProducerBatch& batch);
  // Records the producer fields of a stored batch whose base offset is its real one, if it has
  // a producer id.
  void Replay(const RecordBatchView& batch);

  // Starts `epoch` for the producer at `now_ms`: its batches are forgotten, older epochs are
  // fenced and its next batch must carry sequence 0.
  void BeginEpoch(int64_t producer_id, int16_t epoch, int64_t now_ms);

  // Puts back what Find returned before a change (nullopt: the producer was unknown).
  void Restore(int64_t producer_id, const std::optional<ProducerEntry>& entry);

  const ProducerEntry* Find(int64_t producer_id) const;
  size_t size() const { return producers_.size(); }
  // Every producer, by id.
  std::vector<ProducerEntry> Entries() const;

  // Forgets producers whose newest batch is older than `idle_ms` at `now_ms`. Returns how many.
  int RemoveExpired(int64_t now_ms, int64_t idle_ms);
  // Forgets producers whose newest batch ends below `start_offset` (retention removed it).
  int RemoveBefore(int64_t start_offset);
  // Forgets every producer (a truncation rebuilds them from a snapshot and the log).
  void Clear() {
    producers_.clear();
    hot_ = nullptr;
  }

  // The snapshot file format (docs/format.md): version, CRC-32C of the rest, the offset it was
  // taken at, then every producer with its retained batches.
  std::vector<std::byte> EncodeSnapshot(int64_t offset) const;
  // Decodes a snapshot taken at `offset`. DataLoss naming `path` and the byte when the bytes are
  // damaged or inconsistent; never allocates more than the input justifies.
  static absl::StatusOr<ProducerStateMap> DecodeSnapshot(std::span<const std::byte> bytes,
                                                         int64_t offset, const std::string& path);

 private:
  absl::flat_hash_map<int64_t, ProducerEntry> producers_;
  // The entry of the producer last checked or recorded, or nullptr: the append path checks and
  // records the same producer, usually the same one as the append before. Every insert sets it
  // afresh and every erase resets it (either may move entries).
  mutable ProducerEntry* hot_ = nullptr;
};

// "00000000000000000042.snapshot".
std::string SnapshotFileName(int64_t offset);
inline constexpr char kSnapshotExtension[] = ".snapshot";
// Snapshot files are never larger than this (a bound for reading untrusted files).
inline constexpr uint64_t kSnapshotBytesMax = uint64_t{1} << 30;

}  // namespace brook::storage

#endif  // BROOK_STORAGE_PRODUCER_STATE_H_
