#include "storage/producer_state.h"

#include <algorithm>
#include <limits>

#include "brook/crc32c.h"
#include "brook/detail/endian.h"
#include "brook/status.h"
#include "fmt/format.h"
#include "storage/segment.h"

namespace brook::storage {
namespace {

using detail::LoadBig;
using detail::StoreBig;

// Snapshot layout (docs/format.md), big-endian like everything Kafka writes.
constexpr int16_t kSnapshotVersion = 1;
constexpr size_t kVersionAt = 0;        // int16
constexpr size_t kCrcAt = 2;            // uint32: CRC-32C of [kOffsetAt, end)
constexpr size_t kOffsetAt = 6;         // int64: the offset the snapshot was taken at
constexpr size_t kCountAt = 14;         // int32: producers
constexpr size_t kEntriesAt = 18;       // producers, by id
constexpr size_t kEntryFixedSize = 19;  // id i64, epoch i16, last timestamp i64, batches i8
constexpr size_t kBatchSize =
    32;  // first seq i32, last seq i32, first off i64, last off i64, ts i64

bool InSequence(int32_t last, int32_t next) {
  return (last == std::numeric_limits<int32_t>::max() && next == 0) ||
         static_cast<int64_t>(next) == static_cast<int64_t>(last) + 1;
}

}  // namespace

int32_t IncrementSequence(int32_t first, int32_t last_offset_delta) {
  // Both are non-negative, so one subtraction wraps (no division on the append path).
  int64_t next = static_cast<int64_t>(first) + last_offset_delta;
  constexpr int64_t kWrap = int64_t{std::numeric_limits<int32_t>::max()} + 1;
  return static_cast<int32_t>(next >= kWrap ? next - kWrap : next);
}

void ProducerEntry::AddBatch(const ProducerBatch& added) {
  size_t at;
  if (batch_count == kProducerBatchesRetained) {
    at = static_cast<size_t>(ring_first);  // the oldest goes
    ring_first = ring_first + 1 == kProducerBatchesRetained ? 0 : ring_first + 1;
  } else {
    at = static_cast<size_t>(batch_count++);  // ring_first is 0 until the ring is full
  }
  // Field by field: `added` was just built field by field on the caller's stack, and a 16-byte
  // vector copy of it failed store-to-load forwarding (the hottest instruction of the
  // idempotent append path in perf).
  ProducerBatch& slot = ring[at];
  slot.first_sequence = added.first_sequence;
  slot.last_sequence = added.last_sequence;
  slot.first_offset = added.first_offset;
  slot.last_offset = added.last_offset;
  slot.max_timestamp = added.max_timestamp;
  last_timestamp = added.max_timestamp;
}

ProducerStateMap::Verdict ProducerStateMap::Check(int64_t producer_id, int16_t epoch,
                                                  int32_t first_sequence, int32_t last_offset_delta,
                                                  ProducerBatch* original,
                                                  absl::Status* error) const {
  // One producer per partition is the common case: the entry of the last producer seen saves
  // the hash lookup (see hot_).
  if (hot_ == nullptr || hot_->producer_id != producer_id) {
    auto it = producers_.find(producer_id);
    // Unknown producer (new, expired, or its batches removed by retention): any sequence goes,
    // as in Kafka since 2.5 (KIP-360).
    if (it == producers_.end()) return Verdict::kAppend;
    hot_ = const_cast<ProducerEntry*>(&it->second);
  }
  const ProducerEntry& entry = *hot_;
  int32_t last_sequence = IncrementSequence(first_sequence, last_offset_delta);
  if (epoch == entry.epoch) {
    // Slots [0, batch_count) are the held batches in some order (see ProducerEntry::ring): no
    // index arithmetic on this path, which runs on every idempotent append.
    for (int i = 0; i < entry.batch_count; ++i) {
      const ProducerBatch& b = entry.ring[static_cast<size_t>(i)];
      if (b.first_sequence == first_sequence && b.last_sequence == last_sequence) {
        *original = b;
        return Verdict::kDuplicate;
      }
    }
  }
  if (epoch < entry.epoch) {
    *error = WithErrorCode(
        absl::FailedPreconditionError(fmt::format(
            "producer {} epoch {} is fenced: epoch {} has begun", producer_id, epoch, entry.epoch)),
        ErrorCode::kInvalidProducerEpoch);
    return Verdict::kRejected;
  }
  if (epoch > entry.epoch) {
    if (first_sequence != 0 && entry.epoch != kNoProducerEpoch) {
      *error =
          WithErrorCode(absl::FailedPreconditionError(fmt::format(
                            "producer {} began epoch {} at sequence {}; a new epoch starts at 0",
                            producer_id, epoch, first_sequence)),
                        ErrorCode::kOutOfOrderSequenceNumber);
      return Verdict::kRejected;
    }
    return Verdict::kAppend;
  }
  int32_t expected_last = entry.last_sequence();
  if (!InSequence(expected_last, first_sequence)) {
    *error = WithErrorCode(
        absl::FailedPreconditionError(fmt::format(
            "producer {} epoch {} sent sequence {} after {}; expected {}", producer_id, epoch,
            first_sequence, expected_last,
            expected_last == std::numeric_limits<int32_t>::max() ? 0 : expected_last + 1)),
        ErrorCode::kOutOfOrderSequenceNumber);
    return Verdict::kRejected;
  }
  return Verdict::kAppend;
}

void ProducerStateMap::Record(int64_t producer_id, int16_t epoch, const ProducerBatch& batch) {
  // The append path calls Check, writes the batch, then Record: reuse Check's lookup.
  ProducerEntry& entry = hot_ != nullptr && hot_->producer_id == producer_id
                             ? *hot_
                             : producers_[producer_id];  // may insert (and move entries)
  hot_ = &entry;
  entry.producer_id = producer_id;
  if (epoch != entry.epoch) {
    entry.epoch = epoch;
    entry.batch_count = 0;
    entry.ring_first = 0;
  }
  entry.AddBatch(batch);
}

void ProducerStateMap::Replay(const RecordBatchView& batch) {
  if (batch.producer_id() < 0 || batch.is_control()) return;
  Record(batch.producer_id(), batch.producer_epoch(),
         ProducerBatch{
             .first_sequence = batch.base_sequence(),
             .last_sequence = IncrementSequence(batch.base_sequence(), batch.last_offset_delta()),
             .first_offset = batch.base_offset(),
             .last_offset = batch.last_offset(),
             .max_timestamp = batch.max_timestamp(),
         });
}

void ProducerStateMap::BeginEpoch(int64_t producer_id, int16_t epoch, int64_t now_ms) {
  ProducerEntry& entry = producers_[producer_id];  // may insert (and move entries)
  hot_ = &entry;
  entry.producer_id = producer_id;
  entry.epoch = epoch;
  entry.batch_count = 0;
  entry.ring_first = 0;
  entry.last_timestamp = now_ms;
}

void ProducerStateMap::Restore(int64_t producer_id, const std::optional<ProducerEntry>& entry) {
  hot_ = nullptr;
  if (entry) {
    producers_[producer_id] = *entry;
  } else {
    producers_.erase(producer_id);
  }
}

const ProducerEntry* ProducerStateMap::Find(int64_t producer_id) const {
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? nullptr : &it->second;
}

std::vector<ProducerEntry> ProducerStateMap::Entries() const {
  std::vector<ProducerEntry> entries;
  entries.reserve(producers_.size());
  for (const auto& [id, entry] : producers_) entries.push_back(entry);
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.producer_id < b.producer_id; });
  return entries;
}

int ProducerStateMap::RemoveExpired(int64_t now_ms, int64_t idle_ms) {
  hot_ = nullptr;
  // A producer that began an epoch but wrote nothing yet counts as active since it began.
  return static_cast<int>(absl::erase_if(producers_, [&](const auto& kv) {
    return kv.second.last_timestamp != kNoTimestamp && now_ms - kv.second.last_timestamp >= idle_ms;
  }));
}

int ProducerStateMap::RemoveBefore(int64_t start_offset) {
  hot_ = nullptr;
  return static_cast<int>(absl::erase_if(producers_, [&](const auto& kv) {
    const ProducerBatch* last = kv.second.last_batch();
    return last != nullptr && last->last_offset < start_offset;
  }));
}

std::vector<std::byte> ProducerStateMap::EncodeSnapshot(int64_t offset) const {
  std::vector<ProducerEntry> entries = Entries();
  size_t size = kEntriesAt;
  for (const ProducerEntry& e : entries) {
    size += kEntryFixedSize + kBatchSize * static_cast<size_t>(e.batch_count);
  }
  std::vector<std::byte> out(size);
  std::byte* p = out.data();
  StoreBig<int16_t>(p + kVersionAt, kSnapshotVersion);
  StoreBig<int64_t>(p + kOffsetAt, offset);
  StoreBig<int32_t>(p + kCountAt, static_cast<int32_t>(entries.size()));
  p += kEntriesAt;
  for (const ProducerEntry& e : entries) {
    StoreBig<int64_t>(p, e.producer_id);
    StoreBig<int16_t>(p + 8, e.epoch);
    StoreBig<int64_t>(p + 10, e.last_timestamp);
    StoreBig<int8_t>(p + 18, static_cast<int8_t>(e.batch_count));
    p += kEntryFixedSize;
    for (int i = 0; i < e.batch_count; ++i) {
      const ProducerBatch& b = e.batch(i);
      StoreBig<int32_t>(p, b.first_sequence);
      StoreBig<int32_t>(p + 4, b.last_sequence);
      StoreBig<int64_t>(p + 8, b.first_offset);
      StoreBig<int64_t>(p + 16, b.last_offset);
      StoreBig<int64_t>(p + 24, b.max_timestamp);
      p += kBatchSize;
    }
  }
  StoreBig<uint32_t>(out.data() + kCrcAt, Crc32c(out.data() + kOffsetAt, out.size() - kOffsetAt));
  return out;
}

absl::StatusOr<ProducerStateMap> ProducerStateMap::DecodeSnapshot(std::span<const std::byte> bytes,
                                                                  int64_t offset,
                                                                  const std::string& path) {
  auto damaged = [&](size_t at, std::string_view why) {
    return WithErrorCode(absl::DataLossError(fmt::format(
                             "producer snapshot {} is damaged at byte {}: {}", path, at, why)),
                         ErrorCode::kCorruptMessage);
  };
  if (bytes.size() < kEntriesAt) return damaged(0, "shorter than its header");
  const std::byte* data = bytes.data();
  int16_t version = LoadBig<int16_t>(data + kVersionAt);
  if (version != kSnapshotVersion) {
    return damaged(kVersionAt, fmt::format("version {}, expected {}", version, kSnapshotVersion));
  }
  if (LoadBig<uint32_t>(data + kCrcAt) != Crc32c(data + kOffsetAt, bytes.size() - kOffsetAt)) {
    return damaged(kCrcAt, "checksum mismatch");
  }
  if (LoadBig<int64_t>(data + kOffsetAt) != offset) {
    return damaged(kOffsetAt, fmt::format("taken at offset {} but named {}",
                                          LoadBig<int64_t>(data + kOffsetAt), offset));
  }
  int32_t count = LoadBig<int32_t>(data + kCountAt);
  if (count < 0 || static_cast<uint64_t>(count) > (bytes.size() - kEntriesAt) / kEntryFixedSize) {
    return damaged(kCountAt,
                   fmt::format("{} producers do not fit in {} bytes", count, bytes.size()));
  }
  ProducerStateMap map;
  map.producers_.reserve(static_cast<size_t>(count));
  size_t at = kEntriesAt;
  int64_t previous_id = -1;
  for (int32_t i = 0; i < count; ++i) {
    if (bytes.size() - at < kEntryFixedSize) return damaged(at, "truncated producer");
    ProducerEntry e;
    e.producer_id = LoadBig<int64_t>(data + at);
    e.epoch = LoadBig<int16_t>(data + at + 8);
    e.last_timestamp = LoadBig<int64_t>(data + at + 10);
    e.batch_count = LoadBig<int8_t>(data + at + 18);
    if (e.producer_id <= previous_id) return damaged(at, "producer ids out of order");
    if (e.epoch < 0) return damaged(at + 8, "negative epoch");
    if (e.batch_count < 0 || e.batch_count > kProducerBatchesRetained) {
      return damaged(at + 18, fmt::format("{} batches", e.batch_count));
    }
    previous_id = e.producer_id;
    at += kEntryFixedSize;
    if ((bytes.size() - at) / kBatchSize < static_cast<size_t>(e.batch_count)) {
      return damaged(at, "truncated batches");
    }
    int64_t previous_last = -1;
    for (int b = 0; b < e.batch_count; ++b) {
      ProducerBatch& batch = e.ring[static_cast<size_t>(b)];  // ring_first is 0
      batch.first_sequence = LoadBig<int32_t>(data + at);
      batch.last_sequence = LoadBig<int32_t>(data + at + 4);
      batch.first_offset = LoadBig<int64_t>(data + at + 8);
      batch.last_offset = LoadBig<int64_t>(data + at + 16);
      batch.max_timestamp = LoadBig<int64_t>(data + at + 24);
      if (batch.first_sequence < 0 || batch.last_sequence < 0 ||
          batch.first_offset <= previous_last || batch.last_offset < batch.first_offset ||
          batch.last_offset >= offset) {
        return damaged(at, "inconsistent batch");
      }
      previous_last = batch.last_offset;
      at += kBatchSize;
    }
    map.producers_.emplace(e.producer_id, e);
  }
  if (at != bytes.size()) return damaged(at, "trailing bytes");
  return map;
}

std::string SnapshotFileName(int64_t offset) {
  return SegmentFileStem(offset) + kSnapshotExtension;
}

}  // namespace brook::storage
