// The `brook` command-line tool's commands. Each returns the process exit code.
#ifndef BROOK_CLI_COMMANDS_H_
#define BROOK_CLI_COMMANDS_H_

#include <optional>
#include <string>
#include <vector>

namespace brook::cli {

// Parsed "--name=value" / "--name value" / "--flag" options and positional arguments.
struct Args {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;

  std::optional<std::string> Get(const std::string& name) const;
  bool Has(const std::string& name) const { return Get(name).has_value(); }
};

// Splits argv; `flags` are the options that take no value.
Args ParseArgs(int argc, char** argv, int first, const std::vector<std::string>& flags);

int LogInfo(const Args& args);
int LogDump(const Args& args);
int LogVerify(const Args& args);
int LogAppend(const Args& args);
int LogRead(const Args& args);
int LogCompact(const Args& args);
int LogProducers(const Args& args);

}  // namespace brook::cli

#endif  // BROOK_CLI_COMMANDS_H_
