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

std::optional<Args> ParseArgs(int argc, char** argv, int first, const std::string& command,
                              const std::vector<std::string>& flags,
                              const std::vector<std::string>& valued) {
  auto known = [](const std::vector<std::string>& names, const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  auto refuse = [&](const std::string& why) -> std::optional<Args> {
    fmt::print(stderr, "brook {}: {}\n", command, why);
    return std::nullopt;
  };
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      args.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    size_t eq = name.find('=');
    std::optional<std::string> value;
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (known(flags, name)) {
      if (value) return refuse(fmt::format("--{} takes no value", name));
      args.options.emplace_back(name, "");
    } else if (known(valued, name)) {
      if (!value) {
        // A missing value, or a typo'd option in its place, would otherwise be taken as one:
        // `--group --from-beginning` naming a group "--from-beginning".
        if (i + 1 >= argc || std::string_view(argv[i + 1]).rfind("--", 0) == 0) {
          return refuse(
              fmt::format("--{} wants a value (write --{}=VALUE for one that starts "
                          "with --)",
                          name, name));
        }
        value = argv[++i];
      }
      args.options.emplace_back(name, *value);
    } else {
      return refuse(fmt::format("unknown option --{}", name));
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
