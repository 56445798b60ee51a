#include "storage/batch_rewrite.h"

#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "brook/crc32c.h"
#include "brook/record_batch.h"
#include "brook/record_batch_builder.h"
#include "support/catch.h"

namespace brook::storage {
namespace {

using namespace std::string_view_literals;

struct Record {
  int64_t offset;
  int64_t timestamp;
  std::optional<std::string> key;
  std::optional<std::string> value;
  std::vector<std::pair<std::string, std::optional<std::string>>> headers;

  bool operator==(const Record&) const = default;
};

Record Capture(const RecordView& r) {
  Record out{r.offset(),
             r.timestamp(),
             r.has_key() ? std::optional<std::string>(r.key()) : std::nullopt,
             r.has_value() ? std::optional<std::string>(r.value()) : std::nullopt,
             {}};
  for (const Header& h : r.headers()) {
    out.headers.emplace_back(std::string(h.key),
                             h.value ? std::optional<std::string>(*h.value) : std::nullopt);
  }
  return out;
}

std::vector<Record> Records(const RecordBatchView& batch) {
  std::vector<Record> out;
  for (const RecordView& r : batch.records()) out.push_back(Capture(r));
  return out;
}

constexpr RecordBatchOptions kOptions = {.base_offset = 1000,
                                         .producer_id = 42,
                                         .producer_epoch = 3,
                                         .base_sequence = 17,
                                         .partition_leader_epoch = 5,
                                         .transactional = true};

// Six records with keys, values, a tombstone, headers and unordered timestamps.
std::vector<std::byte> SixRecords(RecordBatchOptions options = kOptions) {
  RecordBatchBuilder builder(options);
  Header headers[] = {{"trace", "abc"}, {"null", std::nullopt}};
  builder.Append(5000, "k0", "v0", headers);
  builder.Append(4000, "k1", std::nullopt);  // earlier than the base: negative delta
  builder.Append(9000, "k2", "v2");
  builder.Append(7000, std::nullopt, "v3", headers);
  builder.Append(6000, "k4", ""sv);
  builder.Append(8000, "k5", "v5", headers);
  std::span<const std::byte> bytes = builder.Finish();
  return {bytes.begin(), bytes.end()};
}

RecordBatchView Parse(std::span<const std::byte> bytes) {
  absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(bytes, Verify::kFull);
  INFO(batch.status().ToString());
  REQUIRE(batch.ok());
  REQUIRE(batch->size_bytes() == bytes.size());
  return *batch;
}

// What a rewrite must never change.
void CheckKeptHeader(const RecordBatchView& in, const RecordBatchView& out) {
  CHECK(out.base_offset() == in.base_offset());
  CHECK(out.last_offset_delta() == in.last_offset_delta());
  CHECK(out.partition_leader_epoch() == in.partition_leader_epoch());
  CHECK(out.producer_id() == in.producer_id());
  CHECK(out.producer_epoch() == in.producer_epoch());
  CHECK(out.base_sequence() == in.base_sequence());
  CHECK((out.attributes() & ~batch_layout::kDeleteHorizonFlag) == in.attributes());
}

TEST_CASE("RewriteBatch keeping every record copies the batch verbatim", "[batch_rewrite]") {
  std::vector<std::byte> in_bytes = SixRecords();
  RecordBatchView in = Parse(in_bytes);
  std::vector<std::byte> out = {std::byte{0xAB}};  // appends after what is there
  int calls = 0;
  int64_t last_offset = -1;
  int32_t kept = RewriteBatch(
      in,
      [&](const RecordView& r) {
        ++calls;
        CHECK(r.offset() > last_offset);
        last_offset = r.offset();
        return true;
      },
      std::nullopt, &out);
  CHECK(kept == 6);
  CHECK(calls == 6);
  REQUIRE(out.size() == 1 + in_bytes.size());
  CHECK(out[0] == std::byte{0xAB});
  CHECK(std::vector<std::byte>(out.begin() + 1, out.end()) == in_bytes);
}

TEST_CASE("RewriteBatch keeping no record leaves an empty batch with the offsets",
          "[batch_rewrite]") {
  std::vector<std::byte> in_bytes = SixRecords();
  RecordBatchView in = Parse(in_bytes);
  std::vector<std::byte> out;
  CHECK(RewriteBatch(
            in, [](const RecordView&) { return false; }, std::nullopt, &out) == 0);
  REQUIRE(out.size() == 61);
  RecordBatchView batch = Parse(out);
  CheckKeptHeader(in, batch);
  CHECK(batch.records_count() == 0);
  CHECK(batch.last_offset() == 1005);
  CHECK(batch.base_timestamp() == in.base_timestamp());
  CHECK(batch.max_timestamp() == in.max_timestamp());
  CHECK_FALSE(batch.has_delete_horizon());
  CHECK(batch.records().begin() == batch.records().end());
}

TEST_CASE("RewriteBatch keeps the chosen records unchanged, with gaps", "[batch_rewrite]") {
  std::vector<std::byte> in_bytes = SixRecords();
  RecordBatchView in = Parse(in_bytes);
  std::vector<Record> all = Records(in);
  std::vector<std::byte> out;
  int32_t kept = RewriteBatch(
      in, [](const RecordView& r) { return r.offset() % 2 == 1; }, std::nullopt, &out);
  CHECK(kept == 3);
  RecordBatchView batch = Parse(out);
  CheckKeptHeader(in, batch);
  CHECK(batch.attributes() == in.attributes());
  CHECK(batch.records_count() == 3);
  CHECK(batch.base_timestamp() == in.base_timestamp());
  CHECK(batch.max_timestamp() == 8000);  // was 9000, from a dropped record
  CHECK(batch.crc_ok());
  CHECK(Records(batch) == std::vector<Record>{all[1], all[3], all[5]});
  // The kept records' bytes are copied as they were.
  size_t dropped_bytes = 0;
  for (const RecordView& r : in.records()) {
    if (r.offset() % 2 == 0) dropped_bytes += r.bytes().size();
  }
  CHECK(out.size() == in_bytes.size() - dropped_bytes);
}

TEST_CASE("RewriteBatch sets a delete horizon without moving any timestamp", "[batch_rewrite]") {
  std::vector<std::byte> in_bytes = SixRecords();
  RecordBatchView in = Parse(in_bytes);
  std::vector<Record> all = Records(in);
  // Near the base, and far beyond every record (all deltas negative, and longer varints).
  int64_t horizon = GENERATE(int64_t{5000}, int64_t{4500}, int64_t{1'700'000'000'000},
                             std::numeric_limits<int64_t>::max());
  CAPTURE(horizon);
  {
    SECTION("keep all") {
      std::vector<std::byte> out;
      CHECK(RewriteBatch(
                in, [](const RecordView&) { return true; }, horizon, &out) == 6);
      RecordBatchView batch = Parse(out);
      CheckKeptHeader(in, batch);
      CHECK(batch.has_delete_horizon());
      CHECK(batch.base_timestamp() == horizon);
      CHECK(batch.max_timestamp() == 9000);
      CHECK(batch.records_count() == 6);
      CHECK(Records(batch) == all);
    }
    SECTION("keep some") {
      std::vector<std::byte> out;
      CHECK(RewriteBatch(
                in, [](const RecordView& r) { return r.offset() != 1002; }, horizon, &out) == 5);
      RecordBatchView batch = Parse(out);
      CheckKeptHeader(in, batch);
      CHECK(batch.has_delete_horizon());
      CHECK(batch.base_timestamp() == horizon);
      CHECK(batch.max_timestamp() == 8000);
      CHECK(Records(batch) == std::vector<Record>{all[0], all[1], all[3], all[4], all[5]});
    }
    SECTION("keep none") {
      std::vector<std::byte> out;
      CHECK(RewriteBatch(
                in, [](const RecordView&) { return false; }, horizon, &out) == 0);
      RecordBatchView batch = Parse(out);
      CheckKeptHeader(in, batch);
      CHECK(batch.has_delete_horizon());
      CHECK(batch.base_timestamp() == horizon);
      CHECK(batch.max_timestamp() == in.max_timestamp());
      CHECK(batch.records_count() == 0);
    }
  }
}

TEST_CASE("RewriteBatch rebases a batch that already has a delete horizon", "[batch_rewrite]") {
  std::vector<std::byte> in_bytes = SixRecords();
  RecordBatchView in = Parse(in_bytes);
  std::vector<Record> all = Records(in);
  std::vector<std::byte> first;
  RewriteBatch(
      in, [](const RecordView&) { return true; }, 100'000, &first);
  std::vector<std::byte> second;
  CHECK(RewriteBatch(
            Parse(first), [](const RecordView& r) { return r.offset() >= 1004; }, 200, &second) ==
        2);
  RecordBatchView batch = Parse(second);
  CHECK(batch.base_timestamp() == 200);
  CHECK(batch.has_delete_horizon());
  CHECK(Records(batch) == std::vector<Record>{all[4], all[5]});
}

TEST_CASE("RewriteBatch keeps LogAppendTime batches' timestamps", "[batch_rewrite]") {
  RecordBatchOptions options = kOptions;
  options.timestamp_type = TimestampType::kLogAppendTime;
  std::vector<std::byte> in_bytes = SixRecords(options);
  // The broker's append time, as Log::Append stamps it: later than any record's create time.
  detail::StoreBig<int64_t>(in_bytes.data() + batch_layout::kMaxTimestamp, 50'000);
  detail::StoreBig<uint32_t>(in_bytes.data() + batch_layout::kCrc,
                             Crc32c(in_bytes.data() + batch_layout::kAttributes,
                                    in_bytes.size() - batch_layout::kAttributes));
  RecordBatchView in = Parse(in_bytes);
  REQUIRE(in.timestamp_type() == TimestampType::kLogAppendTime);
  std::vector<Record> all = Records(in);
  for (const Record& r : all) REQUIRE(r.timestamp == 50'000);

  auto keep_first_two = [](const RecordView& r) { return r.offset() <= 1001; };
  SECTION("without a horizon") {
    std::vector<std::byte> out;
    CHECK(RewriteBatch(in, keep_first_two, std::nullopt, &out) == 2);
    RecordBatchView batch = Parse(out);
    CheckKeptHeader(in, batch);
    CHECK(batch.timestamp_type() == TimestampType::kLogAppendTime);
    CHECK(batch.max_timestamp() == 50'000);  // the append time, not recomputed
    CHECK(batch.base_timestamp() == in.base_timestamp());
    CHECK(Records(batch) == std::vector<Record>{all[0], all[1]});
  }
  SECTION("with a horizon") {
    std::vector<std::byte> out;
    CHECK(RewriteBatch(in, keep_first_two, 1'700'000'000'000, &out) == 2);
    RecordBatchView batch = Parse(out);
    CheckKeptHeader(in, batch);
    CHECK(batch.has_delete_horizon());
    CHECK(batch.timestamp_type() == TimestampType::kLogAppendTime);
    CHECK(batch.max_timestamp() == 50'000);
    CHECK(batch.base_timestamp() == 1'700'000'000'000);
    CHECK(Records(batch) == std::vector<Record>{all[0], all[1]});
    // The producer's create times survive under the horizon (base + delta), as Kafka keeps them.
    std::vector<int64_t> create_times;
    for (const RecordView& r : batch.records()) {
      const std::byte* p = r.bytes().data();
      const std::byte* end = p + r.bytes().size();
      int32_t length;
      p = detail::DecodeVarint32(p, end, &length);
      REQUIRE(p != nullptr);
      int64_t delta;
      REQUIRE(detail::DecodeVarint64(p + 1, end, &delta) != nullptr);
      create_times.push_back(batch.base_timestamp() + delta);
    }
    CHECK(create_times == std::vector<int64_t>{5000, 4000});
  }
}

TEST_CASE("RewriteBatch appends batch after batch to one buffer", "[batch_rewrite]") {
  std::vector<std::byte> a = SixRecords();
  RecordBatchOptions options = kOptions;
  options.base_offset = 1006;
  std::vector<std::byte> b = SixRecords(options);
  std::vector<std::byte> out;
  RewriteBatch(
      Parse(a), [](const RecordView& r) { return r.offset() == 1005; }, std::nullopt, &out);
  size_t first = out.size();
  RewriteBatch(
      Parse(b), [](const RecordView& r) { return r.offset() == 1006; }, 0, &out);
  RecordBatchView one = Parse(std::span(out).first(first));
  RecordBatchView two = Parse(std::span(out).subspan(first));
  CHECK(one.records().begin()->offset() == 1005);
  CHECK(two.records().begin()->offset() == 1006);
  CHECK(two.last_offset() == 1011);
}

}  // namespace
}  // namespace brook::storage
