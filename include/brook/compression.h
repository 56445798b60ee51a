// brook/compression.h — compressed RecordBatches (Kafka's gzip, snappy, lz4 and zstd codecs).
//
// A compressed v2 batch keeps its 61-byte header in the clear and compresses everything after it
// (all the records) as one stream; the low three bits of the header's attributes name the codec.
// brook writes such batches with RecordBatchOptions::compression and reads them with
// DecompressBatch, which returns the same batch uncompressed so the usual zero-copy views work:
//
//   absl::StatusOr<std::vector<std::byte>> plain = brook::DecompressBatch(batch, 64 << 20);
//   if (!plain.ok()) return plain.status();
//   absl::StatusOr<brook::RecordBatchView> view = brook::RecordBatchView::Parse(*plain);
//   for (const brook::RecordView& record : view->records()) Use(record);
//
// Each codec is optional at build time (its library must be found); CompressionSupported says
// which ones this build has. The framing matches Kafka's, so batches are interchangeable with
// Kafka and librdkafka clients byte for byte (docs/format.md, "Compression").
//
// Thread-safe: no shared state.

#ifndef BROOK_COMPRESSION_H_
#define BROOK_COMPRESSION_H_

#include <cstddef>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "brook/record_batch.h"

namespace brook {

// Whether this build of brook can compress and decompress with `codec`. Always true for kNone;
// false for values outside the enum.
bool CompressionSupported(Compression codec);

// The batch, uncompressed: the same header fields (base offset, length adjusted, leader epoch,
// offsets, timestamps, producer fields, count) with the compression bits of the attributes
// cleared and the CRC recomputed, followed by the decompressed records. An uncompressed batch is
// returned as a copy.
//
// `max_bytes` bounds the decompressed records (the bytes after the header): a batch that would
// inflate past it is rejected without allocating more. Errors name the codec, the batch's base
// offset and the limit:
//   InvalidArgument + ErrorCode::kUnsupportedCompressionType  the codec is not in this build
//   InvalidArgument + ErrorCode::kMessageTooLarge             more than max_bytes of records
//   InvalidArgument + ErrorCode::kCorruptMessage              the stream or its records are bad
// The records are checked as Verify::kFull checks them. `batch` need not have been parsed with
// more than Verify::kHeader; its CRC is not rechecked here.
absl::StatusOr<std::vector<std::byte>> DecompressBatch(const RecordBatchView& batch,
                                                       size_t max_bytes);

// Calls fn(record) for every record of `batch` in offset order, through DecompressBatch(batch,
// max_bytes) when it is compressed (records() of a compressed batch is empty). The views passed
// to fn are valid only during the call. Returns DecompressBatch's error, having called fn for no
// record.
absl::Status VisitRecords(const RecordBatchView& batch, size_t max_bytes,
                          absl::FunctionRef<void(const RecordView&)> fn);

}  // namespace brook

#endif  // BROOK_COMPRESSION_H_
