#include "brook/record_batch_builder.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "brook/crc32c.h"
#include "brook/detail/check.h"
#include "brook/detail/endian.h"
#include "brook/detail/varint.h"
#include "format/compression.h"

namespace brook {

using namespace batch_layout;
using detail::EncodeVarint;
using detail::StoreBig;
using detail::VarintSize;

RecordBatchBuilder::RecordBatchBuilder(RecordBatchOptions options) { Reset(options); }

void RecordBatchBuilder::Reset(RecordBatchOptions options) {
  options_ = options;
  compression_ = options.compression;
  buffer_.assign(kHeaderSize, std::byte{0});
  records_count_ = 0;
  base_timestamp_ = kNoTimestamp;
  max_timestamp_ = kNoTimestamp;
  finished_ = false;
}

namespace {
int64_t NullableSize(const std::optional<std::string_view>& s) {
  return s ? static_cast<int64_t>(s->size()) : -1;
}
std::byte* PutNullable(std::byte* p, const std::optional<std::string_view>& s) {
  p = EncodeVarint(p, NullableSize(s));
  if (s && !s->empty()) {
    std::memcpy(p, s->data(), s->size());
    p += s->size();
  }
  return p;
}
}  // namespace

void RecordBatchBuilder::Append(int64_t timestamp, std::optional<std::string_view> key,
                                std::optional<std::string_view> value,
                                std::span<const Header> headers) {
  BROOK_CHECK(!finished_);
  BROOK_CHECK(records_count_ < std::numeric_limits<int32_t>::max());
  if (records_count_ == 0) base_timestamp_ = timestamp;
  max_timestamp_ = records_count_ == 0 ? timestamp : std::max(max_timestamp_, timestamp);
  int64_t timestamp_delta = timestamp - base_timestamp_;
  int64_t offset_delta = records_count_;

  int64_t body = 1 + VarintSize(timestamp_delta) + VarintSize(offset_delta) +
                 VarintSize(NullableSize(key)) + std::max<int64_t>(NullableSize(key), 0) +
                 VarintSize(NullableSize(value)) + std::max<int64_t>(NullableSize(value), 0) +
                 VarintSize(static_cast<int64_t>(headers.size()));
  for (const Header& h : headers) {
    body += VarintSize(static_cast<int64_t>(h.key.size())) + static_cast<int64_t>(h.key.size()) +
            VarintSize(NullableSize(h.value)) + std::max<int64_t>(NullableSize(h.value), 0);
  }
  BROOK_CHECK(body <= std::numeric_limits<int32_t>::max());
  size_t total = static_cast<size_t>(VarintSize(body) + body);
  BROOK_CHECK(buffer_.size() + total <= static_cast<size_t>(std::numeric_limits<int32_t>::max()));

  size_t at = buffer_.size();
  buffer_.resize(at + total);
  std::byte* p = buffer_.data() + at;
  p = EncodeVarint(p, body);
  *p++ = std::byte{0};  // record attributes
  p = EncodeVarint(p, timestamp_delta);
  p = EncodeVarint(p, offset_delta);
  p = PutNullable(p, key);
  p = PutNullable(p, value);
  p = EncodeVarint(p, static_cast<int64_t>(headers.size()));
  for (const Header& h : headers) {
    p = PutNullable(p, h.key);
    p = PutNullable(p, h.value);
  }
  BROOK_DCHECK(p == buffer_.data() + buffer_.size());
  ++records_count_;
}

void RecordBatchBuilder::SealHeader(std::span<std::byte> batch) const {
  std::byte* h = batch.data();
  uint16_t attributes = static_cast<uint16_t>(compression_);
  if (options_.timestamp_type == TimestampType::kLogAppendTime) attributes |= kTimestampTypeMask;
  if (options_.transactional) attributes |= kTransactionalFlag;
  if (options_.control) attributes |= kControlFlag;
  StoreBig<int64_t>(h + kBaseOffset, options_.base_offset);
  StoreBig<int32_t>(h + kLength, static_cast<int32_t>(batch.size() - kLogOverhead));
  StoreBig<int32_t>(h + kPartitionLeaderEpoch, options_.partition_leader_epoch);
  h[kMagic] = static_cast<std::byte>(kMagicValue);
  StoreBig<uint16_t>(h + kAttributes, attributes);
  StoreBig<int32_t>(h + kLastOffsetDelta, records_count_ == 0 ? 0 : records_count_ - 1);
  StoreBig<int64_t>(h + kBaseTimestamp, base_timestamp_);
  StoreBig<int64_t>(h + kMaxTimestamp, max_timestamp_);
  StoreBig<int64_t>(h + kProducerId, options_.producer_id);
  StoreBig<int16_t>(h + kProducerEpoch, options_.producer_epoch);
  StoreBig<int32_t>(h + kBaseSequence, options_.base_sequence);
  StoreBig<int32_t>(h + kRecordsCount, records_count_);
  StoreBig<uint32_t>(h + kCrc, Crc32c(h + kAttributes, batch.size() - kAttributes));
}

std::span<const std::byte> RecordBatchBuilder::Finish() {
  if (!finished_) {
    if (compression_ != Compression::kNone) {
      // The header goes in front of the compressed records; SealHeader fills it in below.
      compressed_.assign(buffer_.begin(), buffer_.begin() + kHeaderSize);
      absl::Status s = format::Compress(
          compression_, std::span<const std::byte>(buffer_).subspan(kHeaderSize), &compressed_);
      // Unsupported codec (or a compressor failure, or output past the int32 length field):
      // the batch goes out uncompressed, which is always valid.
      if (!s.ok() || compressed_.size() - kLogOverhead >
                         static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
        compression_ = Compression::kNone;
      }
    }
    SealHeader(compression_ == Compression::kNone ? std::span<std::byte>(buffer_)
                                                  : std::span<std::byte>(compressed_));
    finished_ = true;
  }
  return finished_bytes();
}

}  // namespace brook
