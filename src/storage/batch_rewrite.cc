#include "storage/batch_rewrite.h"

#include <algorithm>
#include <limits>

#include "brook/crc32c.h"
#include "brook/detail/check.h"
#include "brook/detail/endian.h"
#include "brook/detail/varint.h"
#include "format/compression.h"

namespace brook::storage {
namespace {

using namespace batch_layout;
using detail::DecodeVarint32;
using detail::DecodeVarint64;
using detail::EncodeVarint;
using detail::LoadBig;
using detail::StoreBig;
using detail::VarintSize;
using detail::WrappingAdd;

// Reserves room for `extra` more bytes, growing geometrically: callers append many batches to
// one buffer, and exact reserves would make that quadratic.
void Reserve(std::vector<std::byte>* out, size_t extra) {
  size_t needed = out->size() + extra;
  if (needed > out->capacity()) out->reserve(std::max(needed, 2 * out->capacity()));
}

int64_t WrappingSub(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

void Append(std::vector<std::byte>* out, const std::byte* begin, const std::byte* end) {
  out->insert(out->end(), begin, end);
}

// Appends `record` with its timestamp delta taken from `old_base_timestamp` to
// `new_base_timestamp`, so base + delta is unchanged.
void AppendRebased(const RecordView& record, int64_t old_base_timestamp, int64_t new_base_timestamp,
                   std::vector<std::byte>* out) {
  const std::byte* p = record.bytes().data();
  const std::byte* end = p + record.bytes().size();
  int32_t length = 0;
  p = DecodeVarint32(p, end, &length);
  BROOK_DCHECK(p != nullptr);
  const std::byte* attributes = p++;
  int64_t old_delta = 0;
  p = DecodeVarint64(p, end, &old_delta);
  BROOK_DCHECK(p != nullptr);
  // Wrapping, as the reader's base + delta is: the decoded timestamp is preserved exactly.
  int64_t new_delta = WrappingSub(WrappingAdd(old_base_timestamp, old_delta), new_base_timestamp);
  int64_t new_length = int64_t{length} - VarintSize(old_delta) + VarintSize(new_delta);
  BROOK_CHECK(new_length <= std::numeric_limits<int32_t>::max());

  std::byte prefix[detail::kMaxVarint32Bytes + 1 + detail::kMaxVarint64Bytes];
  std::byte* q = EncodeVarint(prefix, new_length);
  *q++ = *attributes;
  q = EncodeVarint(q, new_delta);
  Append(out, prefix, q);
  Append(out, p, end);  // offset delta, key, value, headers: unchanged
}

}  // namespace

int32_t RewriteBatch(const RecordBatchView& batch, absl::FunctionRef<bool(const RecordView&)> keep,
                     std::optional<int64_t> delete_horizon_ms, std::vector<std::byte>* out) {
  // records() is empty for a compressed batch: rewriting one would silently drop every record.
  BROOK_CHECK(batch.compression() == Compression::kNone);
  const std::byte* in = batch.bytes().data();
  const bool create_time = batch.timestamp_type() == TimestampType::kCreateTime;
  const int64_t old_base_timestamp = batch.base_timestamp();

  Reserve(out, batch.size_bytes());
  const size_t at = out->size();
  Append(out, in, in + kHeaderSize);
  int32_t kept = 0;
  int32_t seen = 0;
  int64_t max_timestamp = std::numeric_limits<int64_t>::min();
  for (const RecordView& record : batch.records()) {
    ++seen;
    if (!keep(record)) continue;
    ++kept;
    max_timestamp = std::max(max_timestamp, record.timestamp());
    if (delete_horizon_ms) {
      AppendRebased(record, old_base_timestamp, *delete_horizon_ms, out);
    } else {
      Append(out, record.bytes().data(), record.bytes().data() + record.bytes().size());
    }
  }
  // Fewer records than counted means the batch was not verified (iteration stops at bad bytes).
  BROOK_CHECK(seen == batch.records_count());
  // Same records, same header: the copy is byte-for-byte the original.
  if (kept == seen && !delete_horizon_ms) return kept;

  const size_t size = out->size() - at;
  BROOK_CHECK(size - kLogOverhead <= static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  std::byte* h = out->data() + at;
  StoreBig<int32_t>(h + kLength, static_cast<int32_t>(size - kLogOverhead));
  StoreBig<int32_t>(h + kRecordsCount, kept);
  if (create_time && kept > 0) StoreBig<int64_t>(h + kMaxTimestamp, max_timestamp);
  if (delete_horizon_ms) {
    auto attributes =
        static_cast<uint16_t>(LoadBig<uint16_t>(h + kAttributes) | kDeleteHorizonFlag);
    StoreBig<uint16_t>(h + kAttributes, attributes);
    StoreBig<int64_t>(h + kBaseTimestamp, *delete_horizon_ms);
  }
  StoreBig<uint32_t>(h + kCrc, Crc32c(h + kAttributes, size - kAttributes));
  return kept;
}

Compression CompressBatch(const RecordBatchView& plain, Compression codec,
                          std::vector<std::byte>* out) {
  BROOK_CHECK(plain.compression() == Compression::kNone);
  std::span<const std::byte> in = plain.bytes();
  const size_t at = out->size();
  out->insert(out->end(), in.begin(), in.begin() + kHeaderSize);
  absl::Status s = codec == Compression::kNone
                       ? absl::InvalidArgumentError("no codec")
                       : format::Compress(codec, in.subspan(kHeaderSize), out);
  const size_t size = out->size() - at;
  if (!s.ok() || size - kLogOverhead > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    out->resize(at);
    out->insert(out->end(), in.begin(), in.end());
    return Compression::kNone;
  }
  std::byte* h = out->data() + at;
  StoreBig<int32_t>(h + kLength, static_cast<int32_t>(size - kLogOverhead));
  StoreBig<uint16_t>(
      h + kAttributes,
      static_cast<uint16_t>((static_cast<uint16_t>(plain.attributes()) & ~kCompressionMask) |
                            static_cast<uint16_t>(codec)));
  StoreBig<uint32_t>(h + kCrc, Crc32c(h + kAttributes, size - kAttributes));
  return codec;
}

}  // namespace brook::storage
