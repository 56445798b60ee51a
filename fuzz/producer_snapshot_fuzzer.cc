// libFuzzer target for the producer snapshot decoder (storage::ProducerStateMap::DecodeSnapshot):
// any bytes must decode to an error or to a state that encodes back to exactly the same bytes.
// The snapshot's offset is the one stored in the input (bytes 6..13, as the file name would
// say), so the checks behind the offset comparison are reached; a second pass fixes up the
// checksum so random inputs get past it too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <span>
#include <vector>

#include "brook/crc32c.h"
#include "brook/detail/endian.h"
#include "storage/producer_state.h"

namespace {

constexpr size_t kCrcAt = 2;
constexpr size_t kOffsetAt = 6;
constexpr size_t kHeaderSize = 18;

void Check(std::span<const std::byte> bytes) {
  int64_t offset =
      bytes.size() >= kOffsetAt + 8 ? brook::detail::LoadBig<int64_t>(bytes.data() + kOffsetAt) : 0;
  absl::StatusOr<brook::storage::ProducerStateMap> map =
      brook::storage::ProducerStateMap::DecodeSnapshot(bytes, offset, "fuzz");
  if (!map.ok()) {
    if (!absl::IsDataLoss(map.status())) std::abort();
    return;
  }
  // Round trip: the encoding is canonical (producers by id, every field stored).
  std::vector<std::byte> again = map->EncodeSnapshot(offset);
  if (again.size() != bytes.size() || !std::equal(again.begin(), again.end(), bytes.begin())) {
    std::abort();
  }
  // What decoded is usable: every producer's batches are in range, it checks the next batch
  // of each producer as an append, and with those recorded it encodes and decodes again.
  if (offset < 0 || offset == std::numeric_limits<int64_t>::max()) return;
  for (const brook::storage::ProducerEntry& e : map->Entries()) {
    if (e.batch_count < 0 || e.batch_count > brook::storage::kProducerBatchesRetained) {
      std::abort();
    }
    for (int i = 0; i < e.batch_count; ++i) {
      const brook::storage::ProducerBatch& b = e.batch(i);
      if (b.last_offset >= offset || b.first_offset > b.last_offset) std::abort();
    }
    if (map->Find(e.producer_id) == nullptr) std::abort();
    int32_t next =
        e.last_sequence() < 0 ? 0 : brook::storage::IncrementSequence(e.last_sequence(), 1);
    brook::storage::ProducerBatch original;
    absl::Status error;
    brook::storage::ProducerStateMap::Verdict verdict =
        map->Check(e.producer_id, e.epoch, next, 0, &original, &error);
    // The next sequence is never rejected; it may match a retained batch (the decoder does not
    // check that a producer's sequences increase).
    if (verdict == brook::storage::ProducerStateMap::Verdict::kRejected) std::abort();
    if (verdict == brook::storage::ProducerStateMap::Verdict::kDuplicate) continue;
    map->Record(e.producer_id, e.epoch,
                {.first_sequence = next,
                 .last_sequence = next,
                 .first_offset = offset,
                 .last_offset = offset,
                 .max_timestamp = e.last_timestamp});
    const brook::storage::ProducerEntry* after = map->Find(e.producer_id);
    if (after == nullptr || after->last_sequence() != next ||
        after->last_batch()->last_offset != offset ||
        after->batch_count !=
            std::min(e.batch_count + 1, brook::storage::kProducerBatchesRetained)) {
      std::abort();
    }
  }
  std::vector<std::byte> next = map->EncodeSnapshot(offset + 1);
  if (!brook::storage::ProducerStateMap::DecodeSnapshot(next, offset + 1, "fuzz").ok())
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  Check(bytes);
  if (size >= kHeaderSize) {
    std::vector<std::byte> patched(bytes.begin(), bytes.end());
    brook::detail::StoreBig<int16_t>(patched.data(), 1);  // the version
    brook::detail::StoreBig<uint32_t>(patched.data() + kCrcAt,
                                      brook::Crc32c(patched.data() + kOffsetAt, size - kOffsetAt));
    Check(patched);
  }
  return 0;
}
