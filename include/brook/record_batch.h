// brook/record_batch.h — zero-copy views of Kafka RecordBatch v2 (magic 2), brook's format on disk
// and in memory.
//
// A RecordBatchView points into bytes it does not own (a mapped segment, a network buffer, a
// builder's buffer): those bytes must outlive the view and every RecordView taken from it.
// `RecordBatchView::Parse` validates before anything is read: the header's length, magic and
// counts, the CRC-32C over bytes [21, end), and (with Verify::kFull) the structure of every record.
// Bad bytes give DataLoss (checksum) or InvalidArgument (structure) naming the byte position;
// parsing never reads outside the span, and never allocates except to decompress a compressed
// batch's records for Verify::kFull (bounded by kMaxDecompressedRecordsBytes).
//
//   absl::StatusOr<brook::RecordBatchView> batch = brook::RecordBatchView::Parse(bytes);
//   if (!batch.ok()) return batch.status();
//   for (const brook::RecordView& record : batch->records()) {
//     Use(record.offset(), record.key(), record.value());
//   }
//
// Views are immutable values: thread-safe to read from many threads, cheap to copy.
// Byte layout: docs/format.md and shared/reference/kafka-internals.md §1.

#ifndef BROOK_RECORD_BATCH_H_
#define BROOK_RECORD_BATCH_H_

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "brook/detail/endian.h"
#include "brook/detail/varint.h"

namespace brook {

// Byte positions of the RecordBatch v2 header fields. Persistent: never change.
namespace batch_layout {
inline constexpr size_t kBaseOffset = 0;             // int64
inline constexpr size_t kLength = 8;                 // int32: batch size - 12
inline constexpr size_t kPartitionLeaderEpoch = 12;  // int32, not covered by the CRC
inline constexpr size_t kMagic = 16;                 // int8, always 2
inline constexpr size_t kCrc = 17;                   // uint32 CRC-32C of [kAttributes, end)
inline constexpr size_t kAttributes = 21;            // int16
inline constexpr size_t kLastOffsetDelta = 23;       // int32
inline constexpr size_t kBaseTimestamp = 27;         // int64
inline constexpr size_t kMaxTimestamp = 35;          // int64
inline constexpr size_t kProducerId = 43;            // int64
inline constexpr size_t kProducerEpoch = 51;         // int16
inline constexpr size_t kBaseSequence = 53;          // int32
inline constexpr size_t kRecordsCount = 57;          // int32
inline constexpr size_t kHeaderSize = 61;            // first record starts here
inline constexpr size_t kLogOverhead = 12;           // base offset + length
inline constexpr int8_t kMagicValue = 2;
static_assert(kRecordsCount + 4 == kHeaderSize);
static_assert(kCrc + 4 == kAttributes);

inline constexpr uint16_t kCompressionMask = 0x07;
inline constexpr uint16_t kTimestampTypeMask = 0x08;
inline constexpr uint16_t kTransactionalFlag = 0x10;
inline constexpr uint16_t kControlFlag = 0x20;
inline constexpr uint16_t kDeleteHorizonFlag = 0x40;
}  // namespace batch_layout

inline constexpr int64_t kNoTimestamp = -1;
inline constexpr int64_t kNoProducerId = -1;
inline constexpr int16_t kNoProducerEpoch = -1;
inline constexpr int32_t kNoSequence = -1;
inline constexpr int32_t kNoPartitionLeaderEpoch = -1;

enum class Compression : uint8_t { kNone = 0, kGzip = 1, kSnappy = 2, kLz4 = 3, kZstd = 4 };
enum class TimestampType : uint8_t { kCreateTime = 0, kLogAppendTime = 1 };

// A record header: a non-null UTF-8 key and a nullable value.
struct Header {
  std::string_view key;
  std::optional<std::string_view> value;
};

// One record inside a batch, decoded in place. Valid while the batch's bytes are.
class RecordView {
 public:
  class HeaderIterator;
  class HeaderRange;

  int64_t offset() const { return offset_; }
  int64_t timestamp() const { return timestamp_; }
  // Null and empty are different: has_key() is false for a null key.
  bool has_key() const { return key_size_ >= 0; }
  std::string_view key() const { return View(key_, key_size_); }
  // A null value is a tombstone in a compacted log.
  bool has_value() const { return value_size_ >= 0; }
  std::string_view value() const { return View(value_, value_size_); }
  int32_t header_count() const { return header_count_; }
  HeaderRange headers() const;
  // The record's encoding, from its length varint to its last header byte.
  std::span<const std::byte> bytes() const { return {begin_, static_cast<size_t>(end_ - begin_)}; }

  // Decodes the record at [p, end) of a batch with the given base values. Returns the byte after
  // it, or nullptr if the bytes are not a well-formed record. Never reads outside [p, end).
  static const std::byte* Decode(const std::byte* p, const std::byte* end, int64_t base_offset,
                                 int64_t base_timestamp, std::optional<int64_t> log_append_time,
                                 RecordView* out);

 private:
  static std::string_view View(const std::byte* p, int32_t size) {
    return size < 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(p), size);
  }

  const std::byte* begin_ = nullptr;
  const std::byte* end_ = nullptr;
  int64_t offset_ = 0;
  int64_t timestamp_ = 0;
  const std::byte* key_ = nullptr;
  const std::byte* value_ = nullptr;
  const std::byte* headers_ = nullptr;
  int32_t key_size_ = -1;
  int32_t value_size_ = -1;
  int32_t header_count_ = 0;
};

class RecordView::HeaderIterator {
 public:
  using value_type = Header;
  using difference_type = std::ptrdiff_t;
  HeaderIterator() = default;
  HeaderIterator(const std::byte* p, const std::byte* end, int32_t remaining);
  Header operator*() const { return current_; }
  HeaderIterator& operator++();
  HeaderIterator operator++(int) {
    HeaderIterator copy = *this;
    ++*this;
    return copy;
  }
  bool operator==(const HeaderIterator& other) const { return remaining_ == other.remaining_; }

 private:
  void DecodeCurrent();
  const std::byte* p_ = nullptr;
  const std::byte* next_ = nullptr;
  const std::byte* end_ = nullptr;
  int32_t remaining_ = 0;
  Header current_;
};

class RecordView::HeaderRange {
 public:
  HeaderRange(const std::byte* p, const std::byte* end, int32_t count)
      : p_(p), end_(end), count_(count) {}
  HeaderIterator begin() const { return HeaderIterator(p_, end_, count_); }
  HeaderIterator end() const { return HeaderIterator(); }

 private:
  const std::byte* p_;
  const std::byte* end_;
  int32_t count_;
};

inline RecordView::HeaderRange RecordView::headers() const {
  return HeaderRange(headers_, end_, header_count_);
}

// How much of a batch `RecordBatchView::Parse` checks.
enum class Verify : uint8_t {
  kHeader,    // length, magic and counts; no CRC, no record walk
  kChecksum,  // kHeader and the CRC-32C
  // kChecksum and the structure of every record. A compressed batch is decompressed (into a
  // temporary buffer, at most kMaxDecompressedRecordsBytes) to check its records, as Kafka's
  // leader validates produced batches; a codec this build lacks fails with
  // ErrorCode::kUnsupportedCompressionType.
  kFull,
};

// The most bytes of records Verify::kFull decompresses from one compressed batch; a batch that
// inflates past it is rejected (InvalidArgument, ErrorCode::kMessageTooLarge), so a small hostile
// batch cannot make brook allocate without bound. 64 MiB.
inline constexpr size_t kMaxDecompressedRecordsBytes = size_t{64} << 20;

// A RecordBatch v2 in memory. See the file comment.
class RecordBatchView {
 public:
  class RecordIterator;
  class RecordRange;

  // Parses the batch that starts at bytes[0]; `bytes` may extend past it (a segment, a buffer of
  // several batches). Returns InvalidArgument when the bytes are too short or malformed and
  // DataLoss when the CRC does not match.
  static absl::StatusOr<RecordBatchView> Parse(std::span<const std::byte> bytes,
                                               Verify verify = Verify::kFull);

  // The total size of the batch starting at bytes[0], read from its length field, if at least
  // the first 17 bytes are there; nullopt otherwise. Does not validate anything else.
  static std::optional<size_t> PeekSize(std::span<const std::byte> bytes);

  std::span<const std::byte> bytes() const { return bytes_; }
  size_t size_bytes() const { return bytes_.size(); }

  int64_t base_offset() const { return Load<int64_t>(batch_layout::kBaseOffset); }
  int32_t partition_leader_epoch() const {
    return Load<int32_t>(batch_layout::kPartitionLeaderEpoch);
  }
  uint32_t crc() const { return Load<uint32_t>(batch_layout::kCrc); }
  int16_t attributes() const { return Load<int16_t>(batch_layout::kAttributes); }
  int32_t last_offset_delta() const { return Load<int32_t>(batch_layout::kLastOffsetDelta); }
  int64_t base_timestamp() const { return Load<int64_t>(batch_layout::kBaseTimestamp); }
  int64_t max_timestamp() const { return Load<int64_t>(batch_layout::kMaxTimestamp); }
  int64_t producer_id() const { return Load<int64_t>(batch_layout::kProducerId); }
  int16_t producer_epoch() const { return Load<int16_t>(batch_layout::kProducerEpoch); }
  int32_t base_sequence() const { return Load<int32_t>(batch_layout::kBaseSequence); }
  int32_t records_count() const { return Load<int32_t>(batch_layout::kRecordsCount); }

  // Parse rejects batches whose last offset would overflow int64.
  int64_t last_offset() const { return base_offset() + last_offset_delta(); }
  int64_t next_offset() const { return last_offset() + 1; }
  Compression compression() const {
    return static_cast<Compression>(attributes() & batch_layout::kCompressionMask);
  }
  TimestampType timestamp_type() const {
    return (attributes() & batch_layout::kTimestampTypeMask) ? TimestampType::kLogAppendTime
                                                             : TimestampType::kCreateTime;
  }
  bool is_transactional() const { return attributes() & batch_layout::kTransactionalFlag; }
  bool is_control() const { return attributes() & batch_layout::kControlFlag; }
  bool has_delete_horizon() const { return attributes() & batch_layout::kDeleteHorizonFlag; }
  // Recomputes the CRC and compares it with the stored one.
  bool crc_ok() const;

  // The records, decoded lazily. Empty for compressed batches: views cannot point into
  // decompressed bytes; DecompressBatch (brook/compression.h) gives an uncompressed copy.
  // On a batch parsed with less than Verify::kFull, iteration stops early at malformed bytes.
  RecordRange records() const;

 private:
  explicit RecordBatchView(std::span<const std::byte> bytes) : bytes_(bytes) {}
  template <typename T>
  T Load(size_t at) const {
    return detail::LoadBig<T>(bytes_.data() + at);
  }

  std::span<const std::byte> bytes_;
};

class RecordBatchView::RecordIterator {
 public:
  using value_type = RecordView;
  using difference_type = std::ptrdiff_t;
  RecordIterator() = default;
  RecordIterator(const RecordBatchView& batch, const std::byte* p, const std::byte* end,
                 int32_t remaining);
  const RecordView& operator*() const { return current_; }
  const RecordView* operator->() const { return &current_; }
  RecordIterator& operator++() {
    p_ = next_;
    --remaining_;
    Load();
    return *this;
  }
  RecordIterator operator++(int) {
    RecordIterator copy = *this;
    ++*this;
    return copy;
  }
  bool operator==(const RecordIterator& other) const { return remaining_ == other.remaining_; }

 private:
  void Load() {
    if (remaining_ <= 0) {
      remaining_ = 0;
      return;
    }
    next_ =
        RecordView::Decode(p_, end_, base_offset_, base_timestamp_, log_append_time_, &current_);
    if (next_ == nullptr) remaining_ = 0;  // malformed: stop
  }

  const std::byte* p_ = nullptr;
  const std::byte* next_ = nullptr;
  const std::byte* end_ = nullptr;
  int32_t remaining_ = 0;
  int64_t base_offset_ = 0;
  int64_t base_timestamp_ = 0;
  std::optional<int64_t> log_append_time_;
  RecordView current_;
};

class RecordBatchView::RecordRange {
 public:
  RecordRange(const RecordBatchView& batch, int32_t count) : batch_(batch), count_(count) {}
  RecordIterator begin() const {
    const std::byte* data = batch_.bytes().data();
    return RecordIterator(batch_, data + batch_layout::kHeaderSize, data + batch_.bytes().size(),
                          count_);
  }
  RecordIterator end() const { return RecordIterator(); }
  int32_t size() const { return count_; }

 private:
  RecordBatchView batch_;
  int32_t count_;
};

inline RecordBatchView::RecordRange RecordBatchView::records() const {
  return RecordRange(*this, compression() == Compression::kNone ? records_count() : 0);
}

inline RecordBatchView::RecordIterator::RecordIterator(const RecordBatchView& batch,
                                                       const std::byte* p, const std::byte* end,
                                                       int32_t remaining)
    : p_(p),
      end_(end),
      remaining_(remaining),
      base_offset_(batch.base_offset()),
      base_timestamp_(batch.base_timestamp()) {
  if (batch.timestamp_type() == TimestampType::kLogAppendTime) {
    log_append_time_ = batch.max_timestamp();
  }
  Load();
}

inline const std::byte* RecordView::Decode(const std::byte* p, const std::byte* end,
                                           int64_t base_offset, int64_t base_timestamp,
                                           std::optional<int64_t> log_append_time,
                                           RecordView* out) {
  using detail::DecodeVarint32;
  using detail::DecodeVarint64;
  out->begin_ = p;
  int32_t length;
  p = DecodeVarint32(p, end, &length);
  if (p == nullptr || length < 1 || length > end - p) return nullptr;
  const std::byte* record_end = p + length;
  ++p;  // attributes, unused
  int64_t timestamp_delta;
  p = DecodeVarint64(p, record_end, &timestamp_delta);
  if (p == nullptr) return nullptr;
  int32_t offset_delta;
  p = DecodeVarint32(p, record_end, &offset_delta);
  if (p == nullptr || offset_delta < 0) return nullptr;
  int32_t key_size;
  p = DecodeVarint32(p, record_end, &key_size);
  if (p == nullptr || key_size < -1 || key_size > record_end - p) return nullptr;
  out->key_ = p;
  out->key_size_ = key_size;
  if (key_size > 0) p += key_size;
  int32_t value_size;
  p = DecodeVarint32(p, record_end, &value_size);
  if (p == nullptr || value_size < -1 || value_size > record_end - p) return nullptr;
  out->value_ = p;
  out->value_size_ = value_size;
  if (value_size > 0) p += value_size;
  int32_t header_count;
  p = DecodeVarint32(p, record_end, &header_count);
  if (p == nullptr || header_count < 0) return nullptr;
  out->headers_ = p;
  out->header_count_ = header_count;
  for (int32_t i = 0; i < header_count; ++i) {
    int32_t size;
    p = DecodeVarint32(p, record_end, &size);
    if (p == nullptr || size < 0 || size > record_end - p) return nullptr;
    p += size;
    p = DecodeVarint32(p, record_end, &size);
    if (p == nullptr || size < -1 || size > record_end - p) return nullptr;
    if (size > 0) p += size;
  }
  if (p != record_end) return nullptr;
  out->end_ = record_end;
  out->offset_ = detail::WrappingAdd(base_offset, offset_delta);
  out->timestamp_ =
      log_append_time ? *log_append_time : detail::WrappingAdd(base_timestamp, timestamp_delta);
  return record_end;
}

}  // namespace brook

#endif  // BROOK_RECORD_BATCH_H_
