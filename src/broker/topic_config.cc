#include "brook/topic_config.h"

#include <charconv>
#include <string_view>

#include "util/format.h"

namespace brook {
namespace {

using std::chrono::milliseconds;

std::string_view PolicyName(CleanupPolicy policy) {
  switch (policy) {
    case CleanupPolicy::kDelete:
      return "delete";
    case CleanupPolicy::kCompact:
      return "compact";
    case CleanupPolicy::kCompactAndDelete:
      return "compact,delete";
  }
  return "delete";
}

template <typename T>
absl::Status ParseNumber(const std::string& key, const std::string& text, T* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  if (ec != std::errc() || ptr != end || text.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("topic config {}: '{}' is not a valid number", key, text));
  }
  return absl::OkStatus();
}

absl::Status ParseMs(const std::string& key, const std::string& text, milliseconds* out) {
  int64_t ms = 0;
  if (absl::Status s = ParseNumber(key, text, &ms); !s.ok()) return s;
  *out = milliseconds(ms);
  return absl::OkStatus();
}

}  // namespace

absl::Status TopicConfig::Validate() const {
  if (partitions < 1) {
    return absl::InvalidArgumentError(
        fmt::format("TopicConfig.partitions must be at least 1, got {}", partitions));
  }
  if (partitions > 100000) {
    return absl::InvalidArgumentError(
        fmt::format("TopicConfig.partitions must be at most 100000, got {}", partitions));
  }
  return ToLogOptions().Validate();
}

LogOptions TopicConfig::ToLogOptions() const {
  LogOptions options;
  options.segment_bytes_max = segment_bytes_max;
  options.index_bytes_max = segment_index_bytes;
  options.segment_age_max = segment_age_max;
  options.batch_bytes_max = batch_bytes_max;
  options.retention_bytes = retention_bytes;
  options.retention_age = retention_age;
  options.flush = flush;
  options.cleanup_policy = cleanup_policy;
  options.compaction = compaction;
  return options;
}

std::map<std::string, std::string> TopicConfig::ToConfigMap() const {
  std::map<std::string, std::string> m;
  m["partitions"] = std::to_string(partitions);
  m["cleanup.policy"] = std::string(PolicyName(cleanup_policy));
  m["retention.bytes"] = std::to_string(retention_bytes);
  m["retention.ms"] = std::to_string(retention_age.count());
  m["segment.bytes"] = std::to_string(segment_bytes_max);
  m["segment.index.bytes"] = std::to_string(segment_index_bytes);
  m["segment.ms"] = std::to_string(segment_age_max.count());
  m["max.message.bytes"] = std::to_string(batch_bytes_max);
  m["flush.messages"] = std::to_string(flush.records);
  m["flush.bytes"] = std::to_string(flush.bytes);
  m["flush.ms"] = std::to_string(flush.interval.count());
  m["min.cleanable.dirty.ratio"] = fmt::format("{}", compaction.min_cleanable_dirty_ratio);
  m["min.compaction.lag.ms"] = std::to_string(compaction.min_lag.count());
  m["max.compaction.lag.ms"] = std::to_string(compaction.max_lag.count());
  m["delete.retention.ms"] = std::to_string(compaction.delete_retention.count());
  m["flushed.reads.only"] = flushed_reads_only ? "true" : "false";
  // Kafka sets these per broker (log.cleaner.*); brook per topic.
  m["log.cleaner.dedupe.buffer.size"] = std::to_string(compaction.offset_map_bytes);
  m["log.cleaner.io.max.bytes.per.second"] = std::to_string(compaction.io_bytes_per_second);
  return m;
}

absl::StatusOr<TopicConfig> TopicConfig::FromConfigMap(
    const std::map<std::string, std::string>& entries, const TopicConfig& base) {
  TopicConfig c = base;
  for (const auto& [key, value] : entries) {
    absl::Status s;
    if (key == "partitions") {
      s = ParseNumber(key, value, &c.partitions);
    } else if (key == "cleanup.policy") {
      if (value == "delete") {
        c.cleanup_policy = CleanupPolicy::kDelete;
      } else if (value == "compact") {
        c.cleanup_policy = CleanupPolicy::kCompact;
      } else if (value == "compact,delete" || value == "delete,compact") {
        c.cleanup_policy = CleanupPolicy::kCompactAndDelete;
      } else {
        s = absl::InvalidArgumentError(fmt::format(
            "topic config cleanup.policy: '{}' is not delete, compact or compact,delete", value));
      }
    } else if (key == "retention.bytes") {
      s = ParseNumber(key, value, &c.retention_bytes);
    } else if (key == "retention.ms") {
      s = ParseMs(key, value, &c.retention_age);
    } else if (key == "segment.bytes") {
      s = ParseNumber(key, value, &c.segment_bytes_max);
    } else if (key == "segment.index.bytes") {
      s = ParseNumber(key, value, &c.segment_index_bytes);
    } else if (key == "segment.ms") {
      s = ParseMs(key, value, &c.segment_age_max);
    } else if (key == "max.message.bytes") {
      s = ParseNumber(key, value, &c.batch_bytes_max);
    } else if (key == "flush.messages") {
      s = ParseNumber(key, value, &c.flush.records);
    } else if (key == "flush.bytes") {
      s = ParseNumber(key, value, &c.flush.bytes);
    } else if (key == "flush.ms") {
      s = ParseMs(key, value, &c.flush.interval);
    } else if (key == "min.cleanable.dirty.ratio") {
      s = ParseNumber(key, value, &c.compaction.min_cleanable_dirty_ratio);
    } else if (key == "min.compaction.lag.ms") {
      s = ParseMs(key, value, &c.compaction.min_lag);
    } else if (key == "max.compaction.lag.ms") {
      s = ParseMs(key, value, &c.compaction.max_lag);
    } else if (key == "delete.retention.ms") {
      s = ParseMs(key, value, &c.compaction.delete_retention);
    } else if (key == "log.cleaner.dedupe.buffer.size") {
      s = ParseNumber(key, value, &c.compaction.offset_map_bytes);
    } else if (key == "log.cleaner.io.max.bytes.per.second") {
      s = ParseNumber(key, value, &c.compaction.io_bytes_per_second);
    } else if (key == "flushed.reads.only") {
      if (value == "true" || value == "false") {
        c.flushed_reads_only = value == "true";
      } else {
        s = absl::InvalidArgumentError(
            fmt::format("topic config flushed.reads.only: '{}' is not true or false", value));
      }
    } else {
      s = absl::InvalidArgumentError(fmt::format("unknown topic config '{}'", key));
    }
    if (!s.ok()) return s;
  }
  return c;
}

}  // namespace brook
