// Rewriting one RecordBatch v2 with some of its records dropped: the copy step of log compaction.
//
//   std::vector<std::byte> out;
//   RewriteBatch(batch, [&](const RecordView& r) { return map.Get(HashKey(r.key())) == r.offset();
//   },
//                std::nullopt, &out);
//
// The rewritten batch keeps the base offset, last offset delta, partition leader epoch, producer
// id/epoch and base sequence, so offsets and producer state read from it are unchanged; the kept
// records keep their offset deltas, leaving gaps where records were dropped (legal in compacted
// logs, as in Kafka). A batch may end up with no records at all: such a batch still carries its
// offsets and producer state.

#ifndef BROOK_STORAGE_BATCH_REWRITE_H_
#define BROOK_STORAGE_BATCH_REWRITE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/functional/function_ref.h"
#include "brook/record_batch.h"

namespace brook::storage {

// Appends to *out a copy of `batch` holding only the records for which keep(record) is true, and
// returns how many it kept. `keep` is called once per record, in offset order.
//
// - records_count is the number kept; MaxTimestamp is recomputed over the kept records of a
//   CreateTime batch (left as it was when none is kept, and for LogAppendTime).
// - With `delete_horizon_ms`, the batch gets the delete-horizon attribute and BaseTimestamp :=
//   *delete_horizon_ms, and each kept record's timestamp delta is re-encoded so that its
//   timestamp is unchanged.
// - When every record is kept and there is no horizon, the bytes are copied verbatim.
// The CRC is recomputed whenever anything changed.
//
// Requires: `batch` is uncompressed and was parsed with Verify::kFull, and does not point into
// *out. A kept record grows by at most 9 bytes (a longer timestamp delta); the result must still
// fit the batch's int32 length field (checked).
int32_t RewriteBatch(const RecordBatchView& batch, absl::FunctionRef<bool(const RecordView&)> keep,
                     std::optional<int64_t> delete_horizon_ms, std::vector<std::byte>* out);

// Appends to *out the uncompressed batch `plain` with its records compressed by `codec`, as
// RecordBatchBuilder frames them: the header is copied with the codec in its attributes and the
// length and CRC recomputed. When the codec is not in this build or fails (or the result would
// not fit the int32 length field), `plain` is appended unchanged, which is equally valid. Returns
// the codec the appended batch uses. Requires: `plain` is uncompressed and not inside *out.
Compression CompressBatch(const RecordBatchView& plain, Compression codec,
                          std::vector<std::byte>* out);

}  // namespace brook::storage

#endif  // BROOK_STORAGE_BATCH_REWRITE_H_
