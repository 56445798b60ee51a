#include "brook/record_batch.h"

#include <random>
#include <string>
#include <vector>

#include "brook/crc32c.h"
#include "brook/record_batch_builder.h"
#include "brook/status.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/seed.h"

namespace brook {
namespace {

using namespace std::string_view_literals;

std::vector<std::byte> Copy(std::span<const std::byte> s) { return {s.begin(), s.end()}; }

TEST_CASE("RecordBatchBuilder writes Kafka's worked example size", "[format]") {
  // One record, null key, 1-byte value, no headers: record 8 bytes, batch 69, length field 57.
  RecordBatchBuilder builder;
  builder.Append(5, std::nullopt, "x");
  std::span<const std::byte> bytes = builder.Finish();
  REQUIRE(bytes.size() == 69);
  CHECK(detail::LoadBig<int32_t>(bytes.data() + batch_layout::kLength) == 57);
  CHECK(static_cast<int8_t>(bytes[batch_layout::kMagic]) == 2);
  absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(bytes);
  REQUIRE(batch.ok());
  CHECK(batch->records_count() == 1);
  CHECK(batch->last_offset_delta() == 0);
  CHECK(batch->base_timestamp() == 5);
  CHECK(batch->max_timestamp() == 5);
  CHECK(batch->producer_id() == -1);
  CHECK(batch->producer_epoch() == -1);
  CHECK(batch->base_sequence() == -1);
  CHECK(batch->partition_leader_epoch() == -1);
  CHECK(batch->crc_ok());
}

TEST_CASE("Record batches round-trip keys, values, nulls, headers and timestamps", "[format]") {
  RecordBatchBuilder builder({.base_offset = 100,
                              .producer_id = 7,
                              .producer_epoch = 3,
                              .base_sequence = 42,
                              .partition_leader_epoch = 9,
                              .transactional = true});
  Header headers[] = {{"trace", "abc"}, {"empty", ""sv}, {"null", std::nullopt}};
  builder.Append(1000, "k1", "v1", headers);
  builder.Append(900, std::nullopt, std::nullopt);  // earlier timestamp: negative delta
  builder.Append(2000, ""sv, ""sv);
  absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(builder.Finish());
  REQUIRE(batch.ok());
  CHECK(batch->base_offset() == 100);
  CHECK(batch->last_offset() == 102);
  CHECK(batch->max_timestamp() == 2000);
  CHECK(batch->producer_id() == 7);
  CHECK(batch->producer_epoch() == 3);
  CHECK(batch->base_sequence() == 42);
  CHECK(batch->partition_leader_epoch() == 9);
  CHECK(batch->is_transactional());
  CHECK_FALSE(batch->is_control());
  CHECK(batch->compression() == Compression::kNone);

  std::vector<RecordView> records(batch->records().begin(), batch->records().end());
  REQUIRE(records.size() == 3);
  CHECK(records[0].offset() == 100);
  CHECK(records[0].timestamp() == 1000);
  CHECK(records[0].key() == "k1");
  CHECK(records[0].value() == "v1");
  std::vector<Header> got(records[0].headers().begin(), records[0].headers().end());
  REQUIRE(got.size() == 3);
  CHECK(got[0].key == "trace");
  CHECK(got[0].value == std::optional<std::string_view>("abc"));
  CHECK(got[1].value == std::optional<std::string_view>(""));
  CHECK_FALSE(got[2].value.has_value());
  CHECK(records[1].offset() == 101);
  CHECK(records[1].timestamp() == 900);
  CHECK_FALSE(records[1].has_key());
  CHECK_FALSE(records[1].has_value());
  CHECK(records[2].has_key());
  CHECK(records[2].key().empty());
  CHECK(records[2].has_value());
}

TEST_CASE("RecordBatchView rejects a bad CRC with DataLoss", "[format]") {
  std::vector<std::byte> bytes = testing::MakeBatch({"hello", "world"});
  bytes[bytes.size() - 2] ^= std::byte{0x01};
  absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(bytes);
  CHECK(absl::IsDataLoss(batch.status()));
  CHECK(GetErrorCode(batch.status()) == ErrorCode::kCorruptMessage);
  CHECK(batch.status().message().find("CRC") != absl::string_view::npos);
  // Header-only parsing does not look at the CRC.
  CHECK(RecordBatchView::Parse(bytes, Verify::kHeader).ok());
}

TEST_CASE("RecordBatchView rejects short, mis-sized and malformed batches", "[format]") {
  std::vector<std::byte> good = testing::MakeBatch({"a", "bb", "ccc"});
  SECTION("truncated") {
    for (size_t n : {size_t{0}, size_t{16}, size_t{60}, good.size() - 1}) {
      CAPTURE(n);
      CHECK(absl::IsInvalidArgument(RecordBatchView::Parse(std::span(good).first(n)).status()));
    }
  }
  SECTION("bad magic") {
    good[batch_layout::kMagic] = std::byte{1};
    CHECK(absl::IsInvalidArgument(RecordBatchView::Parse(good).status()));
  }
  SECTION("record count lies") {
    auto bytes = testing::MakeBatch({"aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbb"});
    detail::StoreBig<int32_t>(bytes.data() + batch_layout::kRecordsCount, 4);
    // Recompute the CRC so only the structure is wrong.
    detail::StoreBig<uint32_t>(
        bytes.data() + batch_layout::kCrc,
        Crc32c(bytes.data() + batch_layout::kAttributes, bytes.size() - batch_layout::kAttributes));
    absl::Status s = RecordBatchView::Parse(bytes).status();
    CHECK(absl::IsInvalidArgument(s));
    INFO(s.message());
    CHECK(s.message().find("record 2") != absl::string_view::npos);
  }
  SECTION("huge record count is rejected before any work") {
    detail::StoreBig<int32_t>(good.data() + batch_layout::kRecordsCount, INT32_MAX);
    CHECK(absl::IsInvalidArgument(RecordBatchView::Parse(good, Verify::kHeader).status()));
  }
  SECTION("trailing bytes after the batch are ignored by Parse") {
    auto bytes = Copy(good);
    bytes.resize(bytes.size() + 10);
    absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(bytes);
    REQUIRE(batch.ok());
    CHECK(batch->size_bytes() == good.size());
  }
}

TEST_CASE("RecordBatchView never crashes on random corruption", "[format]") {
  std::mt19937_64 rng(testing::TestSeed());
  std::vector<std::byte> good = testing::MakeBatch({"alpha", "beta", "gamma", "delta"});
  for (int round = 0; round < 2000; ++round) {
    std::vector<std::byte> bytes = good;
    int flips = std::uniform_int_distribution<int>(1, 4)(rng);
    for (int i = 0; i < flips; ++i) {
      bytes[std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(rng)] ^=
          static_cast<std::byte>(1u << std::uniform_int_distribution<int>(0, 7)(rng));
    }
    bytes.resize(std::uniform_int_distribution<size_t>(0, bytes.size())(rng));
    for (Verify v : {Verify::kHeader, Verify::kChecksum, Verify::kFull}) {
      absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(bytes, v);
      if (!batch.ok()) continue;
      size_t n = 0;
      for (const RecordView& r : batch->records()) {
        n += r.key().size() + r.value().size();
        for (const Header& h : r.headers()) n += h.key.size();
      }
      CHECK(n <= bytes.size());
    }
  }
}

}  // namespace
}  // namespace brook
