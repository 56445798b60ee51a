// libFuzzer target for batch decompression: any bytes, under any codec, must decompress to an
// error or to at most the limit's worth of output; wrapped in a batch, DecompressBatch and
// Verify::kFull must agree and never crash.
//
// Input: byte 0 picks the codec (low 3 bits; 1 gzip, 2 snappy, 3 lz4, 4 zstd), the rest is the
// compressed stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "brook/compression.h"
#include "brook/crc32c.h"
#include "brook/record_batch.h"
#include "format/compression.h"

namespace {
constexpr size_t kLimit = 1 << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto codec = static_cast<brook::Compression>(data[0] & 0x07);
  std::span<const std::byte> stream(reinterpret_cast<const std::byte*>(data + 1), size - 1);

  std::vector<std::byte> out;
  absl::Status s = brook::format::Decompress(codec, stream, kLimit, &out);
  if (s.ok() && out.size() > kLimit) std::abort();
  if (!brook::CompressionSupported(codec) && codec != brook::Compression::kNone && s.ok()) {
    std::abort();
  }

  // The same stream as the records of a batch (two records claimed), with a valid CRC.
  namespace layout = brook::batch_layout;
  std::vector<std::byte> batch(layout::kHeaderSize);
  batch.insert(batch.end(), stream.begin(), stream.end());
  std::byte* h = batch.data();
  brook::detail::StoreBig<int32_t>(h + layout::kLength,
                                   static_cast<int32_t>(batch.size() - layout::kLogOverhead));
  h[layout::kMagic] = static_cast<std::byte>(layout::kMagicValue);
  brook::detail::StoreBig<uint16_t>(h + layout::kAttributes, static_cast<uint16_t>(codec));
  brook::detail::StoreBig<int32_t>(h + layout::kLastOffsetDelta, 1);
  brook::detail::StoreBig<int32_t>(h + layout::kRecordsCount, 2);
  brook::detail::StoreBig<uint32_t>(
      h + layout::kCrc, brook::Crc32c(h + layout::kAttributes, batch.size() - layout::kAttributes));
  absl::StatusOr<brook::RecordBatchView> view =
      brook::RecordBatchView::Parse(batch, brook::Verify::kChecksum);
  if (!view.ok()) return 0;  // e.g. an uncompressed "batch" too short for two records
  absl::StatusOr<std::vector<std::byte>> plain = brook::DecompressBatch(*view, kLimit);
  bool full = brook::RecordBatchView::Parse(batch, brook::Verify::kFull).ok();
  if (plain.ok()) {
    absl::StatusOr<brook::RecordBatchView> inflated = brook::RecordBatchView::Parse(*plain);
    if (!inflated.ok() || inflated->records_count() != 2) std::abort();
    int records = 0;
    for (const brook::RecordView& r : inflated->records()) {
      (void)r;
      ++records;
    }
    if (records != 2) std::abort();
    if (!full) std::abort();  // kFull's bound (64 MiB) is above kLimit
  }
  return 0;
}
