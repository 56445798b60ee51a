// libFuzzer target for the RecordBatch v2 decoder: any bytes must parse to an error or to a
// batch whose every record and header lies inside the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <span>
#include <vector>

#include "brook/crc32c.h"
#include "brook/record_batch.h"

namespace {
void Check(std::span<const std::byte> bytes);
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  Check(bytes);
  // Random bytes almost never carry a valid CRC; fix it up so the record decoder behind the
  // checksum is fuzzed too.
  if (size >= brook::batch_layout::kHeaderSize) {
    std::vector<std::byte> patched(bytes.begin(), bytes.end());
    std::optional<size_t> batch_size = brook::RecordBatchView::PeekSize(patched);
    size_t end =
        batch_size && *batch_size <= size && *batch_size >= brook::batch_layout::kHeaderSize
            ? *batch_size
            : size;
    brook::detail::StoreBig<uint32_t>(
        patched.data() + brook::batch_layout::kCrc,
        brook::Crc32c(patched.data() + brook::batch_layout::kAttributes,
                      end - brook::batch_layout::kAttributes));
    Check(patched);
  }
  return 0;
}

namespace {
void Check(std::span<const std::byte> bytes) {
  size_t size = bytes.size();
  for (brook::Verify verify :
       {brook::Verify::kHeader, brook::Verify::kChecksum, brook::Verify::kFull}) {
    absl::StatusOr<brook::RecordBatchView> batch = brook::RecordBatchView::Parse(bytes, verify);
    if (!batch.ok()) continue;
    const std::byte* begin = bytes.data();
    const std::byte* end = begin + size;
    auto inside = [&](std::string_view s) {
      auto p = reinterpret_cast<const std::byte*>(s.data());
      return s.empty() || (p >= begin && p + s.size() <= end);
    };
    int32_t records = 0;
    for (const brook::RecordView& r : batch->records()) {
      if (!inside(r.key()) || !inside(r.value())) std::abort();
      for (const brook::Header& h : r.headers()) {
        if (!inside(h.key) || (h.value && !inside(*h.value))) std::abort();
      }
      ++records;
    }
    // A fully verified, uncompressed batch yields exactly its declared records.
    if (verify == brook::Verify::kFull && batch->compression() == brook::Compression::kNone &&
        records != batch->records_count()) {
      std::abort();
    }
  }
}
}  // namespace
