// The Broker's topic registry: `<dir>/topics`, the list of topics with their configurations in
// Kafka's config names, checksummed and replaced atomically (storage::WriteChecksummedText).
//
//   brook-topics 1
//   topic orders internal=false cleanup.policy=delete partitions=8 retention.ms=-1 ...
//   crc32c 1a2b3c4d
//
// A damaged registry reads as DataLoss: the Broker refuses to open rather than guess which
// topics exist (and delete the data of the ones it forgot).
#ifndef BROOK_BROKER_TOPIC_REGISTRY_H_
#define BROOK_BROKER_TOPIC_REGISTRY_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "brook/file_system.h"
#include "brook/topic_config.h"
#include "storage/log_files.h"

namespace brook::broker {

inline constexpr const char* kRegistryFile = storage::kBrokerRegistryFile;

struct RegisteredTopic {
  TopicConfig config;
  bool internal = false;
};

using TopicRegistry = std::map<std::string, RegisteredTopic>;

absl::Status WriteTopicRegistry(FileSystem* fs, const std::string& dir,
                                const TopicRegistry& topics);
// InvalidArgument (kInvalidTopicException) unless `name` is 1-249 ASCII letters, digits, '.', '_'
// and '-', and not "." or "..": Kafka's rule, which also keeps it a plain directory name.
absl::Status ValidateTopicName(const std::string& name);

// NotFound if there is no registry (a new broker directory); DataLoss if it is damaged, which
// includes a topic name or config CreateTopic would have refused.
absl::StatusOr<TopicRegistry> ReadTopicRegistry(FileSystem* fs, const std::string& dir);

}  // namespace brook::broker

#endif  // BROOK_BROKER_TOPIC_REGISTRY_H_
