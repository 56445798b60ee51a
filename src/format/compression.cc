#include "format/compression.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "brook/crc32c.h"
#include "brook/detail/endian.h"
#include "brook/status.h"
#include "util/status_macros.h"

#ifdef BROOK_HAVE_ZLIB
#include <zlib.h>
#endif
#ifdef BROOK_HAVE_SNAPPY
#include <snappy-c.h>
#endif
#ifdef BROOK_HAVE_LZ4
#include <lz4frame.h>
#endif
#ifdef BROOK_HAVE_ZSTD
#include <zstd.h>
#endif

namespace brook {
namespace format {
namespace {

[[maybe_unused]] absl::Status Corrupt(Compression codec, std::string_view what) {
  return WithErrorCode(absl::InvalidArgumentError(absl::StrFormat(
                           "%s: %s", std::string(CompressionName(codec)), std::string(what))),
                       ErrorCode::kCorruptMessage);
}

[[maybe_unused]] absl::Status TooLarge(Compression codec, size_t max_bytes) {
  return WithErrorCode(absl::InvalidArgumentError(
                           absl::StrFormat("%s: decompresses to more than the limit of %d bytes",
                                           CompressionName(codec), max_bytes)),
                       ErrorCode::kMessageTooLarge);
}

absl::Status Unsupported(Compression codec) {
  return WithErrorCode(absl::InvalidArgumentError(absl::StrFormat(
                           "%s compression is not supported by this build of brook (its library "
                           "was not found when brook was built)",
                           CompressionName(codec))),
                       ErrorCode::kUnsupportedCompressionType);
}

// The output side of a bounded decompression: hands the codec room to write into *out, growing
// it geometrically, never past `max_bytes` + 1 bytes of output (one byte over the limit is how an
// oversized stream is told apart from one that fits exactly).
class Output {
 public:
  Output(std::vector<std::byte>* out, size_t input_size, size_t max_bytes)
      : out_(out),
        base_(out->size()),
        max_bytes_(max_bytes),
        cap_(max_bytes == std::numeric_limits<size_t>::max() ? max_bytes : max_bytes + 1),
        next_chunk_(std::clamp<size_t>(input_size * 4, 4096, size_t{1} << 20)) {}

  // Room for at least one more byte, or nullptr when cap_ bytes were produced. `*room` is how much.
  std::byte* Room(size_t* room) {
    size_t produced = out_->size() - base_;
    if (produced >= cap_) return nullptr;
    size_t grow = std::min(next_chunk_, cap_ - produced);
    next_chunk_ = std::min(next_chunk_ * 2, size_t{64} << 20);
    out_->resize(out_->size() + grow);
    *room = grow;
    return out_->data() + base_ + produced;
  }
  // The codec wrote `used` of the `room` bytes Room offered.
  void Used(size_t room, size_t used) { out_->resize(out_->size() - (room - used)); }
  // Whether `n` more bytes of output stay within max_bytes.
  bool Fits(size_t n) const {
    size_t produced = out_->size() - base_;
    return produced <= max_bytes_ && n <= max_bytes_ - produced;
  }
  // Exactly `n` more bytes of output; Fits(n) must hold. The result may be null when n is 0 and
  // nothing was produced yet (an empty vector's data()), so a zero-length write must not use it.
  std::byte* Extend(size_t n) {
    size_t produced = out_->size() - base_;
    out_->resize(out_->size() + n);
    return out_->data() + base_ + produced;
  }
  bool over_limit() const { return out_->size() - base_ > max_bytes_; }
  size_t max_bytes() const { return max_bytes_; }

 private:
  std::vector<std::byte>* out_;
  size_t base_;
  size_t max_bytes_;
  size_t cap_;
  size_t next_chunk_;
};

// --- gzip
// -----------------------------------------------------------------------------------------
#ifdef BROOK_HAVE_ZLIB
// Kafka's gzip default level is Deflater.DEFAULT_COMPRESSION (6); 16 + 15 window bits asks zlib
// for a gzip wrapper with the largest window.
constexpr int kGzipWindowBits = 16 + MAX_WBITS;

absl::Status GzipCompress(std::span<const std::byte> input, std::vector<std::byte>* out) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, kGzipWindowBits, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return absl::ResourceExhaustedError("gzip: deflateInit2 failed");
  }
  size_t at = out->size();
  out->resize(at + deflateBound(&zs, static_cast<uLong>(input.size())));
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(input.data()));
  zs.avail_in = static_cast<uInt>(input.size());
  zs.next_out = reinterpret_cast<Bytef*>(out->data() + at);
  zs.avail_out = static_cast<uInt>(out->size() - at);
  int rc = deflate(&zs, Z_FINISH);
  out->resize(out->size() - zs.avail_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return absl::InternalError(absl::StrFormat("gzip: deflate gave %d", rc));
  return absl::OkStatus();
}

absl::Status GzipDecompress(std::span<const std::byte> input, Output* output) {
  z_stream zs{};
  if (inflateInit2(&zs, kGzipWindowBits) != Z_OK) {
    return absl::ResourceExhaustedError("gzip: inflateInit2 failed");
  }
  std::unique_ptr<z_stream, int (*)(z_stream*)> cleanup(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(input.data()));
  zs.avail_in = static_cast<uInt>(input.size());
  while (true) {
    size_t room = 0;
    std::byte* p = output->Room(&room);
    if (p == nullptr) return TooLarge(Compression::kGzip, output->max_bytes());
    room = std::min<size_t>(room, std::numeric_limits<uInt>::max());
    zs.next_out = reinterpret_cast<Bytef*>(p);
    zs.avail_out = static_cast<uInt>(room);
    int rc = inflate(&zs, Z_NO_FLUSH);
    output->Used(room, room - zs.avail_out);
    if (output->over_limit()) return TooLarge(Compression::kGzip, output->max_bytes());
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) return absl::OkStatus();
      // Another gzip member follows (GZIPInputStream reads concatenated members too).
      if (inflateReset(&zs) != Z_OK) return Corrupt(Compression::kGzip, "inflateReset failed");
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && zs.avail_out > 0) {
      return Corrupt(Compression::kGzip, "truncated stream");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Corrupt(Compression::kGzip, zs.msg != nullptr ? zs.msg : "inflate failed");
    }
  }
}
#endif  // BROOK_HAVE_ZLIB

// --- snappy (xerial framing)
// ----------------------------------------------------------------------
#ifdef BROOK_HAVE_SNAPPY
// snappy-java's SnappyCodec header: magic, then version and minimum compatible version (int32
// big-endian, both 1), then blocks of SnappyOutputStream's default 32 KiB.
constexpr unsigned char kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t kXerialHeaderSize = 16;
constexpr size_t kXerialBlockSize = 32 << 10;

absl::Status SnappyCompress(std::span<const std::byte> input, std::vector<std::byte>* out) {
  size_t at = out->size();
  out->resize(at + kXerialHeaderSize);
  std::memcpy(out->data() + at, kXerialMagic, sizeof(kXerialMagic));
  detail::StoreBig<int32_t>(out->data() + at + 8, 1);
  detail::StoreBig<int32_t>(out->data() + at + 12, 1);
  for (size_t pos = 0; pos < input.size(); pos += kXerialBlockSize) {
    size_t n = std::min(kXerialBlockSize, input.size() - pos);
    size_t block_at = out->size();
    size_t bound = snappy_max_compressed_length(n);
    out->resize(block_at + 4 + bound);
    size_t written = bound;
    if (snappy_compress(reinterpret_cast<const char*>(input.data() + pos), n,
                        reinterpret_cast<char*>(out->data() + block_at + 4),
                        &written) != SNAPPY_OK) {
      return absl::InternalError("snappy: snappy_compress failed");
    }
    detail::StoreBig<int32_t>(out->data() + block_at, static_cast<int32_t>(written));
    out->resize(block_at + 4 + written);
  }
  return absl::OkStatus();
}

absl::Status SnappyBlock(std::span<const std::byte> block, Output* output) {
  const char* p = reinterpret_cast<const char*>(block.data());
  size_t length = 0;
  if (snappy_uncompressed_length(p, block.size(), &length) != SNAPPY_OK) {
    return Corrupt(Compression::kSnappy, "bad block header");
  }
  // The block states its size: one over the limit is rejected before anything is allocated.
  if (!output->Fits(length)) return TooLarge(Compression::kSnappy, output->max_bytes());
  // An empty block is still decoded, so bytes after its header are caught; it gets a real (empty)
  // destination, as the output's own may be null.
  char empty = 0;
  char* dst = length == 0 ? &empty : reinterpret_cast<char*>(output->Extend(length));
  size_t got = length;
  if (snappy_uncompress(p, block.size(), dst, &got) != SNAPPY_OK || got != length) {
    return Corrupt(Compression::kSnappy, "bad block");
  }
  return absl::OkStatus();
}

absl::Status SnappyDecompress(std::span<const std::byte> input, Output* output) {
  if (input.size() < kXerialHeaderSize ||
      std::memcmp(input.data(), kXerialMagic, sizeof(kXerialMagic)) != 0) {
    // Not xerial-framed: one raw snappy block, as snappy-java's SnappyInputStream also accepts.
    return SnappyBlock(input, output);
  }
  size_t pos = kXerialHeaderSize;
  while (pos < input.size()) {
    if (input.size() - pos < 4) return Corrupt(Compression::kSnappy, "truncated block length");
    auto length = detail::LoadBig<int32_t>(input.data() + pos);
    pos += 4;
    if (length < 0 || static_cast<size_t>(length) > input.size() - pos) {
      return Corrupt(Compression::kSnappy,
                     absl::StrFormat("block of %d bytes at byte %d runs past the %d-byte stream",
                                     length, pos - 4, input.size()));
    }
    BROOK_RETURN_IF_ERROR(SnappyBlock(input.subspan(pos, static_cast<size_t>(length)), output));
    pos += static_cast<size_t>(length);
  }
  return absl::OkStatus();
}
#endif  // BROOK_HAVE_SNAPPY

// --- lz4
// ------------------------------------------------------------------------------------------
#ifdef BROOK_HAVE_LZ4
// What Kafka's Lz4BlockOutputStream writes, and all its Lz4BlockInputStream accepts besides
// checksums and a content size: FLG version 01 with the block-independence bit (Kafka rejects
// dependent blocks), BD 64 KiB maximum blocks, no block checksum, no content checksum, no content
// size, no dictionary id. liblz4 writes the header checksum over the descriptor only, which is
// the correct one Kafka verifies for v2 batches. Level 0 is the fast compressor Kafka uses at its
// default level.
LZ4F_preferences_t KafkaLz4Preferences() {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max64KB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
  prefs.frameInfo.frameType = LZ4F_frame;
  prefs.frameInfo.contentSize = 0;
  prefs.frameInfo.dictID = 0;
  prefs.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum;
  prefs.compressionLevel = 0;
  return prefs;
}

absl::Status Lz4Compress(std::span<const std::byte> input, std::vector<std::byte>* out) {
  LZ4F_preferences_t prefs = KafkaLz4Preferences();
  size_t at = out->size();
  out->resize(at + LZ4F_compressFrameBound(input.size(), &prefs));
  size_t written =
      LZ4F_compressFrame(out->data() + at, out->size() - at, input.data(), input.size(), &prefs);
  if (LZ4F_isError(written)) {
    out->resize(at);
    return absl::InternalError(
        absl::StrFormat("lz4: LZ4F_compressFrame failed: %s", LZ4F_getErrorName(written)));
  }
  out->resize(at + written);
  return absl::OkStatus();
}

absl::Status Lz4Decompress(std::span<const std::byte> input, Output* output) {
  LZ4F_dctx* raw = nullptr;
  if (LZ4F_isError(LZ4F_createDecompressionContext(&raw, LZ4F_VERSION))) {
    return absl::ResourceExhaustedError("lz4: cannot create a decompression context");
  }
  std::unique_ptr<LZ4F_dctx, LZ4F_errorCode_t (*)(LZ4F_dctx*)> dctx(raw,
                                                                    LZ4F_freeDecompressionContext);
  const std::byte* in = input.data();
  size_t in_left = input.size();
  while (true) {
    size_t room = 0;
    std::byte* p = output->Room(&room);
    if (p == nullptr) return TooLarge(Compression::kLz4, output->max_bytes());
    size_t produced = room;
    size_t consumed = in_left;
    size_t hint = LZ4F_decompress(dctx.get(), p, &produced, in, &consumed, nullptr);
    output->Used(room, LZ4F_isError(hint) ? 0 : produced);
    if (LZ4F_isError(hint)) return Corrupt(Compression::kLz4, LZ4F_getErrorName(hint));
    if (output->over_limit()) return TooLarge(Compression::kLz4, output->max_bytes());
    if (consumed == 0 && produced == 0 && hint != 0 && in_left != 0) {
      return Corrupt(Compression::kLz4, "the decoder made no progress");
    }
    in += consumed;
    in_left -= consumed;
    if (hint == 0) {
      // The frame is complete. Kafka reads one frame per batch; bytes after it are not ours.
      if (in_left != 0) {
        return Corrupt(Compression::kLz4,
                       absl::StrFormat("%d bytes follow the end of the frame", in_left));
      }
      return absl::OkStatus();
    }
    // Not done: it needs more input (there is none) unless it stopped because the output was full.
    if (in_left == 0 && produced < room) return Corrupt(Compression::kLz4, "truncated frame");
  }
}
#endif  // BROOK_HAVE_LZ4

// --- zstd
// -----------------------------------------------------------------------------------------
#ifdef BROOK_HAVE_ZSTD
// Kafka's ZstdCompression default level.
constexpr int kZstdLevel = 3;

absl::Status ZstdCompress(std::span<const std::byte> input, std::vector<std::byte>* out) {
  size_t at = out->size();
  out->resize(at + ZSTD_compressBound(input.size()));
  size_t written =
      ZSTD_compress(out->data() + at, out->size() - at, input.data(), input.size(), kZstdLevel);
  if (ZSTD_isError(written)) {
    out->resize(at);
    return absl::InternalError(
        absl::StrFormat("zstd: ZSTD_compress failed: %s", ZSTD_getErrorName(written)));
  }
  out->resize(at + written);
  return absl::OkStatus();
}

absl::Status ZstdDecompress(std::span<const std::byte> input, Output* output) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (dctx == nullptr) return absl::ResourceExhaustedError("zstd: cannot create a context");
  // The window a frame declares is what the decoder allocates. Output past max_bytes is refused
  // anyway, so a window larger than the limit buys nothing; but producers streaming without a
  // content size declare windows of a few MiB whatever the data, so at least 8 MiB is allowed,
  // and never more than zstd's own default cap (128 MiB).
  int window_log = 23;
  while (window_log < 27 && (size_t{1} << window_log) < output->max_bytes()) ++window_log;
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, window_log);
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t hint = 1;
  while (true) {
    size_t room = 0;
    std::byte* p = output->Room(&room);
    if (p == nullptr) return TooLarge(Compression::kZstd, output->max_bytes());
    ZSTD_outBuffer out{p, room, 0};
    size_t in_before = in.pos;
    hint = ZSTD_decompressStream(dctx.get(), &out, &in);
    output->Used(room, ZSTD_isError(hint) ? 0 : out.pos);
    if (ZSTD_isError(hint)) return Corrupt(Compression::kZstd, ZSTD_getErrorName(hint));
    if (output->over_limit()) return TooLarge(Compression::kZstd, output->max_bytes());
    if (hint == 0 && in.pos == in.size) return absl::OkStatus();  // last frame complete
    if (hint != 0 && in.pos == in_before && out.pos == 0) {
      return Corrupt(Compression::kZstd, "the decoder made no progress");
    }
    // hint == 0 with input left: another frame follows, decoded on the next turn.
    if (hint != 0 && in.pos == in.size && out.pos < room) {
      return Corrupt(Compression::kZstd, "truncated frame");
    }
  }
}
#endif  // BROOK_HAVE_ZSTD

}  // namespace

std::string_view CompressionName(Compression codec) {
  switch (codec) {
    case Compression::kNone:
      return "none";
    case Compression::kGzip:
      return "gzip";
    case Compression::kSnappy:
      return "snappy";
    case Compression::kLz4:
      return "lz4";
    case Compression::kZstd:
      return "zstd";
  }
  switch (static_cast<int>(codec)) {
    case 5:
      return "codec 5";
    case 6:
      return "codec 6";
    default:
      return "codec 7";
  }
}

absl::Status Compress(Compression codec, [[maybe_unused]] std::span<const std::byte> input,
                      [[maybe_unused]] std::vector<std::byte>* out) {
  switch (codec) {
#ifdef BROOK_HAVE_ZLIB
    case Compression::kGzip:
      return GzipCompress(input, out);
#endif
#ifdef BROOK_HAVE_SNAPPY
    case Compression::kSnappy:
      return SnappyCompress(input, out);
#endif
#ifdef BROOK_HAVE_LZ4
    case Compression::kLz4:
      return Lz4Compress(input, out);
#endif
#ifdef BROOK_HAVE_ZSTD
    case Compression::kZstd:
      return ZstdCompress(input, out);
#endif
    default:
      return Unsupported(codec);
  }
}

absl::Status Decompress(Compression codec, [[maybe_unused]] std::span<const std::byte> input,
                        size_t max_bytes, std::vector<std::byte>* out) {
  [[maybe_unused]] Output output(out, input.size(), max_bytes);
  switch (codec) {
#ifdef BROOK_HAVE_ZLIB
    case Compression::kGzip:
      return GzipDecompress(input, &output);
#endif
#ifdef BROOK_HAVE_SNAPPY
    case Compression::kSnappy:
      return SnappyDecompress(input, &output);
#endif
#ifdef BROOK_HAVE_LZ4
    case Compression::kLz4:
      return Lz4Decompress(input, &output);
#endif
#ifdef BROOK_HAVE_ZSTD
    case Compression::kZstd:
      return ZstdDecompress(input, &output);
#endif
    default:
      return Unsupported(codec);
  }
}

}  // namespace format

bool CompressionSupported(Compression codec) {
  switch (codec) {
    case Compression::kNone:
      return true;
#ifdef BROOK_HAVE_ZLIB
    case Compression::kGzip:
      return true;
#endif
#ifdef BROOK_HAVE_SNAPPY
    case Compression::kSnappy:
      return true;
#endif
#ifdef BROOK_HAVE_LZ4
    case Compression::kLz4:
      return true;
#endif
#ifdef BROOK_HAVE_ZSTD
    case Compression::kZstd:
      return true;
#endif
    default:
      return false;
  }
}

absl::StatusOr<std::vector<std::byte>> DecompressBatch(const RecordBatchView& batch,
                                                       size_t max_bytes) {
  using namespace batch_layout;
  std::span<const std::byte> bytes = batch.bytes();
  std::vector<std::byte> out(bytes.begin(), bytes.begin() + kHeaderSize);
  Compression codec = batch.compression();
  if (codec == Compression::kNone) {
    out.assign(bytes.begin(), bytes.end());
  } else {
    absl::Status s = format::Decompress(codec, bytes.subspan(kHeaderSize), max_bytes, &out);
    if (!s.ok()) {
      return Annotate(
          s, absl::StrFormat("decompressing the batch at base offset %d", batch.base_offset()));
    }
    if (out.size() - kLogOverhead > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      return WithErrorCode(absl::InvalidArgumentError(absl::StrFormat(
                               "%s batch at base offset %d decompresses to %d bytes, more than a "
                               "batch can hold",
                               format::CompressionName(codec), batch.base_offset(), out.size())),
                           ErrorCode::kMessageTooLarge);
    }
    std::byte* h = out.data();
    detail::StoreBig<int32_t>(h + kLength, static_cast<int32_t>(out.size() - kLogOverhead));
    detail::StoreBig<uint16_t>(
        h + kAttributes,
        static_cast<uint16_t>(static_cast<uint16_t>(batch.attributes()) & ~kCompressionMask));
    detail::StoreBig<uint32_t>(h + kCrc, Crc32c(h + kAttributes, out.size() - kAttributes));
  }
  absl::StatusOr<RecordBatchView> check = RecordBatchView::Parse(out, Verify::kFull);
  if (!check.ok()) {
    return Annotate(check.status(),
                    absl::StrFormat("%s batch at base offset %d", format::CompressionName(codec),
                                    batch.base_offset()));
  }
  return out;
}

absl::Status VisitRecords(const RecordBatchView& batch, size_t max_bytes,
                          absl::FunctionRef<void(const RecordView&)> fn) {
  if (batch.compression() == Compression::kNone) {
    for (const RecordView& record : batch.records()) fn(record);
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::byte>> plain = DecompressBatch(batch, max_bytes);
  if (!plain.ok()) return plain.status();
  // DecompressBatch checked the result with Verify::kFull.
  for (const RecordView& record : RecordBatchView::Parse(*plain, Verify::kHeader)->records()) {
    fn(record);
  }
  return absl::OkStatus();
}

}  // namespace brook
