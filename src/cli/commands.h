// The `brook` command-line tool's commands. Each returns the process exit code.
#ifndef BROOK_CLI_COMMANDS_H_
#define BROOK_CLI_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brook::cli {

// Parsed "--name=value" / "--name value" / "--flag" options and positional arguments.
struct Args {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;

  // The first value given for --name, if any.
  std::optional<std::string> Get(const std::string& name) const;
  // Every value given for --name, in order (for repeatable options such as --config).
  std::vector<std::string> GetAll(const std::string& name) const;
  bool Has(const std::string& name) const { return Get(name).has_value(); }
};

// Splits argv into positionals and options: `flags` take no value, `valued` take one (--name VALUE
// or --name=VALUE). Any other option, a flag given a value, or a missing value (the next argument
// starting with --) is refused: nullopt, after a message on stderr naming `command`.
std::optional<Args> ParseArgs(int argc, char** argv, int first, const std::string& command,
                              const std::vector<std::string>& flags,
                              const std::vector<std::string>& valued);

// --name as an integer >= `min`, `fallback` when absent; nullopt, after a message on stderr
// naming the option and `what` it wants ("milliseconds", "an offset"), when it is not one.
std::optional<int64_t> IntOption(const Args& args, const std::string& name, std::string_view what,
                                 int64_t min, int64_t fallback);

int LogInfo(const Args& args);
int LogDump(const Args& args);
int LogVerify(const Args& args);
int LogAppend(const Args& args);
int LogRead(const Args& args);
int LogCompact(const Args& args);
int LogProducers(const Args& args);

// Broker directories (broker_commands.cc): args.positional holds DIR and then NAME/TOPIC/GROUP.
int TopicCreate(const Args& args);
int TopicList(const Args& args);
int TopicDescribe(const Args& args);
int TopicDelete(const Args& args);
int TopicAddPartitions(const Args& args);
int Produce(const Args& args);
int Consume(const Args& args);
int GroupsList(const Args& args);
int GroupsDescribe(const Args& args);
int GroupsDelete(const Args& args);

}  // namespace brook::cli

#endif  // BROOK_CLI_COMMANDS_H_
