// brook/record_batch_builder.h — writes one Kafka RecordBatch v2.
//
//   brook::RecordBatchBuilder builder;
//   builder.Append(now_ms, "user-42", R"({"event":"login"})");
//   builder.Append(now_ms, std::nullopt, "no key", {{"trace", "abc"}});
//   std::span<const std::byte> batch = builder.Finish();
//   log->Append(batch);
//   builder.Reset();
//
// Records get consecutive offset deltas starting at 0 and the batch's base offset is 0 unless
// set in the options; Log::Append assigns the real offsets. Finish() fills in the header and the
// CRC. Single-threaded: one builder per thread. The builder owns its buffer and reuses it after
// Reset(), so a steady stream of batches allocates nothing.

#ifndef BROOK_RECORD_BATCH_BUILDER_H_
#define BROOK_RECORD_BATCH_BUILDER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "brook/record_batch.h"

namespace brook {

struct RecordBatchOptions {
  // Default: 0 (Log::Append overwrites it).
  int64_t base_offset = 0;
  // Idempotent-producer fields. Default: none (-1).
  int64_t producer_id = kNoProducerId;
  int16_t producer_epoch = kNoProducerEpoch;
  int32_t base_sequence = kNoSequence;
  // Default: none (-1).
  int32_t partition_leader_epoch = kNoPartitionLeaderEpoch;
  // Default: false.
  bool transactional = false;
  // Default: false. Control batches carry transaction markers; clients never produce them.
  bool control = false;
  // Default: CreateTime (the timestamps passed to Append).
  TimestampType timestamp_type = TimestampType::kCreateTime;
};

class RecordBatchBuilder {
 public:
  explicit RecordBatchBuilder(RecordBatchOptions options = {});

  // Adds a record. A nullopt key or value is null (a null value is a tombstone); an empty
  // string_view is an empty, non-null one. The bytes are copied. Requires !finished().
  void Append(int64_t timestamp, std::optional<std::string_view> key,
              std::optional<std::string_view> value, std::span<const Header> headers = {});

  int32_t records_count() const { return records_count_; }
  bool empty() const { return records_count_ == 0; }
  // The size the batch has once finished (it grows with each Append).
  size_t size_bytes() const { return buffer_.size(); }
  bool finished() const { return finished_; }

  // Sets the idempotent-producer fields (a producer numbers a batch when it sends it, not when
  // it starts it). Requires !finished().
  void SetProducer(int64_t producer_id, int16_t producer_epoch, int32_t base_sequence) {
    options_.producer_id = producer_id;
    options_.producer_epoch = producer_epoch;
    options_.base_sequence = base_sequence;
  }

  // Seals the batch (header and CRC) and returns its bytes, valid until the next Reset() or the
  // builder's destruction. Calling it again returns the same bytes.
  std::span<const std::byte> Finish();

  // Starts a new, empty batch, keeping the buffer's capacity.
  void Reset(RecordBatchOptions options);
  void Reset() { Reset(options_); }

 private:
  RecordBatchOptions options_;
  std::vector<std::byte> buffer_;
  int32_t records_count_ = 0;
  int64_t base_timestamp_ = kNoTimestamp;
  int64_t max_timestamp_ = kNoTimestamp;
  bool finished_ = false;
};

}  // namespace brook

#endif  // BROOK_RECORD_BATCH_BUILDER_H_
