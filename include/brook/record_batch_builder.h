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

#include "brook/detail/default_init_allocator.h"
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
  // Codec for the records section, framed as Kafka frames it (brook/compression.h). A codec this
  // build lacks (CompressionSupported() false) is not an error: Finish() then writes the batch
  // uncompressed, which every reader accepts, and compression() says so. Callers that must
  // compress check CompressionSupported() when they are configured. Default: none.
  Compression compression = Compression::kNone;
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
  // Before Finish: the size of the batch uncompressed (it grows with each Append). After: the
  // size of the finished batch, compressed or not.
  size_t size_bytes() const { return finished_ ? finished_bytes().size() : buffer_.size(); }
  bool finished() const { return finished_; }
  // The codec of the finished batch: options.compression, or kNone when this build cannot
  // compress with it. Before Finish, the codec Finish will try.
  Compression compression() const { return compression_; }

  // Sets the idempotent-producer fields (a producer numbers a batch when it sends it, not when
  // it starts it). Requires !finished().
  void SetProducer(int64_t producer_id, int16_t producer_epoch, int32_t base_sequence) {
    options_.producer_id = producer_id;
    options_.producer_epoch = producer_epoch;
    options_.base_sequence = base_sequence;
  }

  // Seals the batch (compressing the records if asked, then header and CRC) and returns its bytes,
  // valid until the next Reset() or the builder's destruction. Calling it again returns the same
  // bytes. Uncompressed batches are sealed in place, with no copy.
  std::span<const std::byte> Finish();

  // Starts a new, empty batch, keeping the buffer's capacity.
  void Reset(RecordBatchOptions options);
  void Reset() { Reset(options_); }

 private:
  std::span<const std::byte> finished_bytes() const {
    return compression_ == Compression::kNone ? std::span<const std::byte>(buffer_)
                                              : std::span<const std::byte>(compressed_);
  }
  void SealHeader(std::span<std::byte> batch) const;

  RecordBatchOptions options_;
  Compression compression_ = Compression::kNone;
  // The header and the records, uncompressed. Appends grow it without zeroing first.
  std::vector<std::byte, detail::DefaultInitAllocator<std::byte>> buffer_;
  // The finished batch when compressed (capacity kept across Reset, like buffer_).
  std::vector<std::byte> compressed_;
  int32_t records_count_ = 0;
  int64_t base_timestamp_ = kNoTimestamp;
  int64_t max_timestamp_ = kNoTimestamp;
  bool finished_ = false;
};

}  // namespace brook

#endif  // BROOK_RECORD_BATCH_BUILDER_H_
