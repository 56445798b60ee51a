#include "brook/record_batch.h"

#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "brook/crc32c.h"
#include "brook/status.h"
#include "format/compression.h"
#include "util/status_macros.h"

namespace brook {
namespace {

using namespace batch_layout;

absl::Status Corrupt(std::string message) {
  return WithErrorCode(absl::InvalidArgumentError(std::move(message)), ErrorCode::kCorruptMessage);
}

// Every record takes at least 7 bytes (length, attributes, timestamp delta, offset delta, key and
// value lengths, header count), so a count beyond that is a lie we can reject early.
constexpr int64_t kMinRecordBytes = 7;

// Walks the `count` records in [begin, end), which belong to `view` (they are its own records, or
// its decompressed records; `where` says which, for messages). Positions in messages are relative
// to `origin`.
absl::Status CheckRecords(const RecordBatchView& view, const std::byte* origin,
                          const std::byte* begin, const std::byte* end, std::string_view where) {
  int32_t count = view.records_count();
  int32_t last_delta = view.last_offset_delta();
  if (static_cast<int64_t>(count) * kMinRecordBytes > end - begin) {
    return Corrupt(absl::StrFormat("record batch at base offset %d claims %d records in %d bytes%s",
                                   view.base_offset(), count, end - begin, where));
  }
  std::optional<int64_t> log_append_time;
  if (view.timestamp_type() == TimestampType::kLogAppendTime)
    log_append_time = view.max_timestamp();
  int64_t previous_offset = -1;
  const std::byte* p = begin;
  RecordView record;
  for (int32_t i = 0; i < count; ++i) {
    const std::byte* next =
        RecordView::Decode(p, end, 0, view.base_timestamp(), log_append_time, &record);
    if (next == nullptr) {
      return Corrupt(
          absl::StrFormat("record %d at byte %d%s of the batch at base offset %d is malformed", i,
                          p - origin, where, view.base_offset()));
    }
    if (record.offset() <= previous_offset || record.offset() > last_delta) {
      return Corrupt(absl::StrFormat(
          "record %d at byte %d%s of the batch at base offset %d has offset delta %d (previous "
          "%d, last %d)",
          i, p - origin, where, view.base_offset(), record.offset(), previous_offset, last_delta));
    }
    previous_offset = record.offset();
    p = next;
  }
  if (p != end) {
    return Corrupt(
        absl::StrFormat("record batch at base offset %d has %d bytes after its %d records%s",
                        view.base_offset(), end - p, count, where));
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<size_t> RecordBatchView::PeekSize(std::span<const std::byte> bytes) {
  if (bytes.size() < kMagic + 1) return std::nullopt;
  auto length = detail::LoadBig<int32_t>(bytes.data() + kLength);
  if (length < 0) return std::nullopt;
  return static_cast<size_t>(length) + kLogOverhead;
}

absl::StatusOr<RecordBatchView> RecordBatchView::Parse(std::span<const std::byte> bytes,
                                                       Verify verify) {
  if (bytes.size() < kHeaderSize) {
    return Corrupt(absl::StrFormat("record batch needs %d header bytes, only %d available",
                                   kHeaderSize, bytes.size()));
  }
  const std::byte* data = bytes.data();
  auto length = detail::LoadBig<int32_t>(data + kLength);
  if (length < static_cast<int32_t>(kHeaderSize - kLogOverhead)) {
    return Corrupt(absl::StrFormat("record batch length field %d is below the minimum %d", length,
                                   kHeaderSize - kLogOverhead));
  }
  size_t size = static_cast<size_t>(length) + kLogOverhead;
  if (size > bytes.size()) {
    return Corrupt(absl::StrFormat("record batch of %d bytes runs past the %d bytes available",
                                   size, bytes.size()));
  }
  auto magic = static_cast<int8_t>(data[kMagic]);
  if (magic != kMagicValue) {
    return Corrupt(absl::StrFormat("record batch magic is %d at byte %d, expected %d", magic,
                                   kMagic, kMagicValue));
  }
  RecordBatchView view(bytes.first(size));
  int32_t count = view.records_count();
  int32_t last_delta = view.last_offset_delta();
  if (count < 0)
    return Corrupt(absl::StrFormat("record batch has negative record count %d", count));
  if (last_delta < 0) {
    return Corrupt(absl::StrFormat("record batch has negative last offset delta %d", last_delta));
  }
  if (view.base_offset() < 0 ||
      view.base_offset() > std::numeric_limits<int64_t>::max() - last_delta - 1) {
    return Corrupt(
        absl::StrFormat("record batch base offset %d is out of range", view.base_offset()));
  }
  // Compressed records can be far smaller than 7 bytes each; kFull checks them once inflated.
  if (view.compression() == Compression::kNone &&
      static_cast<int64_t>(count) * kMinRecordBytes > static_cast<int64_t>(size - kHeaderSize)) {
    return Corrupt(
        absl::StrFormat("record batch claims %d records in %d bytes", count, size - kHeaderSize));
  }
  if (verify == Verify::kHeader) return view;
  uint32_t expected = view.crc();
  uint32_t actual = Crc32c(data + kAttributes, size - kAttributes);
  if (actual != expected) {
    return WithErrorCode(
        absl::DataLossError(absl::StrFormat("record batch at base offset %d (%d bytes) fails its "
                                            "CRC-32C: stored %08x, computed %08x",
                                            view.base_offset(), size, expected, actual)),
        ErrorCode::kCorruptMessage);
  }
  if (verify == Verify::kChecksum) return view;

  if (view.compression() == Compression::kNone) {
    BROOK_RETURN_IF_ERROR(CheckRecords(view, data, data + kHeaderSize, data + size, ""));
    return view;
  }
  // Kafka's leader decompresses produced batches to validate their records; so does kFull.
  std::vector<std::byte> records;
  absl::Status inflated = format::Decompress(view.compression(), view.bytes().subspan(kHeaderSize),
                                             kMaxDecompressedRecordsBytes, &records);
  if (!inflated.ok()) {
    return Annotate(inflated,
                    absl::StrFormat("record batch at base offset %d", view.base_offset()));
  }
  BROOK_RETURN_IF_ERROR(CheckRecords(view, records.data(), records.data(),
                                     records.data() + records.size(),
                                     absl::StrFormat(" of the %s-decompressed records",
                                                     format::CompressionName(view.compression()))));
  return view;
}

bool RecordBatchView::crc_ok() const {
  return Crc32c(bytes_.data() + kAttributes, bytes_.size() - kAttributes) == crc();
}

RecordView::HeaderIterator::HeaderIterator(const std::byte* p, const std::byte* end,
                                           int32_t remaining)
    : p_(p), end_(end), remaining_(remaining) {
  DecodeCurrent();
}

RecordView::HeaderIterator& RecordView::HeaderIterator::operator++() {
  p_ = next_;
  --remaining_;
  DecodeCurrent();
  return *this;
}

void RecordView::HeaderIterator::DecodeCurrent() {
  if (remaining_ <= 0) {
    remaining_ = 0;
    return;
  }
  const std::byte* p = p_;
  int32_t size;
  p = detail::DecodeVarint32(p, end_, &size);
  if (p == nullptr || size < 0 || size > end_ - p) {
    remaining_ = 0;
    return;
  }
  current_.key = std::string_view(reinterpret_cast<const char*>(p), size);
  p += size;
  p = detail::DecodeVarint32(p, end_, &size);
  if (p == nullptr || size < -1 || size > end_ - p) {
    remaining_ = 0;
    return;
  }
  if (size < 0) {
    current_.value.reset();
  } else {
    current_.value = std::string_view(reinterpret_cast<const char*>(p), size);
    p += size;
  }
  next_ = p;
}

}  // namespace brook
