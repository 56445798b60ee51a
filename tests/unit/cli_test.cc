// The brook CLI, run as a user would.
#include <filesystem>
#include <fstream>

#include "brook/log.h"
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

}  // namespace
}  // namespace brook
