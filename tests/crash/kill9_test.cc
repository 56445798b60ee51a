// Black-box crash test: `brook log append --flush=every` in a child process, SIGKILLed at random
// moments; every offset it acknowledged must be there afterwards with its exact value.

#include <poll.h>

#include <map>
#include <random>
#include <set>
#include <sstream>

#include "brook/log.h"
#include "support/batches.h"
#include "support/catch.h"
#include "support/seed.h"
#include "support/subprocess.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

using testing::Child;
using testing::CliPath;
using testing::Run;

std::string LineValue(int i) { return "value-" + std::to_string(i) + std::string(i % 97, '#'); }

TEST_CASE("Acknowledged appends survive SIGKILL of the appending process", "[crash][blackbox]") {
  std::string cli = CliPath();
  if (cli.empty()) {
    WARN("brook CLI not built; skipping");
    return;
  }
  std::mt19937_64 rng(testing::TestSeed());
  for (int round = 0; round < 6; ++round) {
    CAPTURE(round);
    testing::TempDir dir;
    std::string log_dir = dir.Sub("log");
    int next_line = 0;
    std::set<int64_t> acked;
    // Several kill/restart cycles on the same log.
    for (int cycle = 0; cycle < 3; ++cycle) {
      Child child({cli, "log", "append", log_dir, "--flush=every"});
      REQUIRE(child.ok());
      fcntl(child.stdin_fd(), F_SETFL, O_NONBLOCK);
      auto deadline = std::chrono::steady_clock::now() +
                      std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 150)(rng));
      std::string out;
      std::string to_send;
      while (std::chrono::steady_clock::now() < deadline) {
        if (to_send.empty()) {
          int burst = std::uniform_int_distribution<int>(1, 20)(rng);
          for (int i = 0; i < burst; ++i) {
            to_send += "key-" + std::to_string(next_line) + "\t" + LineValue(next_line) + "\n";
            ++next_line;
          }
        }
        ssize_t n = write(child.stdin_fd(), to_send.data(), to_send.size());
        if (n > 0) to_send.erase(0, static_cast<size_t>(n));
        pollfd pfd{.fd = child.stdout_fd(), .events = POLLIN, .revents = 0};
        if (poll(&pfd, 1, 1) > 0) {
          char buf[4096];
          ssize_t r = read(child.stdout_fd(), buf, sizeof(buf));
          if (r > 0) out.append(buf, static_cast<size_t>(r));
        }
      }
      child.Kill();
      out += child.ReadAll();
      // Lines written but not yet read by the child are lost with it: renumber from what the log
      // holds. Only whole "acked N" lines count.
      std::istringstream lines(out);
      std::string line;
      while (std::getline(lines, line)) {
        if (lines.eof() && !out.empty() && out.back() != '\n') break;  // cut mid-line
        if (line.rfind("acked ", 0) == 0) acked.insert(std::stoll(line.substr(6)));
      }
      // What the child appended became offsets in line order; the lines it never read are gone,
      // so the next cycle continues numbering at the log's end.
      auto [code, listing] = Run({cli, "log", "read", log_dir});
      if (code != 0) {
        // Killed before it had created the log: nothing can have been acknowledged.
        REQUIRE(acked.empty());
        REQUIRE(listing.empty());
        next_line = 0;
        continue;
      }
      int64_t count = 0;
      std::istringstream records(listing);
      while (std::getline(records, line)) {
        std::vector<std::string> fields;
        std::istringstream fs(line);
        std::string f;
        while (std::getline(fs, f, '\t')) fields.push_back(f);
        REQUIRE(fields.size() == 4);
        int64_t offset = std::stoll(fields[0]);
        REQUIRE(offset == count);
        REQUIRE(fields[2] == "key-" + std::to_string(offset));
        REQUIRE(fields[3] == LineValue(static_cast<int>(offset)));
        ++count;
      }
      for (int64_t o : acked) {
        CAPTURE(o);
        REQUIRE(o < count);
      }
      next_line = static_cast<int>(count);
      auto [verify_code, report] = Run({cli, "log", "verify", log_dir});
      INFO(report);
      REQUIRE(verify_code == 0);
    }
    // And the library's own recovery agrees.
    auto log = Log::Open(log_dir, {});
    REQUIRE(log.ok());
    auto records = testing::ReadAll(**log);
    REQUIRE(records.ok());
    for (int64_t o : acked) {
      REQUIRE(o < static_cast<int64_t>(records->size()));
      REQUIRE((*records)[static_cast<size_t>(o)].value == LineValue(static_cast<int>(o)));
    }
  }
}

}  // namespace
}  // namespace brook
