// The names of the files in a log directory (docs/format.md), shared by the Log and the
// read-only LogInspector.
#ifndef BROOK_STORAGE_LOG_FILES_H_
#define BROOK_STORAGE_LOG_FILES_H_

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace brook::storage {

inline constexpr char kMetaFile[] = "brook.meta";                // checkpoint "brook-log" {version}
inline constexpr char kLockFile[] = ".lock";                     // flock'd by the open Log
inline constexpr char kCleanShutdownFile[] = ".clean-shutdown";  // checkpoint {end offset}
inline constexpr char kRecoveryPointFile[] = "recovery-point";   // checkpoint {offset}
inline constexpr char kStartOffsetFile[] = "log-start-offset";   // checkpoint {offset}
inline constexpr char kCleanerCheckpointFile[] = "cleaner-offset-checkpoint";  // {first dirty}
inline constexpr int64_t kFormatVersion = 1;
// A Broker's directory (the parent of its partitions' log directories) holds its topic registry
// and its lock, which covers those logs.
inline constexpr char kBrokerRegistryFile[] = "topics";
inline constexpr char kBrokerLockFile[] = ".lock";

// "00000000000000000042.log" -> 42 (for `extension` ".log").
inline std::optional<int64_t> ParseSegmentName(std::string_view name, std::string_view extension) {
  if (name.size() != 20 + extension.size() || !name.ends_with(extension)) return std::nullopt;
  int64_t base;
  auto [p, ec] = std::from_chars(name.data(), name.data() + 20, base);
  if (ec != std::errc() || p != name.data() + 20 || base < 0) return std::nullopt;
  return base;
}

}  // namespace brook::storage

#endif  // BROOK_STORAGE_LOG_FILES_H_
