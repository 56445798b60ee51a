// brook — look inside brook logs and broker directories, as kafka-dump-log, kafka-topics,
// kafka-consumer-groups and kcat do for Kafka.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "brook/version.h"
#include "cli/commands.h"
#include "cli/text.h"

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
                                              (a null key or value is \N)
  brook log compact DIR [--delete-retention=MS] [--min-lag=MS]
                                              keep only the latest record of each key, now,
                                              and print what was done. A tombstone goes in the
                                              first run --delete-retention (default 1 day) after
                                              the run that first kept it; records younger than
                                              --min-lag (default 0) stay. Records WITHOUT A KEY
                                              ARE DROPPED: compact only logs written with keys
  brook log producers DIR                     idempotent producers: id, epoch, last sequence,
                                              last offset, last timestamp, batches retained

  brook topic create DIR NAME [--partitions N] [--config KEY=VALUE ...]
                                              create a topic (and DIR if missing); KEY is a
                                              Kafka topic config name: retention.ms,
                                              retention.bytes, cleanup.policy, segment.bytes,
                                              max.message.bytes, flush.messages, flush.ms, ...
  brook topic list DIR                        topic names, one a line
  brook topic describe DIR NAME               config, and per partition: start, end and high
                                              watermark offsets, flushed offset, bytes, segments
  brook topic delete DIR NAME                 delete a topic and its data
  brook topic add-partitions DIR NAME --partitions N
                                              grow a topic to N partitions
  brook produce DIR TOPIC [--partition P] [--flush] [--quiet] [--null TEXT]
                                              send stdin lines (key<TAB>value or value) and
                                              print "<partition> <offset>" per record (--quiet:
                                              a count at the end); --flush acknowledges only
                                              what is on disk; a key or value that is exactly
                                              TEXT is sent as null (--null '\N': a tombstone).
                                              A line that cannot be produced is named on
                                              stderr, the others still go, exit 1
  brook consume DIR TOPIC [--group G] [--from-beginning] [--follow] [--max N]
                                              print records: partition, offset, timestamp, key,
                                              value (tab separated; a null key or value is \N). Without --group, reads
                                              every partition; with it, joins group G and
                                              commits what was printed. Starts at the group's
                                              committed offsets, else at the start with
                                              --from-beginning or without --group and --follow,
                                              else at the end. Stops when it reaches the end
                                              offsets it saw at start, after N records, or with
                                              --follow on SIGINT/SIGTERM
  brook groups list DIR                       consumer groups: id, state, members
  brook groups describe DIR GROUP             state, protocol, generation, members and their
                                              partitions; per partition the committed offset,
                                              end offset and lag (of a directory another process
                                              has open: offsets and lag read from its files)
  brook groups delete DIR GROUP               delete an empty group's committed offsets
  brook version

info, dump, verify and read never change the directory and work while another process has
the log open. append, compact and producers open it for writing (recovering it after a crash,
as a writer does) and fail if another process has it open. topic, produce, consume and groups
open a broker directory, which one process at a time may have open; consume without --group,
topic list|describe and groups list|describe then read its files instead.
)";

// One command: `brook <family> <name>` (or `brook <name>` when family is empty).
struct Command {
  std::string_view family;
  std::string_view name;
  size_t positionals;               // DIR, then NAME / TOPIC / GROUP
  std::vector<std::string> flags;   // options without a value
  std::vector<std::string> valued;  // options with one
  int (*run)(const brook::cli::Args&);
};

const std::vector<Command>& Commands() {
  using namespace brook::cli;
  static const std::vector<Command> commands = {
      {"log", "info", 1, {}, {}, LogInfo},
      {"log", "dump", 1, {"records"}, {"from"}, LogDump},
      {"log", "verify", 1, {}, {}, LogVerify},
      {"log", "append", 1, {}, {"flush"}, LogAppend},
      {"log", "read", 1, {"follow"}, {"from"}, LogRead},
      {"log", "compact", 1, {}, {"delete-retention", "min-lag"}, LogCompact},
      {"log", "producers", 1, {}, {}, LogProducers},
      {"topic", "create", 2, {}, {"partitions", "config"}, TopicCreate},
      {"topic", "list", 1, {}, {}, TopicList},
      {"topic", "describe", 2, {}, {}, TopicDescribe},
      {"topic", "delete", 2, {}, {}, TopicDelete},
      {"topic", "add-partitions", 2, {}, {"partitions"}, TopicAddPartitions},
      {"groups", "list", 1, {}, {}, GroupsList},
      {"groups", "describe", 2, {}, {}, GroupsDescribe},
      {"groups", "delete", 2, {}, {}, GroupsDelete},
      {"", "produce", 2, {"flush", "quiet"}, {"partition", "null"}, Produce},
      {"", "consume", 2, {"from-beginning", "follow"}, {"group", "max"}, Consume},
  };
  return commands;
}

int Help() {
  std::fputs(kUsage, stdout);
  return 0;
}

int BadUsage() {
  std::fputs(kUsage, stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace brook::cli;
  // A closed pipe on stdout (`brook consume ... | head`) is a failed write the commands see and
  // handle (consume commits nothing it could not write), not a signal that kills them mid-way.
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) return BadUsage();
  std::string_view first = argv[1];
  if (first == "version" || first == "--version") {
    std::printf("brook %s\n", brook::kVersionString);
    return 0;
  }
  if (first == "help" || first == "--help" || first == "-h") return Help();
  bool family_known = false;
  for (const Command& c : Commands()) {
    bool has_family = !c.family.empty();
    family_known = family_known || (has_family && c.family == first);
    if (has_family ? (c.family != first || argc < 3 || c.name != argv[2]) : c.name != first) {
      continue;
    }
    std::vector<std::string> flags = c.flags;
    flags.push_back("help");
    std::string command = std::string(c.family) + (has_family ? " " : "") + std::string(c.name);
    std::optional<Args> parsed =
        ParseArgs(argc, argv, has_family ? 3 : 2, command, flags, c.valued);
    if (!parsed) {
      std::fprintf(stderr, "\n%s", kUsage);
      return 2;
    }
    const Args& args = *parsed;
    if (args.Has("help")) return Help();
    if (args.positional.size() != c.positionals) {
      std::fprintf(stderr, "brook %s: expected %s\n\n%s", command.c_str(),
                   c.positionals == 1 ? "one directory argument" : "a directory and a name",
                   kUsage);
      return 2;
    }
    int code = 1;
    try {
      code = c.run(args);
    } catch (const std::system_error& e) {  // fmt::print to a full disk or a closed pipe (EPIPE)
      std::fprintf(stderr, "brook %s: writing output: %s\n", command.c_str(), e.what());
      return 1;
    }
    // Output still buffered when the command returned: lost output is a failure too.
    if (absl::Status flushed = FlushStdout(); !flushed.ok() && code == 0) {
      std::fprintf(stderr, "brook %s: %s\n", command.c_str(),
                   std::string(flushed.message()).c_str());
      return 1;
    }
    return code;
  }
  if (family_known && argc < 3) {
    std::fprintf(stderr, "brook %s: expected a subcommand\n\n%s", argv[1], kUsage);
  } else if (family_known) {
    std::fprintf(stderr, "brook: unknown command '%s %s'\n\n%s", argv[1], argv[2], kUsage);
  } else {
    std::fprintf(stderr, "brook: unknown command '%s'\n\n%s", argv[1], kUsage);
  }
  return 2;
}
