// Compressed RecordBatches: builder -> Parse -> DecompressBatch round trips per codec, Kafka's
// framing byte for byte, and bad input (corrupt, truncated, oversized) giving errors.

#include "brook/compression.h"

#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "brook/crc32c.h"
#include "brook/record_batch_builder.h"
#include "brook/status.h"
#include "format/compression.h"
#include "support/catch.h"

namespace brook {
namespace {

using namespace batch_layout;

constexpr Compression kCodecs[] = {Compression::kGzip, Compression::kSnappy, Compression::kLz4,
                                   Compression::kZstd};

struct Rec {
  int64_t offset;
  int64_t timestamp;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;
  bool operator==(const Rec&) const = default;
};

std::vector<Rec> Records(const RecordBatchView& batch) {
  std::vector<Rec> out;
  for (const RecordView& r : batch.records()) {
    Rec rec{r.offset(), r.timestamp(), std::nullopt, std::nullopt, {}};
    if (r.has_key()) rec.key = std::string(r.key());
    if (r.has_value()) rec.value = std::string(r.value());
    for (const Header& h : r.headers()) {
      rec.headers.emplace_back(std::string(h.key),
                               h.value ? std::optional<std::string>(*h.value) : std::nullopt);
    }
    out.push_back(std::move(rec));
  }
  return out;
}

// A batch of `n` JSON-ish records (compressible), with keys, nulls and headers mixed in.
std::vector<std::byte> MakeBatch(Compression codec, int n, RecordBatchOptions options = {}) {
  options.compression = codec;
  RecordBatchBuilder builder(options);
  for (int i = 0; i < n; ++i) {
    std::string key = "user-" + std::to_string(i % 17);
    std::string value = R"({"event":"login","user":)" + std::to_string(i) + R"(,"ok":true})";
    Header headers[] = {{"trace", "abc"}, {"empty", std::nullopt}};
    builder.Append(1000 + i, i % 5 == 0 ? std::nullopt : std::optional<std::string_view>(key),
                   i % 7 == 0 ? std::nullopt : std::optional<std::string_view>(value),
                   i % 3 == 0 ? std::span<const Header>(headers) : std::span<const Header>());
  }
  std::span<const std::byte> bytes = builder.Finish();
  CHECK(builder.compression() == (CompressionSupported(codec) ? codec : Compression::kNone));
  CHECK(builder.size_bytes() == bytes.size());
  return {bytes.begin(), bytes.end()};
}

void FixCrc(std::vector<std::byte>* batch) {
  detail::StoreBig<uint32_t>(batch->data() + kCrc,
                             Crc32c(batch->data() + kAttributes, batch->size() - kAttributes));
}

std::vector<std::byte> Bytes(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

TEST_CASE("Compressed batches round-trip through the builder, Parse and DecompressBatch",
          "[compression]") {
  const Compression codec = GENERATE(from_range(std::begin(kCodecs), std::end(kCodecs)));
  INFO("codec " << format::CompressionName(codec));
  if (!CompressionSupported(codec)) {
    WARN("codec " << format::CompressionName(codec) << " not in this build; skipped");
    return;
  }
  RecordBatchOptions options{.base_offset = 1234,
                             .producer_id = 77,
                             .producer_epoch = 3,
                             .base_sequence = 40,
                             .partition_leader_epoch = 9};
  std::vector<std::byte> plain = MakeBatch(Compression::kNone, 500, options);
  std::vector<std::byte> packed = MakeBatch(codec, 500, options);

  absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(packed, Verify::kFull);
  REQUIRE(batch.ok());
  CHECK(batch->compression() == codec);
  CHECK(packed.size() < plain.size() / 2);  // repetitive records compress well
  CHECK(batch->records().size() == 0);      // views never point into compressed bytes
  CHECK(batch->records_count() == 500);

  absl::StatusOr<std::vector<std::byte>> inflated = DecompressBatch(*batch, 1 << 20);
  REQUIRE(inflated.ok());
  // Same header fields and records as the batch built uncompressed: byte-identical, CRC too.
  CHECK(*inflated == plain);
  absl::StatusOr<RecordBatchView> view = RecordBatchView::Parse(*inflated);
  REQUIRE(view.ok());
  CHECK(view->compression() == Compression::kNone);
  CHECK(view->base_offset() == 1234);
  CHECK(view->producer_id() == 77);
  CHECK(view->partition_leader_epoch() == 9);
  std::vector<Rec> records = Records(*view);
  REQUIRE(records.size() == 500);
  CHECK(records == Records(*RecordBatchView::Parse(plain)));
  CHECK(records[3].value == R"({"event":"login","user":3,"ok":true})");
  CHECK(records[3].headers.size() == 2);
  CHECK_FALSE(records[5].key.has_value());
  CHECK_FALSE(records[7].value.has_value());
}

TEST_CASE("An empty records section compresses and decompresses", "[compression]") {
  for (Compression codec : kCodecs) {
    if (!CompressionSupported(codec)) continue;
    INFO("codec " << format::CompressionName(codec));
    std::vector<std::byte> packed = MakeBatch(codec, 0);
    absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(packed, Verify::kFull);
    REQUIRE(batch.ok());
    absl::StatusOr<std::vector<std::byte>> inflated = DecompressBatch(*batch, 100);
    REQUIRE(inflated.ok());
    CHECK(inflated->size() == kHeaderSize);
  }
}

TEST_CASE("Batches use Kafka's framing for each codec", "[compression]") {
  auto payload = [](Compression codec) {
    std::vector<std::byte> batch = MakeBatch(codec, 20);
    return std::vector<std::byte>(batch.begin() + kHeaderSize, batch.end());
  };
  if (CompressionSupported(Compression::kLz4)) {
    // Lz4BlockOutputStream's frame descriptor: magic 0x184D2204 (little-endian), FLG 0x60
    // (version 01, independent blocks, no checksums, no content size), BD 0x40 (64 KiB
    // blocks), HC 0x82 = (XXH32(FLG BD) >> 8) & 0xff. It ends with a zero end mark.
    std::vector<std::byte> lz4 = payload(Compression::kLz4);
    REQUIRE(lz4.size() > 11);
    CHECK(std::vector<std::byte>(lz4.begin(), lz4.begin() + 7) ==
          Bytes({0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82}));
    CHECK(std::vector<std::byte>(lz4.end() - 4, lz4.end()) == Bytes({0, 0, 0, 0}));
    // Past one 64 KiB block too: Kafka rejects frames with linked (dependent) blocks.
    std::vector<std::byte> big(MakeBatch(Compression::kLz4, 5000));
    REQUIRE(RecordBatchView::Parse(MakeBatch(Compression::kNone, 5000))->size_bytes() > 3 * 65536);
    CHECK(std::vector<std::byte>(big.begin() + kHeaderSize, big.begin() + kHeaderSize + 7) ==
          Bytes({0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82}));
  }
  if (CompressionSupported(Compression::kSnappy)) {
    // snappy-java's SnappyOutputStream header: magic, version 1, compatible version 1.
    std::vector<std::byte> snappy = payload(Compression::kSnappy);
    REQUIRE(snappy.size() > 16);
    CHECK(std::vector<std::byte>(snappy.begin(), snappy.begin() + 16) ==
          Bytes({0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}));
  }
  if (CompressionSupported(Compression::kGzip)) {
    std::vector<std::byte> gzip = payload(Compression::kGzip);
    CHECK(std::vector<std::byte>(gzip.begin(), gzip.begin() + 3) == Bytes({0x1f, 0x8b, 0x08}));
  }
  if (CompressionSupported(Compression::kZstd)) {
    std::vector<std::byte> zstd = payload(Compression::kZstd);
    CHECK(std::vector<std::byte>(zstd.begin(), zstd.begin() + 4) ==
          Bytes({0x28, 0xb5, 0x2f, 0xfd}));
  }
}

// A batch whose records section is `payload`, compressed with `codec` as given by hand.
std::vector<std::byte> WrapPayload(Compression codec, const std::vector<std::byte>& records_plain,
                                   const std::vector<std::byte>& payload, int32_t count) {
  RecordBatchBuilder builder;
  for (int i = 0; i < count; ++i) builder.Append(1000, std::nullopt, "v");
  std::span<const std::byte> plain = builder.Finish();
  REQUIRE(std::vector<std::byte>(plain.begin() + kHeaderSize, plain.end()) == records_plain);
  std::vector<std::byte> batch(plain.begin(), plain.begin() + kHeaderSize);
  batch.insert(batch.end(), payload.begin(), payload.end());
  detail::StoreBig<int32_t>(batch.data() + kLength, static_cast<int32_t>(batch.size() - 12));
  detail::StoreBig<uint16_t>(batch.data() + kAttributes, static_cast<uint16_t>(codec));
  FixCrc(&batch);
  return batch;
}

TEST_CASE("Hand-built frames as Kafka and librdkafka write them decompress", "[compression]") {
  // Two records "v" (null key, no headers): 8 bytes each.
  const std::vector<std::byte> records =
      Bytes({0x0e, 0, 0, 0, 0x01, 0x02, 'v', 0, 0x0e, 0, 0, 0x02, 0x01, 0x02, 'v', 0});
  SECTION("lz4: Kafka's descriptor, one block stored uncompressed (high bit of its size)") {
    if (!CompressionSupported(Compression::kLz4)) return;
    std::vector<std::byte> frame = Bytes({0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82});
    std::vector<std::byte> size = Bytes({static_cast<int>(records.size()), 0, 0, 0x80});
    frame.insert(frame.end(), size.begin(), size.end());
    frame.insert(frame.end(), records.begin(), records.end());
    std::vector<std::byte> end_mark = Bytes({0, 0, 0, 0});
    frame.insert(frame.end(), end_mark.begin(), end_mark.end());
    std::vector<std::byte> batch = WrapPayload(Compression::kLz4, records, frame, 2);
    absl::StatusOr<RecordBatchView> view = RecordBatchView::Parse(batch, Verify::kFull);
    REQUIRE(view.ok());
    absl::StatusOr<std::vector<std::byte>> inflated = DecompressBatch(*view, 1024);
    REQUIRE(inflated.ok());
    CHECK(Records(*RecordBatchView::Parse(*inflated)).size() == 2);
  }
  SECTION("snappy: a raw block without xerial framing (librdkafka)") {
    if (!CompressionSupported(Compression::kSnappy)) return;
    // Snappy block: varint length 16, then one literal of 16 bytes (tag (16-1)<<2).
    std::vector<std::byte> block = Bytes({16, (16 - 1) << 2});
    block.insert(block.end(), records.begin(), records.end());
    std::vector<std::byte> batch = WrapPayload(Compression::kSnappy, records, block, 2);
    absl::StatusOr<RecordBatchView> view = RecordBatchView::Parse(batch, Verify::kFull);
    REQUIRE(view.ok());
    absl::StatusOr<std::vector<std::byte>> inflated = DecompressBatch(*view, 1024);
    REQUIRE(inflated.ok());
    CHECK(Records(*RecordBatchView::Parse(*inflated)).size() == 2);
  }
  SECTION("snappy: xerial framing whose first block is empty") {
    if (!CompressionSupported(Compression::kSnappy)) return;
    // Found by the decompress fuzzer: an empty first block, decoded before any output existed,
    // was taken for one over the limit by kFull (but not by DecompressBatch, whose output
    // already held the batch header).
    std::vector<std::byte> frame =
        Bytes({0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1});
    std::vector<std::byte> empty_block = Bytes({0, 0, 0, 1, 0});
    frame.insert(frame.end(), empty_block.begin(), empty_block.end());
    std::vector<std::byte> block_length = Bytes({0, 0, 0, 18, 16, (16 - 1) << 2});
    frame.insert(frame.end(), block_length.begin(), block_length.end());
    frame.insert(frame.end(), records.begin(), records.end());
    std::vector<std::byte> batch = WrapPayload(Compression::kSnappy, records, frame, 2);
    absl::StatusOr<RecordBatchView> view = RecordBatchView::Parse(batch, Verify::kFull);
    REQUIRE(view.ok());
    absl::StatusOr<std::vector<std::byte>> inflated = DecompressBatch(*view, 1024);
    REQUIRE(inflated.ok());
    CHECK(Records(*RecordBatchView::Parse(*inflated)).size() == 2);

    // An "empty" block with bytes after its length header is still decoded, and fails.
    std::vector<std::byte> junk = frame;
    junk[16 + 3] = std::byte{2};
    junk.insert(junk.begin() + 16 + 5, std::byte{0x3c});
    std::vector<std::byte> bad = WrapPayload(Compression::kSnappy, records, junk, 2);
    CHECK_FALSE(RecordBatchView::Parse(bad, Verify::kFull).ok());
  }
}

TEST_CASE("Corrupt and truncated compressed batches give errors", "[compression]") {
  for (Compression codec : kCodecs) {
    if (!CompressionSupported(codec)) continue;
    INFO("codec " << format::CompressionName(codec));
    std::vector<std::byte> good = MakeBatch(codec, 300);

    // Truncated streams: every cut of the payload fails cleanly.
    for (size_t keep : {size_t{0}, size_t{1}, size_t{7}, (good.size() - kHeaderSize) / 2,
                        good.size() - kHeaderSize - 1}) {
      std::vector<std::byte> cut(good.begin(), good.begin() + kHeaderSize + keep);
      detail::StoreBig<int32_t>(cut.data() + kLength, static_cast<int32_t>(cut.size() - 12));
      FixCrc(&cut);
      INFO("payload cut to " << keep << " bytes");
      absl::StatusOr<RecordBatchView> header = RecordBatchView::Parse(cut, Verify::kChecksum);
      REQUIRE(header.ok());
      CHECK_FALSE(RecordBatchView::Parse(cut, Verify::kFull).ok());
      absl::StatusOr<std::vector<std::byte>> inflated = DecompressBatch(*header, 1 << 20);
      REQUIRE_FALSE(inflated.ok());
      CHECK(inflated.status().code() == absl::StatusCode::kInvalidArgument);
      CHECK(std::string(inflated.status().message()).find("base offset 0") != std::string::npos);
    }

    // Flipped bytes inside the stream: an error or (when the codec cannot tell) records that
    // fail the record checks; never a crash.
    for (size_t at = kHeaderSize; at < good.size(); at += 13) {
      std::vector<std::byte> bad = good;
      bad[at] ^= std::byte{0x5a};
      FixCrc(&bad);
      absl::StatusOr<RecordBatchView> header = RecordBatchView::Parse(bad, Verify::kChecksum);
      REQUIRE(header.ok());
      absl::StatusOr<RecordBatchView> full = RecordBatchView::Parse(bad, Verify::kFull);
      absl::StatusOr<std::vector<std::byte>> inflated = DecompressBatch(*header, 1 << 20);
      CHECK(full.ok() == inflated.ok());
    }

    // A record count that disagrees with the compressed records fails kFull only.
    std::vector<std::byte> lying = good;
    detail::StoreBig<int32_t>(lying.data() + kRecordsCount, 301);
    detail::StoreBig<int32_t>(lying.data() + kLastOffsetDelta, 300);
    FixCrc(&lying);
    CHECK(RecordBatchView::Parse(lying, Verify::kChecksum).ok());
    absl::StatusOr<RecordBatchView> full = RecordBatchView::Parse(lying, Verify::kFull);
    REQUIRE_FALSE(full.ok());
    CHECK(GetErrorCode(full.status()) == ErrorCode::kCorruptMessage);
    CHECK(std::string(full.status().message()).find("decompressed") != std::string::npos);
  }
}

TEST_CASE("A decompression bomb stops at the limit", "[compression]") {
  // 8 MiB of zeros in one record compresses to a few KiB with every codec.
  const std::string zeros(8 << 20, '\0');
  for (Compression codec : kCodecs) {
    if (!CompressionSupported(codec)) continue;
    INFO("codec " << format::CompressionName(codec));
    RecordBatchBuilder builder({.base_offset = 42, .compression = codec});
    builder.Append(1, std::nullopt, zeros);
    std::span<const std::byte> bytes = builder.Finish();
    CHECK(bytes.size() < (1 << 20));
    absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(bytes, Verify::kChecksum);
    REQUIRE(batch.ok());

    absl::StatusOr<std::vector<std::byte>> inflated = DecompressBatch(*batch, 1 << 20);
    REQUIRE_FALSE(inflated.ok());
    CHECK(inflated.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(GetErrorCode(inflated.status()) == ErrorCode::kMessageTooLarge);
    std::string message(inflated.status().message());
    CHECK(message.find(std::string(format::CompressionName(codec))) != std::string::npos);
    CHECK(message.find("base offset 42") != std::string::npos);
    CHECK(message.find("1048576") != std::string::npos);

    // Exactly at the limit is fine; one byte under is not.
    absl::StatusOr<std::vector<std::byte>> whole = DecompressBatch(*batch, 16 << 20);
    REQUIRE(whole.ok());
    size_t records_bytes = whole->size() - kHeaderSize;
    CHECK(DecompressBatch(*batch, records_bytes).ok());
    CHECK_FALSE(DecompressBatch(*batch, records_bytes - 1).ok());
    // Verify::kFull decompresses within kMaxDecompressedRecordsBytes: 8 MiB is accepted.
    CHECK(RecordBatchView::Parse(bytes, Verify::kFull).ok());
  }
}

TEST_CASE("Many tiny compressed records pass the header checks", "[compression]") {
  // 20000 identical records of 8 bytes compress far below 7 bytes a record; the header check
  // that bounds the count by the size applies only to uncompressed batches.
  for (Compression codec : kCodecs) {
    if (!CompressionSupported(codec)) continue;
    INFO("codec " << format::CompressionName(codec));
    RecordBatchBuilder builder({.compression = codec});
    for (int i = 0; i < 20000; ++i) builder.Append(1000, std::nullopt, "v");
    std::span<const std::byte> bytes = builder.Finish();
    CHECK(bytes.size() - kHeaderSize < 20000 * 7);
    CHECK(RecordBatchView::Parse(bytes, Verify::kHeader).ok());
    CHECK(RecordBatchView::Parse(bytes, Verify::kFull).ok());
  }
}

TEST_CASE("Unknown or missing codecs are reported, not guessed", "[compression]") {
  CHECK(CompressionSupported(Compression::kNone));
  CHECK_FALSE(CompressionSupported(static_cast<Compression>(5)));
  std::vector<std::byte> batch = MakeBatch(Compression::kNone, 3);
  detail::StoreBig<uint16_t>(batch.data() + kAttributes, 5);
  FixCrc(&batch);
  absl::StatusOr<RecordBatchView> view = RecordBatchView::Parse(batch, Verify::kChecksum);
  REQUIRE(view.ok());
  absl::StatusOr<std::vector<std::byte>> inflated = DecompressBatch(*view, 1 << 20);
  REQUIRE_FALSE(inflated.ok());
  CHECK(GetErrorCode(inflated.status()) == ErrorCode::kUnsupportedCompressionType);
  CHECK(GetErrorCode(RecordBatchView::Parse(batch, Verify::kFull).status()) ==
        ErrorCode::kUnsupportedCompressionType);
}

TEST_CASE("Uncompressed batches are unchanged by the compression option's default",
          "[compression]") {
  std::vector<std::byte> batch = MakeBatch(Compression::kNone, 10);
  absl::StatusOr<RecordBatchView> view = RecordBatchView::Parse(batch);
  REQUIRE(view.ok());
  CHECK(view->attributes() == 0);
  absl::StatusOr<std::vector<std::byte>> copy = DecompressBatch(*view, 0);
  REQUIRE(copy.ok());
  CHECK(*copy == batch);
}

}  // namespace
}  // namespace brook
