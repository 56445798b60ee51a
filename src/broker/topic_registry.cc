#include "broker/topic_registry.h"

#include <string_view>

#include "brook/status.h"
#include "fmt/format.h"
#include "storage/checkpoint.h"
#include "util/status_macros.h"

namespace brook::broker {
namespace {

constexpr std::string_view kMagic = "brook-topics 1";
constexpr size_t kMaxRegistryBytes = size_t{64} << 20;

}  // namespace

absl::Status WriteTopicRegistry(FileSystem* fs, const std::string& dir,
                                const TopicRegistry& topics) {
  std::string body = fmt::format("{}\n", kMagic);
  for (const auto& [name, topic] : topics) {
    body += fmt::format("topic {} internal={}", name, topic.internal ? "true" : "false");
    for (const auto& [key, value] : topic.config.ToConfigMap()) {
      body += fmt::format(" {}={}", key, value);
    }
    body += "\n";
  }
  return storage::WriteChecksummedText(fs, dir, kRegistryFile, std::move(body));
}

absl::Status ValidateTopicName(const std::string& name) {
  auto invalid = [&](std::string_view why) {
    return WithErrorCode(absl::InvalidArgumentError(fmt::format("topic name '{}' {}", name, why)),
                         ErrorCode::kInvalidTopicException);
  };
  if (name.empty()) return invalid("is empty");
  if (name.size() > 249) return invalid("is longer than 249 characters");
  if (name == "." || name == "..") return invalid("is reserved");
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return invalid("may hold only ASCII letters, digits, '.', '_' and '-'");
  }
  return absl::OkStatus();
}

absl::StatusOr<TopicRegistry> ReadTopicRegistry(FileSystem* fs, const std::string& dir) {
  BROOK_ASSIGN_OR_RETURN(std::vector<std::string> lines,
                         storage::ReadChecksummedText(fs, dir, kRegistryFile, kMaxRegistryBytes));
  auto damaged = [&](size_t line, std::string_view why) {
    return absl::DataLossError(fmt::format("topic registry {}/{} is damaged at line {}: {}", dir,
                                           kRegistryFile, line + 1, why));
  };
  if (lines.empty() || lines[0] != kMagic) return damaged(0, "bad header");
  TopicRegistry topics;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view rest = lines[i];
    std::vector<std::string_view> words;
    while (!rest.empty()) {
      size_t sp = rest.find(' ');
      words.push_back(rest.substr(0, sp));
      if (sp == std::string_view::npos) break;
      rest.remove_prefix(sp + 1);
    }
    if (words.size() < 3 || words[0] != "topic") return damaged(i, "not a topic line");
    std::string name(words[1]);
    std::map<std::string, std::string> entries;
    bool internal = false;
    for (size_t w = 2; w < words.size(); ++w) {
      size_t eq = words[w].find('=');
      if (eq == std::string_view::npos) return damaged(i, "entry without '='");
      std::string key(words[w].substr(0, eq));
      std::string value(words[w].substr(eq + 1));
      if (key == "internal") {
        if (value != "true" && value != "false") return damaged(i, "internal is not true or false");
        internal = value == "true";
      } else {
        entries[key] = value;
      }
    }
    // Checked as CreateTopic checks them: a name or a config that could not have been written
    // (a path like "../x", partitions=-1) is damage, not something to open or delete.
    if (absl::Status named = ValidateTopicName(name); !named.ok()) {
      return damaged(i, std::string(named.message()));
    }
    absl::StatusOr<TopicConfig> config = TopicConfig::FromConfigMap(entries, TopicConfig{});
    if (config.ok()) {
      if (absl::Status valid = config->Validate(); !valid.ok()) config = valid;
    }
    if (!config.ok()) return damaged(i, std::string(config.status().message()));
    if (!topics.emplace(name, RegisteredTopic{*config, internal}).second) {
      return damaged(i, fmt::format("topic {} listed twice", name));
    }
  }
  return topics;
}

}  // namespace brook::broker
