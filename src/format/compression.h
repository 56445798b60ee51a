// Kafka's batch compression codecs over byte spans, framed as Kafka frames them (see
// docs/format.md "Compression"):
//
//   gzip    a gzip stream (RFC 1952), as java.util.zip.GZIPOutputStream writes; concatenated
//           members are read too.
//   snappy  snappy-java's (xerial) stream framing: a 16-byte header, then blocks of at most
//           32 KiB, each a big-endian int32 length and a raw snappy block. A raw snappy block
//           without the header (what librdkafka writes) is read too.
//   lz4     one LZ4 frame (magic 0x184D2204) as Kafka's Lz4BlockOutputStream writes it: 64 KiB
//           independent blocks, no block or content checksum, no content size. Any LZ4 frame is
//           read.
//   zstd    zstd frames (one is written; concatenated frames are read).
//
// A codec whose library was not found when brook was built is unsupported: every call with it
// returns InvalidArgument carrying ErrorCode::kUnsupportedCompressionType.
//
// Decompression never allocates more than its caller's `max_bytes` of output (plus the codec's
// own bounded state), whatever the input claims; malformed, truncated or oversized input gives
// InvalidArgument naming the codec and the limit. Thread-safe: no shared state.

#ifndef BROOK_FORMAT_COMPRESSION_H_
#define BROOK_FORMAT_COMPRESSION_H_

#include <cstddef>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "brook/compression.h"
#include "brook/record_batch.h"

namespace brook::format {

// "none", "gzip", "snappy", "lz4", "zstd", or "codec 5".."codec 7" for the unassigned values.
std::string_view CompressionName(Compression codec);

// Appends `input`, compressed with `codec` (not kNone), to *out.
absl::Status Compress(Compression codec, std::span<const std::byte> input,
                      std::vector<std::byte>* out);

// Appends the decompressed form of `input` to *out. Returns InvalidArgument with
// ErrorCode::kCorruptMessage when `input` is not a complete stream of `codec`, and with
// ErrorCode::kMessageTooLarge when it would decompress to more than `max_bytes` bytes (nothing
// past max_bytes + 1 is ever produced). *out may hold a partial result after an error.
absl::Status Decompress(Compression codec, std::span<const std::byte> input, size_t max_bytes,
                        std::vector<std::byte>* out);

}  // namespace brook::format

#endif  // BROOK_FORMAT_COMPRESSION_H_
