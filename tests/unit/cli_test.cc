// The brook CLI, run as a user would.
#include <poll.h>
#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "brook/broker.h"
#include "brook/clock.h"
#include "brook/compression.h"
#include "brook/consumer.h"
#include "brook/log.h"
#include "brook/producer.h"
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
using testing::RunCapturingStderr;

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

TEST_CASE("brook log read and dump show the records of compressed batches", "[cli]") {
  std::string cli = CliPath();
  if (cli.empty()) {
    WARN("brook CLI not built; skipping");
    return;
  }
  if (!CompressionSupported(Compression::kZstd)) return;
  testing::TempDir dir;
  std::string path = dir.Sub("log");
  {
    auto log = Log::Open(path, {});
    REQUIRE(log.ok());
    RecordBatchBuilder builder({.compression = Compression::kZstd});
    builder.Append(1000, "k1", "packed one");
    builder.Append(1001, std::nullopt, "packed two");
    REQUIRE((*log)->Append(builder.Finish()).ok());
    REQUIRE((*log)->Close().ok());
  }
  auto [read_code, records] = Run({cli, "log", "read", path});
  REQUIRE(read_code == 0);
  CHECK(records.find("0\t1000\tk1\tpacked one\n") != std::string::npos);
  CHECK(records.find("1\t1001\t") != std::string::npos);
  CHECK(records.find("packed two") != std::string::npos);
  auto [dump_code, dump] = Run({cli, "log", "dump", path, "--records"});
  REQUIRE(dump_code == 0);
  CHECK(dump.find("compression: zstd") != std::string::npos);
  CHECK(dump.find("key: k1 value: packed one") != std::string::npos);
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
  // Commands other than topic create leave a directory that is not a broker's as it was.
  std::filesystem::create_directories(dir.Sub("empty"));
  for (const char* command : {"list", "describe"}) {
    INFO(command);
    std::vector<std::string> argv = {cli, "topic", command, dir.Sub("empty")};
    if (std::string(command) == "describe") argv.push_back("t");
    CHECK(Run(argv).first == 1);
    CHECK(std::filesystem::is_empty(dir.Sub("empty")));
  }
  CHECK(Run({cli, "groups", "list", dir.path()}).first == 1);
  CHECK(!std::filesystem::exists(dir.Sub(".lock")));
}

TEST_CASE("brook refuses unknown options and options missing their value", "[cli]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  const std::string broker = dir.Sub("broker");
  REQUIRE(Run({cli, "topic", "create", broker, "t"}).first == 0);
  // A typo must not run the command without the option: a group would start at the end and
  // commit it, skipping every record for good.
  testing::RunResult typo =
      RunCapturingStderr({cli, "consume", broker, "t", "--group", "g", "--from-begining"});
  CHECK(typo.code == 2);
  CHECK(typo.err.find("unknown option --from-begining") != std::string::npos);
  // A value-taking option does not swallow the next option as its value.
  testing::RunResult swallowed =
      RunCapturingStderr({cli, "consume", broker, "t", "--group", "--from-beginning"});
  CHECK(swallowed.code == 2);
  CHECK(swallowed.err.find("--group wants a value") != std::string::npos);
  CHECK(Run({cli, "produce", broker, "t", "--partitions", "2"}, "x\n").first == 2);
  CHECK(Run({cli, "produce", broker, "t", "--quiet=yes"}, "x\n").first == 2);
  CHECK(Run({cli, "produce", broker, "t", "--partition", "4294967296"}, "x\n").first == 2);
  CHECK(Run({cli, "topic", "list", broker, "--all"}).first == 2);
  // Nothing ran: no group, no record.
  auto [groups_code, groups] = Run({cli, "groups", "list", broker});
  CHECK(groups_code == 0);
  CHECK(std::count(groups.begin(), groups.end(), '\n') == 1);  // the header alone
  // --name=VALUE still takes any value, and the valid spellings work.
  CHECK(Run({cli, "produce", broker, "t", "--partition=0", "--quiet"}, "x\n").first == 0);
  auto [code, out] = Run({cli, "consume", broker, "t", "--group=--odd", "--from-beginning"});
  CHECK(code == 0);
  CHECK(out.rfind("0\t0\t", 0) == 0);
  CHECK(out.ends_with("\t\\N\tx\n"));
  std::tie(groups_code, groups) = Run({cli, "groups", "list", broker});
  CHECK(groups.find("--odd ") != std::string::npos);
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

// --- broker directories: topic, produce, consume, groups ---

// Small segments: each partition preallocates one.
constexpr char kSmallSegments[] = "segment.bytes=1048576";

// Lines of `text` split at tabs (or, with ' ', at runs of spaces).
std::vector<std::vector<std::string>> Rows(const std::string& text, char separator = '\t') {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    std::vector<std::string> row;
    if (separator == ' ') {
      std::istringstream fields(line);
      for (std::string f; fields >> f;) row.push_back(f);
    } else {
      std::istringstream fields(line);
      for (std::string f; std::getline(fields, f, separator);) row.push_back(f);
      if (!line.empty() && line.back() == separator) row.push_back("");
    }
    rows.push_back(row);
  }
  return rows;
}

// `groups describe` offset rows for `topic`: partition -> {committed offset, end offset, lag}.
std::map<int, std::vector<int64_t>> GroupOffsets(const std::string& describe,
                                                 const std::string& topic) {
  std::map<int, std::vector<int64_t>> offsets;
  for (const auto& row : Rows(describe, ' ')) {
    if (row.size() == 5 && row[0] == topic && row[1] != "partition") {
      offsets[std::stoi(row[1])] = {std::stoll(row[2]), std::stoll(row[3]), std::stoll(row[4])};
    }
  }
  return offsets;
}

TEST_CASE("brook topic creates, lists, describes, grows and deletes topics", "[cli][broker]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  std::string broker = dir.Sub("broker");  // created by the first topic create

  auto [create_code, created] =
      Run({cli, "topic", "create", broker, "orders", "--partitions", "3", "--config",
           kSmallSegments, "--config", "retention.ms=60000", "--config=cleanup.policy=compact"});
  INFO(created);
  REQUIRE(create_code == 0);
  CHECK(created.find("created topic orders with 3 partition(s)") != std::string::npos);
  REQUIRE(Run({cli, "topic", "create", broker, "audit", "--config", kSmallSegments}).first == 0);

  auto [list_code, list] = Run({cli, "topic", "list", broker});
  CHECK(list_code == 0);
  CHECK(list == "audit\norders\n");  // sorted, no internal topics

  auto [describe_code, describe] = Run({cli, "topic", "describe", broker, "orders"});
  INFO(describe);
  REQUIRE(describe_code == 0);
  CHECK(describe.find("topic: orders\npartitions: 3\n") != std::string::npos);
  CHECK(describe.find("  retention.ms=60000\n") != std::string::npos);
  CHECK(describe.find("  cleanup.policy=compact\n") != std::string::npos);
  CHECK(describe.find("  segment.bytes=1048576\n") != std::string::npos);
  // partition, start offset, end offset, high watermark, flushed offset, bytes, segments
  std::vector<std::vector<std::string>> partitions;
  for (const auto& row : Rows(describe, ' ')) {
    if (row.size() == 7 && row[0] != "partition") partitions.push_back(row);
  }
  REQUIRE(partitions.size() == 3);
  for (int p = 0; p < 3; ++p) {
    CHECK(partitions[p] ==
          std::vector<std::string>{std::to_string(p), "0", "0", "0", "0", "0", "1"});
  }

  // Records show in the describe of the partition they went to (keyed: the topic compacts).
  auto [produce_code, acks] =
      Run({cli, "produce", broker, "orders", "--partition", "2"}, "k\ta\nk\tb\n");
  REQUIRE(produce_code == 0);
  CHECK(acks == "2 0\n2 1\n");
  std::tie(describe_code, describe) = Run({cli, "topic", "describe", broker, "orders"});
  bool found = false;
  for (const auto& row : Rows(describe, ' ')) {
    if (row.size() == 7 && row[0] == "2") {
      found = true;
      CHECK(row[2] == "2");
      CHECK(row[3] == "2");
      CHECK(std::stoll(row[5]) > 0);
    }
  }
  CHECK(found);

  auto [grow_code, grown] =
      Run({cli, "topic", "add-partitions", broker, "orders", "--partitions", "5"});
  CHECK(grow_code == 0);
  CHECK(grown.find("now has 5 partition(s)") != std::string::npos);
  std::tie(describe_code, describe) = Run({cli, "topic", "describe", broker, "orders"});
  CHECK(describe.find("partitions: 5\n") != std::string::npos);
  testing::RunResult shrink =
      RunCapturingStderr({cli, "topic", "add-partitions", broker, "orders", "--partitions", "2"});
  CHECK(shrink.code == 1);
  CHECK(shrink.err.find("orders") != std::string::npos);

  testing::RunResult again = RunCapturingStderr({cli, "topic", "create", broker, "orders"});
  CHECK(again.code == 1);
  CHECK(again.err.find("topic orders already exists") != std::string::npos);

  CHECK(Run({cli, "topic", "delete", broker, "orders"}).first == 0);
  std::tie(list_code, list) = Run({cli, "topic", "list", broker});
  CHECK(list == "audit\n");
  CHECK_FALSE(std::filesystem::exists(broker + "/orders-0"));
  testing::RunResult gone = RunCapturingStderr({cli, "topic", "describe", broker, "orders"});
  CHECK(gone.code == 1);
  CHECK(gone.err.find(broker) != std::string::npos);
  CHECK(gone.err.find("topic orders does not exist") != std::string::npos);
  CHECK(RunCapturingStderr({cli, "topic", "delete", broker, "orders"}).code == 1);
}

TEST_CASE("brook produce and consume round-trip records, alone and in a group", "[cli][broker]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  std::string broker = dir.Sub("broker");
  REQUIRE(
      Run({cli, "topic", "create", broker, "t", "--partitions", "3", "--config", kSmallSegments})
          .first == 0);

  // Each line is acknowledged with its partition and offset, in input order.
  const std::vector<std::pair<std::string, std::string>> input = {
      {"", "no key"}, {"k1", "one"}, {"k2", "two"}, {"k3", "three\\with"}, {"", ""}};
  auto [produce_code, acks] = Run({cli, "produce", broker, "t", "--flush"},
                                  "no key\nk1\tone\nk2\ttwo\r\nk3\tthree\\with\n\n");
  INFO(acks);
  REQUIRE(produce_code == 0);
  std::vector<std::vector<std::string>> ack_rows = Rows(acks, ' ');
  REQUIRE(ack_rows.size() == input.size());
  // (partition, offset) -> (key, value) as consume prints them
  std::map<std::pair<int, int64_t>, std::pair<std::string, std::string>> expected;
  for (size_t i = 0; i < input.size(); ++i) {
    REQUIRE(ack_rows[i].size() == 2);
    std::string value = input[i].second == "three\\with" ? "three\\\\with" : input[i].second;
    // The lines without a TAB have no key: a null one, printed as \N.
    std::string key = input[i].first.empty() ? "\\N" : input[i].first;
    expected[{std::stoi(ack_rows[i][0]), std::stoll(ack_rows[i][1])}] = {key, value};
  }
  REQUIRE(expected.size() == input.size());  // no (partition, offset) twice

  // partition, offset, timestamp, key, value
  auto consumed = [](const std::string& out) {
    std::map<std::pair<int, int64_t>, std::pair<std::string, std::string>> records;
    for (const auto& row : Rows(out)) {
      REQUIRE(row.size() == 5);
      CHECK(std::stoll(row[2]) > 0);
      records[{std::stoi(row[0]), std::stoll(row[1])}] = {row[3], row[4]};
    }
    return records;
  };

  SECTION("without a group, every partition from its start, every time") {
    auto [code, out] = Run({cli, "consume", broker, "t"});
    INFO(out);
    REQUIRE(code == 0);
    CHECK(consumed(out) == expected);
    CHECK(Run({cli, "consume", broker, "t"}).second == out);
    auto [max_code, first_two] = Run({cli, "consume", broker, "t", "--max", "2"});
    CHECK(max_code == 0);
    CHECK(Rows(first_two).size() == 2);
  }

  SECTION("a group commits what it printed; lag shows what it has not") {
    auto [code, out] = Run({cli, "consume", broker, "t", "--group", "g", "--from-beginning"});
    INFO(out);
    REQUIRE(code == 0);
    CHECK(consumed(out) == expected);
    // Committed: the group resumes where it stopped, so there is nothing new.
    auto [again_code, again] =
        Run({cli, "consume", broker, "t", "--group", "g", "--from-beginning"});
    CHECK(again_code == 0);
    CHECK(again.empty());

    auto [list_code, groups] = Run({cli, "groups", "list", broker});
    CHECK(list_code == 0);
    bool listed = false;
    for (const auto& row : Rows(groups, ' ')) listed = listed || (!row.empty() && row[0] == "g");
    CHECK(listed);

    auto [describe_code, describe] = Run({cli, "groups", "describe", broker, "g"});
    INFO(describe);
    REQUIRE(describe_code == 0);
    CHECK(describe.find("group: g\nstate: Empty\n") != std::string::npos);
    std::map<int, std::vector<int64_t>> offsets = GroupOffsets(describe, "t");
    std::map<int, int64_t> ends;
    for (const auto& [tp, record] : expected)
      ends[tp.first] = std::max(ends[tp.first], tp.second + 1);
    int64_t committed = 0;
    for (const auto& [p, end] : ends) {
      REQUIRE(offsets.count(p) == 1);
      CHECK(offsets[p] == std::vector<int64_t>{end, end, 0});
      committed += offsets[p][0];
    }
    CHECK(committed == static_cast<int64_t>(input.size()));

    // More records: the lag shows them, and the group reads just those, --max at a time.
    auto [more_code, more_acks] =
        Run({cli, "produce", broker, "t", "--partition", "1", "--quiet"}, "x\ny\n");
    REQUIRE(more_code == 0);
    CHECK(more_acks == "produced 2 record(s) to t\n");
    int64_t end1 = ends.count(1) ? ends[1] : 0;
    std::tie(describe_code, describe) = Run({cli, "groups", "describe", broker, "g"});
    offsets = GroupOffsets(describe, "t");
    REQUIRE(offsets.count(1) == 1);
    CHECK(offsets[1][1] == end1 + 2);
    CHECK(offsets[1][2] == 2);

    auto [one_code, one] = Run({cli, "consume", broker, "t", "--group", "g", "--max", "1"});
    CHECK(one_code == 0);
    CHECK(one.find(fmt::format("1\t{}\t", end1)) == 0);
    CHECK(one.find("\t\\N\tx\n") != std::string::npos);
    CHECK(Rows(one).size() == 1);
    std::tie(describe_code, describe) = Run({cli, "groups", "describe", broker, "g"});
    CHECK(GroupOffsets(describe, "t")[1][2] == 1);
    auto [rest_code, rest] = Run({cli, "consume", broker, "t", "--group", "g"});
    CHECK(rest_code == 0);
    CHECK(rest.find(fmt::format("1\t{}\t", end1 + 1)) == 0);
    CHECK(rest.find("\t\\N\ty\n") != std::string::npos);
    CHECK(Rows(rest).size() == 1);

    // A new group without --from-beginning starts at the end, as Kafka's console consumer does.
    CHECK(Run({cli, "consume", broker, "t", "--group", "late"}).second.empty());

    CHECK(Run({cli, "groups", "delete", broker, "g"}).first == 0);
    testing::RunResult deleted = RunCapturingStderr({cli, "groups", "describe", broker, "g"});
    CHECK(deleted.code == 1);
    CHECK(deleted.err.find(broker) != std::string::npos);
  }
}

TEST_CASE("brook consume --group commits nothing it could not write to stdout", "[cli][broker]") {
  std::string cli = CliPath();
  if (cli.empty() || !std::filesystem::exists("/dev/full")) return;
  testing::TempDir dir;
  const std::string broker = dir.Sub("broker");
  REQUIRE(Run({cli, "topic", "create", broker, "big"}).first == 0);
  REQUIRE(Run({cli, "topic", "create", broker, "small"}).first == 0);
  std::string lines;
  for (int i = 0; i < 300; ++i) lines += fmt::format("record-{}\n", i);
  REQUIRE(Run({cli, "produce", broker, "big", "--quiet"}, lines).first == 0);
  REQUIRE(Run({cli, "produce", broker, "small", "--quiet"}, "only\n").first == 0);
  // 300 lines overflow stdio's buffer, so a write fails mid-poll; one line fails at the flush.
  for (const char* topic : {"big", "small"}) {
    INFO(topic);
    const std::string full = fmt::format(
        "'{}' consume '{}' {} --group g --from-beginning >/dev/full", cli, broker, topic);
    CHECK(Run({"/bin/sh", "-c", full}).first == 1);
    // The records are all still there for the group.
    auto [code, out] = Run({cli, "consume", broker, topic, "--group", "g"});
    CHECK(code == 0);
    CHECK(std::count(out.begin(), out.end(), '\n') == (std::string(topic) == "big" ? 300 : 1));
  }
  // A reader that goes away (`| head -c 1`): the write fails with EPIPE, which is handled as any
  // failed write (exit 1, nothing unwritten committed), not a SIGPIPE killing it before Close.
  // ~1 MB of output: more than a pipe holds, so a write surely meets the closed pipe.
  std::string many;
  for (int i = 0; i < 30000; ++i) many += fmt::format("record-{}\n", i);
  REQUIRE(Run({cli, "topic", "create", broker, "huge"}).first == 0);
  REQUIRE(Run({cli, "produce", broker, "huge", "--quiet"}, many).first == 0);
  const std::string piped = fmt::format(
      "'{}' consume '{}' huge --group piped --from-beginning | head -c 1 >/dev/null; "
      "exit ${{PIPESTATUS[0]}}",
      cli, broker);
  CHECK(Run({"/bin/bash", "-c", piped}).first == 1);
  // Without a group too, and in every other command, lost output is a failure.
  for (const std::string& command :
       {fmt::format("consume '{}' big", broker), fmt::format("topic list '{}'", broker),
        fmt::format("log read '{}/big-0'", broker)}) {
    INFO(command);
    CHECK(Run({"/bin/sh", "-c", fmt::format("'{}' {} >/dev/full", cli, command)}).first == 1);
  }
}

TEST_CASE("brook produce reports each line it cannot produce and produces the others",
          "[cli][broker]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  const std::string broker = dir.Sub("broker");
  REQUIRE(Run({cli, "topic", "create", broker, "t", "--config", "max.message.bytes=200"}).first ==
          0);
  // Line 2 is longer than max.message.bytes; line 4 fits as a line but not as a batch; line 6 is
  // 5 MB without a newline until its end, read in many chunks and never held whole.
  const std::string input = "a\n" + std::string(300, 'x') + "\nb\n" + std::string(150, 'y') +
                            "\nc\n" + std::string(5 << 20, 'z') + "\nd";
  testing::RunResult r = RunCapturingStderr({cli, "produce", broker, "t"}, input);
  CHECK(r.code == 1);
  CHECK(r.out == "0 0\n0 1\n0 2\n0 3\n");
  for (const char* line : {"line 2: ", "line 4: ", "line 6: ", "3 line(s) not produced"}) {
    INFO(line);
    CHECK(r.err.find(line) != std::string::npos);
  }
  CHECK(r.err.find("line 1:") == std::string::npos);
  auto [code, out] = Run({cli, "consume", broker, "t"});
  CHECK(code == 0);
  std::vector<std::string> values;
  for (const auto& row : Rows(out)) values.push_back(row.at(4));
  CHECK(values == std::vector<std::string>{"a", "b", "c", "d"});
  // An input that cannot be read is an error, not an empty input.
  testing::RunResult unreadable = RunCapturingStderr(
      {"/bin/sh", "-c", fmt::format("'{}' produce '{}' t < '{}'", cli, broker, dir.path())});
  CHECK(unreadable.code == 1);
  CHECK(unreadable.err.find("reading stdin") != std::string::npos);
}

TEST_CASE("brook log append drops a line too long, appends the others, and allows a CRLF",
          "[cli]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  // The limit, from the error for a line surely over it.
  testing::RunResult probe =
      RunCapturingStderr({cli, "log", "append", dir.Sub("probe")}, std::string(2 << 20, 'x'));
  REQUIRE(probe.code == 1);
  const size_t at = probe.err.find("may be (");
  REQUIRE(at != std::string::npos);
  const size_t limit = std::stoul(probe.err.substr(at + 8));
  REQUIRE(limit > 1000);
  // Line 2 is one byte over; line 4 is exactly at the limit, ended by CRLF, whose '\r' is not
  // part of the line.
  const std::string input =
      "a\n" + std::string(limit + 1, 'x') + "\nb\n" + std::string(limit, 'y') + "\r\nc\n";
  testing::RunResult r = RunCapturingStderr({cli, "log", "append", dir.Sub("log")}, input);
  CHECK(r.code == 1);
  CHECK(r.err.find("line 2: ") != std::string::npos);
  CHECK(r.err.find("1 line(s) not appended") != std::string::npos);
  CHECK(r.err.find("line 4") == std::string::npos);
  auto [code, out] = Run({cli, "log", "read", dir.Sub("log")});
  REQUIRE(code == 0);
  std::vector<std::string> values;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    values.push_back(line.substr(line.rfind('\t') + 1));
  CHECK(values == std::vector<std::string>{"a", "b", std::string(limit, 'y'), "c"});
}

TEST_CASE("brook produce --null sends tombstones, and consume and log read show nulls as \\N",
          "[cli][broker]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  const std::string broker = dir.Sub("broker");
  REQUIRE(Run({cli, "topic", "create", broker, "t", "--config", "cleanup.policy=compact"}).first ==
          0);
  // A value "\N" is a tombstone, an empty one is empty; without --null, "\N" is two bytes.
  REQUIRE(Run({cli, "produce", broker, "t", "--null", "\\N"}, "k1\tv1\nk1\t\\N\nk2\t\n").first ==
          0);
  REQUIRE(Run({cli, "produce", broker, "t"}, "k3\t\\N\n").first == 0);
  auto [code, out] = Run({cli, "consume", broker, "t"});
  REQUIRE(code == 0);
  std::vector<std::pair<std::string, std::string>> records;
  for (const auto& row : Rows(out)) records.emplace_back(row.at(3), row.at(4));
  CHECK(records == std::vector<std::pair<std::string, std::string>>{
                       {"k1", "v1"}, {"k1", "\\N"}, {"k2", ""}, {"k3", "\\\\N"}});
  auto [read_code, read] = Run({cli, "log", "read", broker + "/t-0"});
  REQUIRE(read_code == 0);
  CHECK(read.find("\tk1\t\\N\n") != std::string::npos);
}

TEST_CASE("brook groups and topic show a directory an application has open, from its files",
          "[cli][broker]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  // The application: a Broker in this process, holding the directory's lock.
  absl::StatusOr<std::unique_ptr<Broker>> broker = Broker::Open(dir.path(), {});
  REQUIRE(broker.ok());
  REQUIRE((*broker)->CreateTopic("t", {.partitions = 2}).ok());
  absl::StatusOr<std::unique_ptr<Producer>> producer = Producer::Create(**broker, {});
  REQUIRE(producer.ok());
  for (int i = 0; i < 15; ++i) {
    REQUIRE(
        (*producer)->Send({.topic = "t", .value = "v", .partition = i < 10 ? 0 : 1}, nullptr).ok());
  }
  REQUIRE((*producer)->Flush().ok());
  absl::StatusOr<std::unique_ptr<Consumer>> consumer =
      Consumer::Create(**broker, {.group_id = "g"});
  REQUIRE(consumer.ok());
  REQUIRE((*consumer)->Commit({{{"t", 0}, 3}, {{"t", 1}, 5}}).ok());
  REQUIRE((*consumer)->Commit({{{"t", 0}, 4}}).ok());  // the latest commit counts

  testing::RunResult list = RunCapturingStderr({cli, "groups", "list", dir.path()});
  CHECK(list.code == 0);
  CHECK(list.err.find("open in another process") != std::string::npos);
  std::vector<std::vector<std::string>> rows = Rows(list.out, ' ');
  REQUIRE(rows.size() == 2);
  CHECK(rows[1] == std::vector<std::string>{"g", "-", "-"});
  auto [code, describe] = Run({cli, "groups", "describe", dir.path(), "g"});
  CHECK(code == 0);
  // partition -> committed, end, lag
  CHECK(GroupOffsets(describe, "t") ==
        std::map<int, std::vector<int64_t>>{{0, {4, 10, 6}}, {1, {5, 5, 0}}});
  CHECK(Run({cli, "groups", "describe", dir.path(), "nobody"}).first == 1);
  // Topics too: the registry's list and config, offsets from the partitions' files.
  auto [list_code, topics] = Run({cli, "topic", "list", dir.path()});
  CHECK(list_code == 0);
  CHECK(topics == "t\n");
  auto [topic_code, topic] = Run({cli, "topic", "describe", dir.path(), "t"});
  CHECK(topic_code == 0);
  CHECK(topic.find("partitions: 2\n") != std::string::npos);
  std::map<std::string, std::vector<std::string>> partitions;  // partition -> the other columns
  for (const auto& row : Rows(topic, ' ')) {
    if (row.size() == 7 && row[0] != "partition") {
      partitions[row[0]] = std::vector<std::string>(row.begin() + 1, row.end());
    }
  }
  CHECK(partitions ==
        std::map<std::string, std::vector<std::string>>{{"0", {"0", "10", "-", "-", "-", "1"}},
                                                        {"1", {"0", "5", "-", "-", "-", "1"}}});
  consumer->reset();
  producer->reset();
  REQUIRE((*broker)->Close().ok());
}

TEST_CASE("brook consume --follow holds the directory until SIGTERM", "[cli][broker]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  std::string broker = dir.Sub("broker");
  REQUIRE(Run({cli, "topic", "create", broker, "t", "--config", kSmallSegments}).first == 0);
  REQUIRE(Run({cli, "produce", broker, "t"}, "a\nb\n").first == 0);

  testing::Child follower(
      {cli, "consume", broker, "t", "--group", "f", "--from-beginning", "--follow"});
  REQUIRE(follower.ok());
  std::string out;
  while (std::count(out.begin(), out.end(), '\n') < 2) {
    // A guard against a hang, not a timing assumption: the records are there already.
    pollfd pfd{.fd = follower.stdout_fd(), .events = POLLIN, .revents = 0};
    REQUIRE(poll(&pfd, 1, 60000) == 1);
    char buf[4096];
    ssize_t n = read(follower.stdout_fd(), buf, sizeof(buf));
    REQUIRE(n > 0);
    out.append(buf, static_cast<size_t>(n));
  }
  CHECK(out.find("0\t0\t") == 0);
  CHECK(out.find("\t\\N\tb\n") != std::string::npos);

  // The follower has the directory open: commands that change it say so, naming it.
  testing::RunResult locked = RunCapturingStderr({cli, "topic", "delete", broker, "t"});
  CHECK(locked.code == 1);
  CHECK(locked.err.find(broker + " is open in another process") != std::string::npos);

  follower.Signal(SIGTERM);
  CHECK(follower.Wait() == 0);
  // It closed cleanly and committed what it printed.
  auto [code, describe] = Run({cli, "groups", "describe", broker, "f"});
  INFO(describe);
  REQUIRE(code == 0);
  CHECK(GroupOffsets(describe, "t")[0] == std::vector<int64_t>{2, 2, 0});
}

TEST_CASE("brook consume reads a broker directory another process has open", "[cli][broker]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  std::string path = dir.Sub("broker");
  // This process is the application: it holds the directory and writes to it. Small segments
  // with retention, so the follower also sees segments roll and go.
  // No background threads: retention runs only at rolls, inside the sends.
  auto broker = Broker::Open(path, {.background_threads = 0});
  REQUIRE(broker.ok());
  REQUIRE((*broker)
              ->CreateTopic("t", {.partitions = 2,
                                  .retention_bytes = 64 << 10,
                                  .segment_bytes_max = 16 << 10,
                                  .segment_index_bytes = 4096})
              .ok());
  auto producer = Producer::Create(**broker, {});
  REQUIRE(producer.ok());
  auto send = [&](int32_t partition, const std::string& value) {
    auto sent =
        (*producer)->Send({.topic = "t", .key = "k", .value = value, .partition = partition});
    auto md = sent.get();
    REQUIRE(md.ok());
  };
  send(0, "a");
  send(1, "b");

  // Without --follow: what is there, every partition from its start, nothing committed.
  testing::RunResult once = RunCapturingStderr({cli, "consume", path, "t"});
  INFO(once.err);
  REQUIRE(once.code == 0);
  CHECK(once.out.find("0\t0\t") != std::string::npos);
  CHECK(once.out.find("\tk\ta\n") != std::string::npos);
  CHECK(once.out.find("1\t0\t") != std::string::npos);
  CHECK(once.out.find("\tk\tb\n") != std::string::npos);
  CHECK(Rows(once.out).size() == 2);
  CHECK(once.err.find("without a lock") != std::string::npos);
  CHECK(Rows(Run({cli, "consume", path, "t", "--max", "1"}).second).size() == 1);

  // A group needs the directory: refused, saying so.
  testing::RunResult grouped = RunCapturingStderr({cli, "consume", path, "t", "--group", "g"});
  CHECK(grouped.code == 1);
  CHECK(grouped.err.find("is open in another process") != std::string::npos);

  // --follow starts at the end and prints what the application writes next, across rolls and
  // retention, until SIGTERM.
  testing::Child follower({cli, "consume", path, "t", "--follow"});
  REQUIRE(follower.ok());
  std::string out;
  // Reads what the follower printed so far; waits up to `wait_ms` for the first bytes.
  auto read_some = [&](int wait_ms) {
    pollfd pfd{.fd = follower.stdout_fd(), .events = POLLIN, .revents = 0};
    if (poll(&pfd, 1, wait_ms) != 1) return;
    char buf[4096];
    ssize_t n = read(follower.stdout_fd(), buf, sizeof(buf));
    REQUIRE(n > 0);
    out.append(buf, static_cast<size_t>(n));
  };
  // It may not have skipped to the end yet when the first markers go: send until one shows.
  for (int marker = 0; out.find("marker") == std::string::npos; ++marker) {
    REQUIRE(marker < 1200);  // a minute
    send(0, fmt::format("marker{}", marker));
    read_some(50);
  }
  CHECK(out.find("\tk\ta\n") == std::string::npos);  // it started at the end
  // The values of partition 1 printed so far, in order.
  auto printed = [&] {
    std::vector<std::string> values;
    for (const auto& row : Rows(out.substr(0, out.rfind('\n') + 1))) {
      if (row.size() == 5 && row[0] == "1") values.push_back(row[4].substr(0, 4));
    }
    return values;
  };
  // 300 records of 1 KB to partition 1, 20 at a time: ~19 segments roll, and retention deletes
  // most of them, some while the follower reads them.
  const std::string big(1000, 'x');
  std::vector<std::string> expected;
  for (int i = 0; i < 300; ++i) {
    expected.push_back(fmt::format("{:04}", i));
    send(1, expected.back() + big);
    if (expected.size() % 20 != 0) continue;
    for (int waits = 0; printed().size() < expected.size(); ++waits) {
      REQUIRE(waits < 600);  // a guard against a hang (a minute), not a timing assumption
      read_some(100);
    }
  }
  CHECK(printed() == expected);
  CHECK((*broker)->GetPartition({"t", 1}).value()->start_offset() > 0);  // retention deleted some

  // Stopped while the application writes 150 more, most of them deleted by retention (with the
  // segment it was reading) before it reads again: it goes on from the oldest record still
  // there, in order, nothing twice, the newest all there.
  follower.Signal(SIGSTOP);
  for (int i = 300; i < 450; ++i) send(1, fmt::format("{:04}", i) + big);
  const int64_t oldest_kept = (*broker)->GetPartition({"t", 1}).value()->start_offset();
  follower.Signal(SIGCONT);
  for (int waits = 0; printed().empty() || printed().back() != "0449"; ++waits) {
    REQUIRE(waits < 600);
    read_some(100);
  }
  const std::vector<std::string> all = printed();
  REQUIRE(all.size() >= 300);
  std::vector<std::string> after(all.begin() + 300, all.end());
  REQUIRE(!after.empty());
  CHECK(std::is_sorted(after.begin(), after.end()));
  CHECK(std::adjacent_find(after.begin(), after.end()) == after.end());
  // Value i is at offset i + 1 ("b" is at 0). What retention deleted is skipped, and every
  // record from the oldest one kept on is printed.
  CHECK(oldest_kept > 301);
  CHECK(std::stoi(after.front()) == oldest_kept - 1);
  CHECK(after.size() == static_cast<size_t>(450 - (oldest_kept - 1)));

  follower.Signal(SIGTERM);
  CHECK(follower.Wait() == 0);
}

TEST_CASE("brook broker commands refuse bad arguments and say what is missing", "[cli][broker]") {
  std::string cli = CliPath();
  if (cli.empty()) return;
  testing::TempDir dir;
  std::string broker = dir.Sub("broker");
  std::string missing = dir.Sub("missing");

  // Bad usage: exit 2 with a message, and nothing is created.
  auto usage_error = [](const std::vector<std::string>& argv, const std::string& input = "") {
    testing::RunResult r = RunCapturingStderr(argv, input);
    return r.code == 2 && !r.err.empty();
  };
  CHECK(usage_error({cli, "topic"}));
  CHECK(usage_error({cli, "topic", "create", broker}));
  CHECK(usage_error({cli, "topic", "frobnicate", broker, "t"}));
  CHECK(usage_error({cli, "topic", "create", broker, "t", "--partitions", "0"}));
  CHECK(usage_error({cli, "topic", "create", broker, "t", "--config", "novalue"}));
  testing::RunResult unknown_key =
      RunCapturingStderr({cli, "topic", "create", broker, "t", "--config", "retention.mss=1"});
  CHECK(unknown_key.code == 2);
  CHECK(unknown_key.err.find("retention.mss") != std::string::npos);
  CHECK(usage_error({cli, "topic", "create", broker, "t", "--config", "retention.ms=soon"}));
  CHECK_FALSE(std::filesystem::exists(broker));
  CHECK(usage_error({cli, "produce", broker}, "x\n"));
  CHECK(usage_error({cli, "produce", broker, "t", "--partition", "-1"}, "x\n"));
  CHECK(usage_error({cli, "consume", broker, "t", "--max", "0"}));
  CHECK(usage_error({cli, "consume", broker, "t", "--group="}));
  CHECK(usage_error({cli, "groups", "describe", broker}));

  // Operating errors: exit 1 with a message naming the directory or the topic.
  testing::RunResult no_dir = RunCapturingStderr({cli, "topic", "list", missing});
  CHECK(no_dir.code == 1);
  CHECK(no_dir.err.find(missing) != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(missing));
  CHECK(RunCapturingStderr({cli, "consume", missing, "t"}).code == 1);

  REQUIRE(Run({cli, "topic", "create", broker, "t", "--config", kSmallSegments}).first == 0);
  testing::RunResult no_topic = RunCapturingStderr({cli, "produce", broker, "nope"}, "x\n");
  CHECK(no_topic.code == 1);
  CHECK(no_topic.err.find("topic nope does not exist") != std::string::npos);
  CHECK(no_topic.err.find(broker) != std::string::npos);
  CHECK(RunCapturingStderr({cli, "consume", broker, "nope"}).code == 1);
  CHECK(RunCapturingStderr({cli, "produce", broker, "t", "--partition", "7"}, "x\n").code == 1);
  CHECK(RunCapturingStderr({cli, "topic", "add-partitions", broker, "t"}).code == 2);
  CHECK(RunCapturingStderr({cli, "groups", "describe", broker, "nobody"}).code == 1);
  CHECK(RunCapturingStderr({cli, "groups", "delete", broker, "nobody"}).code == 1);

  // Not a broker directory: refused, and left alone.
  std::filesystem::create_directories(dir.Sub("other"));
  std::ofstream(dir.Sub("other/file.txt")) << "mine";
  testing::RunResult foreign = RunCapturingStderr({cli, "topic", "create", dir.Sub("other"), "t"});
  CHECK(foreign.code == 1);
  CHECK(foreign.err.find("not a brook broker directory") != std::string::npos);
}

}  // namespace
}  // namespace brook
