// brook/topic_config.h — one topic's settings, with Kafka's names.
//
//   brook::TopicConfig config{.partitions = 8, .retention_age = std::chrono::hours(24 * 7)};
//   broker->CreateTopic("orders", config);
//
// Every partition of a topic is a Log opened with these settings (ToLogOptions()). The Broker
// persists them in its topic registry; the CLI and the registry file spell them with Kafka's
// topic-level config names (`retention.ms`, `cleanup.policy`, ...), see FromConfigMap().
#ifndef BROOK_TOPIC_CONFIG_H_
#define BROOK_TOPIC_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/log_options.h"

namespace brook {

struct TopicConfig {
  // Number of partitions; only ever grows (Broker::AddPartitions). Default: 1.
  int32_t partitions = 1;
  // cleanup.policy: delete, compact or compact,delete. Default: delete.
  CleanupPolicy cleanup_policy = CleanupPolicy::kDelete;
  // retention.bytes, per partition. Negative: unlimited. Default: -1.
  int64_t retention_bytes = -1;
  // retention.ms. Negative: forever. Default: -1 (an embedded store deletes nothing unless
  // asked; Kafka's default is 7 days).
  std::chrono::milliseconds retention_age{-1};
  // segment.bytes: each segment file is preallocated to this size. Default: 64 MiB.
  uint64_t segment_bytes_max = uint64_t{64} << 20;
  // segment.index.bytes: space for each segment's offset and time index. Default: 1 MiB.
  uint64_t segment_index_bytes = uint64_t{1} << 20;
  // segment.ms. Default: 7 days.
  std::chrono::milliseconds segment_age_max = std::chrono::hours(24 * 7);
  // max.message.bytes: the largest batch a partition accepts. Default: 1 MiB + 12.
  uint32_t batch_bytes_max = 1048588;
  // flush.messages / flush.ms (and brook's flush.bytes). Default: OsOnly().
  FlushPolicy flush;
  // min.cleanable.dirty.ratio, min/max.compaction.lag.ms, delete.retention.ms (compacting
  // policies only).
  CompactionOptions compaction;
  // Consumers see only what is on disk: a partition's high watermark is its flushed offset
  // instead of its end offset, so nothing a consumer saw can be lost by a machine crash. The
  // Broker flushes such a partition every tick (BrokerOptions::tick_interval) when its flush
  // policy has not, so records reach consumers within a tick. Default: false.
  bool flushed_reads_only = false;

  // OK, or InvalidArgument naming the first bad field.
  absl::Status Validate() const;

  // The options every partition's Log is opened with (file system, clock and logger are the
  // Broker's).
  LogOptions ToLogOptions() const;

  // Kafka's names and values: {"cleanup.policy": "compact", "retention.ms": "604800000", ...}.
  // ToConfigMap() lists every setting (partitions as "partitions").
  std::map<std::string, std::string> ToConfigMap() const;
  // Applies `entries` over `base`. InvalidArgument naming the key for an unknown key or a bad
  // value.
  static absl::StatusOr<TopicConfig> FromConfigMap(
      const std::map<std::string, std::string>& entries, const TopicConfig& base);
};

}  // namespace brook

#endif  // BROOK_TOPIC_CONFIG_H_
