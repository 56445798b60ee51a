// Command-line arguments: options and positionals, as every `brook` command takes them.
#include <algorithm>

#include "cli/commands.h"
#include "cli/text.h"
#include "fmt/format.h"

namespace brook::cli {

std::optional<std::string> Args::Get(const std::string& name) const {
  for (const auto& [k, v] : options) {
    if (k == name) return v;
  }
  return std::nullopt;
}

std::vector<std::string> Args::GetAll(const std::string& name) const {
  std::vector<std::string> values;
  for (const auto& [k, v] : options) {
    if (k == name) values.push_back(v);
  }
  return values;
}

Args ParseArgs(int argc, char** argv, int first, const std::vector<std::string>& flags) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      args.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      args.options.emplace_back(name.substr(0, eq), name.substr(eq + 1));
    } else if (std::find(flags.begin(), flags.end(), name) != flags.end() || i + 1 >= argc) {
      args.options.emplace_back(name, "");
    } else {
      args.options.emplace_back(name, argv[++i]);
    }
  }
  return args;
}

std::optional<int64_t> IntOption(const Args& args, const std::string& name, std::string_view what,
                                 int64_t min, int64_t fallback) {
  std::optional<std::string> text = args.Get(name);
  if (!text) return fallback;
  std::optional<int64_t> v = ParseInt(*text);
  if (!v || *v < min) {
    fmt::print(stderr, "brook: --{} wants {} >= {}, got '{}'\n", name, what, min, *text);
    return std::nullopt;
  }
  return v;
}

}  // namespace brook::cli
