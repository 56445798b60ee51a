// brook — look inside brook logs, as kafka-dump-log and kcat do for Kafka.
#include <cstdio>
#include <cstring>
#include <string>

#include "brook/version.h"
#include "cli/commands.h"

namespace {

constexpr char kUsage[] = R"(usage: brook <command> [options]

  brook log info DIR                          segments, offsets, sizes, flushed offset, clean or not
  brook log dump DIR [--from OFFSET] [--records]
                                              batch headers (and records) as stored
  brook log verify DIR                        check every batch and index; exit 1 on corruption
  brook log append DIR [--flush=POLICY]       append stdin lines (key<TAB>value or value) and
                                              print "acked <offset>" once each is flushed
        POLICY: every (default) | os | records:N | bytes:N | interval:MS
  brook log read DIR [--from OFFSET] [--follow]
                                              print records: offset, timestamp, key, value
  brook log compact DIR [--delete-retention=MS] [--min-lag=MS]
                                              keep only the latest record of each key, now,
                                              and print what was done. A tombstone goes in the
                                              first run --delete-retention (default 1 day) after
                                              the run that first kept it; records younger than
                                              --min-lag (default 0) stay. Records WITHOUT A KEY
                                              ARE DROPPED: compact only logs written with keys
  brook log producers DIR                     idempotent producers: id, epoch, last sequence,
                                              last offset, last timestamp, batches retained
  brook version

info, dump, verify and read never change the directory and work while another process has
the log open. append, compact and producers open it for writing (recovering it after a crash,
as a writer does) and fail if another process has it open.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace brook::cli;
  if (argc >= 2 &&
      (std::strcmp(argv[1], "version") == 0 || std::strcmp(argv[1], "--version") == 0)) {
    std::printf("brook %s\n", brook::kVersionString);
    return 0;
  }
  if (argc < 3 || std::strcmp(argv[1], "log") != 0) {
    bool help =
        argc >= 2 && (std::strcmp(argv[1], "help") == 0 || std::strcmp(argv[1], "--help") == 0 ||
                      std::strcmp(argv[1], "-h") == 0);
    std::fputs(kUsage, help ? stdout : stderr);
    return help ? 0 : 2;
  }
  std::string command = argv[2];
  Args args = ParseArgs(argc, argv, 3, {"records", "follow", "help"});
  if (args.Has("help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.positional.size() != 1) {
    std::fprintf(stderr, "brook log %s: expected one directory argument\n\n%s", command.c_str(),
                 kUsage);
    return 2;
  }
  if (command == "info") return LogInfo(args);
  if (command == "dump") return LogDump(args);
  if (command == "verify") return LogVerify(args);
  if (command == "append") return LogAppend(args);
  if (command == "read") return LogRead(args);
  if (command == "compact") return LogCompact(args);
  if (command == "producers") return LogProducers(args);
  std::fprintf(stderr, "brook: unknown command 'log %s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
