// The brook CLI, run as a user would.
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "brook/clock.h"
#include "brook/log.h"
#include "brook/record_batch_builder.h"
#include "fmt/format.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using testing::CliPath;
using testing::Run;

TEST_CASE("brook log commands append, show, read and verify a log", "[cli]") {
  std::string cli = CliPath();
  if (cli.empty()) {
    WARN("brook CLI not built; skipping");
    return;
  }
  testing::TempDir dir;
  std::string log = dir.Sub("log");
  auto [append_code, acks] = Run({cli, "log", "append", log}, "first\nk2\tsecond\nthird\n");
  REQUIRE(append_code == 0);
  CHECK(acks == "acked 0\nacked 1\nacked 2\n");

  auto [read_code, records] = Run({cli, "log", "read", log, "--from", "1"});
  REQUIRE(read_code == 0);
  CHECK(records.find("1\t") == 0);
  CHECK(records.find("\tk2\tsecond\n") != std::string::npos);
  CHECK(records.find("first") == std::string::npos);

  auto [info_code, info] = Run({cli, "log", "info", log});
  REQUIRE(info_code == 0);
  CHECK(info.find("clean shutdown: yes") != std::string::npos);
  CHECK(info.find("end offset: 3") != std::string::npos);

  auto [dump_code, dump] = Run({cli, "log", "dump", log, "--records"});
  REQUIRE(dump_code == 0);
  CHECK(dump.find("baseOffset: 0 lastOffset: 2 count: 3") != std::string::npos);
  CHECK(dump.find("crcValid: true") != std::string::npos);
  CHECK(dump.find("key: k2 value: second") != std::string::npos);

  auto [verify_code, report] = Run({cli, "log", "verify", log});
  CHECK(verify_code == 0);
  CHECK(report.find("0 error(s)") != std::string::npos);

  // Corrupt a record byte: verify names the file and position and exits 1.
  {
    std::fstream f(log + "/00000000000000000000.log",
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(70);
    f.put('\x01');
  }
  auto [bad_code, bad] = Run({cli, "log", "verify", log});
  CHECK(bad_code == 1);
  CHECK(bad.find("ERROR") != std::string::npos);
  CHECK(bad.find("00000000000000000000.log: byte 0") != std::string::npos);
  CHECK(bad.find("CRC-32C") != std::string::npos);
}

TEST_CASE("A log open for appending in another process cannot be opened for writing",
          "[cli][log]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  std::string log = dir.Sub("log");
  testing::Child writer({cli, "log", "append", log});
  REQUIRE(writer.ok());
  REQUIRE(write(writer.stdin_fd(), "x\n", 2) == 2);
  char ack[16];
  REQUIRE(read(writer.stdout_fd(), ack, sizeof(ack)) > 0);  // the writer has the log open
  absl::StatusOr<std::unique_ptr<Log>> second = Log::Open(log, {});
  CHECK(absl::IsFailedPrecondition(second.status()));
  CHECK(second.status().message().find("locked") != absl::string_view::npos);
  // Readers that do not write are welcome meanwhile.
  auto [code, records] = Run({cli, "log", "read", log});
  CHECK(code == 0);
  CHECK(records.find("\tx\n") != std::string::npos);
  writer.CloseStdin();
  CHECK(writer.Wait() == 0);
  CHECK(Log::Open(log, {}).ok());
}

TEST_CASE("brook refuses bad arguments and non-log directories", "[cli]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  std::ofstream(dir.Sub("file.txt")) << "not a log";
  CHECK(Run({cli, "log", "info", dir.path()}).first == 1);
  CHECK(Run({cli, "log", "append", dir.path()}, "x\n").first == 1);
  CHECK(Run({cli, "log", "frobnicate", dir.path()}).first == 2);
  CHECK(Run({cli, "log", "read", dir.Sub("x"), "--from", "minus-one"}).first != 0);
  CHECK(Run({cli, "log", "append", dir.Sub("y"), "--flush=sometimes"}, "x\n").first == 2);
  CHECK(Run({cli, "version"}).first == 0);
}

TEST_CASE("brook log compact keeps the latest record of each key", "[cli][compaction]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  std::string path = dir.Sub("log");
  LogOptions options{.segment_bytes_max = 4096, .cleanup_policy = CleanupPolicy::kCompact};
  std::map<std::string, std::pair<int64_t, std::string>> latest;  // key -> (offset, value)
  size_t segments_before = 0;
  {
    auto log = Log::Open(path, options);
    REQUIRE(log.ok());
    for (int i = 0; i < 400; ++i) {
      std::string key = "k" + std::to_string(i % 10);
      std::string value = "value-" + std::to_string(i) + std::string(20, 'x');
      RecordBatchBuilder builder;
      builder.Append(1000 + i, key, value);
      auto appended = (*log)->Append(builder.Finish());
      REQUIRE(appended.ok());
      latest[key] = {appended->base_offset, value};
    }
    segments_before = (*log)->Segments().size();
    REQUIRE(segments_before > 3);
    REQUIRE((*log)->Close().ok());
  }

  auto [code, out] = Run({cli, "log", "compact", path});
  INFO(out);
  REQUIRE(code == 0);
  CHECK(out.find("compacted " + path) != std::string::npos);
  CHECK(out.find(fmt::format("segments: {} -> ", segments_before)) != std::string::npos);
  CHECK(out.find("bytes read: ") != std::string::npos);
  CHECK(out.find("cleaned to offset: ") != std::string::npos);

  auto log = Log::Open(path, options);
  REQUIRE(log.ok());
  CHECK((*log)->end_offset() == 400);
  CHECK((*log)->Segments().size() < segments_before);
  auto records = testing::ReadAll(**log);
  REQUIRE(records.ok());
  CHECK(records->size() < 400);
  CHECK(out.find(fmt::format("records removed: {} (tombstones removed: 0)",
                             400 - records->size())) != std::string::npos);
  // Superseded records are gone below the active segment; every key's latest record is kept.
  int64_t active_base = (*log)->Segments().back().base_offset;
  std::map<std::string, int> below_active;
  for (const testing::ReadRecord& r : *records) {
    REQUIRE(r.key.has_value());
    if (r.offset < active_base) ++below_active[*r.key];
  }
  for (const auto& [key, n] : below_active) CHECK(n == 1);
  for (const auto& [key, kept] : latest) {
    bool found = false;
    for (const testing::ReadRecord& r : *records)
      found = found || (r.offset == kept.first && r.key == key && r.value == kept.second);
    CHECK(found);
  }
  REQUIRE((*log)->Close().ok());

  // The compacted log verifies (offset gaps, grouped segments, rebuilt indexes) and dumps.
  auto [verify_code, verify_out] = Run({cli, "log", "verify", path});
  INFO(verify_out);
  CHECK(verify_code == 0);
  auto [dump_code, dump_out] = Run({cli, "log", "dump", path});
  CHECK(dump_code == 0);
  CHECK(dump_out.find("baseOffset: ") != std::string::npos);

  CHECK(Run({cli, "log", "compact", path, "--min-lag=soon"}).first == 2);
  CHECK(Run({cli, "log", "compact", dir.Sub("missing")}).first == 1);
  // One writer at a time: compact fails while another process has the log open.
  testing::Child writer({cli, "log", "append", path});
  REQUIRE(writer.ok());
  REQUIRE(write(writer.stdin_fd(), "k\tv\n", 4) == 4);
  char ack[16];
  REQUIRE(read(writer.stdout_fd(), ack, sizeof(ack)) > 0);
  CHECK(Run({cli, "log", "compact", path}).first == 1);
  writer.CloseStdin();
  CHECK(writer.Wait() == 0);
}

TEST_CASE("brook log producers lists the idempotent producers", "[cli][producer]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  std::string path = dir.Sub("log");
  ProducerIdentity a, b;
  // Recent timestamps: the log forgets producers whose last batch is older than
  // producer_id_expiration (24 hours) when it opens.
  int64_t now = Clock::Real()->NowMs();
  {
    auto log = Log::Open(path, {});
    REQUIRE(log.ok());
    auto append = [&](ProducerIdentity p, int32_t sequence, int records, int64_t timestamp) {
      RecordBatchBuilder builder(
          {.producer_id = p.producer_id, .producer_epoch = p.epoch, .base_sequence = sequence});
      for (int i = 0; i < records; ++i) builder.Append(timestamp, std::nullopt, "v");
      auto appended = (*log)->Append(builder.Finish());
      REQUIRE(appended.ok());
      return appended->last_offset;
    };
    auto first = (*log)->InitProducer();
    REQUIRE(first.ok());
    a = *first;
    auto second = (*log)->InitProducer();
    REQUIRE(second.ok());
    b = *second;
    REQUIRE(a.producer_id != b.producer_id);
    append(a, 0, 1, now);
    append(b, 0, 3, now + 1);
    append(a, 1, 2, now + 2);
    int64_t a_last = append(a, 3, 1, now + 3);
    REQUIRE(a_last == 6);
    REQUIRE((*log)->Close().ok());
  }
  auto [code, out] = Run({cli, "log", "producers", path});
  INFO(out);
  REQUIRE(code == 0);
  CHECK(out.find("2 producer(s)") != std::string::npos);
  // producer id, epoch, last sequence, last offset, last timestamp, batches retained
  std::map<int64_t, std::vector<int64_t>> rows;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::vector<int64_t> row;
    for (int64_t v; fields >> v;) row.push_back(v);
    if (row.size() == 6 && fields.eof()) rows[row[0]] = row;
  }
  REQUIRE(rows.size() == 2);
  CHECK(rows[a.producer_id] == std::vector<int64_t>{a.producer_id, 0, 3, 6, now + 3, 3});
  CHECK(rows[b.producer_id] == std::vector<int64_t>{b.producer_id, 0, 2, 3, now + 1, 1});

  CHECK(Run({cli, "log", "producers", dir.Sub("missing")}).first == 1);  // not created
  CHECK_FALSE(std::filesystem::exists(dir.Sub("missing")));
}

}  // namespace
}  // namespace brook
