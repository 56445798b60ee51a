// The records of __consumer_offsets, in Kafka's own formats (GroupMetadataManager), so the topic
// reads the same as a Kafka broker's (kafka-internals §9.1). Every key and value starts with an
// int16 version; the key's version doubles as the record type:
//
//   key v1 (offset commit): group string, topic string, partition int32
//   value v3:               offset int64, leader_epoch int32, metadata string, commit_ts int64
//   key v2 (group):         group string
//   value v3:               protocol_type string, generation int32, protocol string?,
//                           leader string?, current_state_ts int64,
//                           members [member_id, instance_id?, client_id, client_host,
//                                    rebalance_timeout int32, session_timeout int32,
//                                    subscription bytes, assignment bytes]
//
// Strings are int16 length + bytes (-1: null), arrays int32 count, bytes int32 length; all
// big-endian. A null value (tombstone) deletes the offset or the group. Decoding checks every
// length against the bytes present and never allocates more than the input holds.
#ifndef BROOK_GROUP_OFFSETS_RECORDS_H_
#define BROOK_GROUP_OFFSETS_RECORDS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/topic_partition.h"

namespace brook::group {

struct OffsetCommitKey {
  std::string group;
  TopicPartition partition;
};

struct OffsetCommitValue {
  int64_t offset = -1;
  int32_t leader_epoch = -1;
  std::string metadata;
  int64_t commit_timestamp_ms = 0;
};

struct GroupMetadataKey {
  std::string group;
};

struct GroupMemberMetadata {
  std::string member_id;
  std::optional<std::string> group_instance_id;
  std::string client_id;
  std::string client_host;
  int32_t rebalance_timeout_ms = 0;
  int32_t session_timeout_ms = 0;
  std::vector<std::string> topics;         // -> subscription bytes (ConsumerProtocol v1)
  std::vector<TopicPartition> assignment;  // -> assignment bytes (ConsumerProtocol v1)
};

struct GroupMetadataValue {
  std::string protocol_type = "consumer";
  int32_t generation = 0;
  std::optional<std::string> protocol;
  std::optional<std::string> leader;
  int64_t current_state_timestamp_ms = -1;
  std::vector<GroupMemberMetadata> members;
};

std::string EncodeKey(const OffsetCommitKey& key);
std::string EncodeKey(const GroupMetadataKey& key);
std::string EncodeValue(const OffsetCommitValue& value);
std::string EncodeValue(const GroupMetadataValue& value);

// A key of a type brook does not use (KIP-848 and share-group records) decodes as std::monostate
// and is skipped. InvalidArgument for malformed bytes.
using OffsetsKey = std::variant<std::monostate, OffsetCommitKey, GroupMetadataKey>;
absl::StatusOr<OffsetsKey> DecodeKey(std::string_view bytes);
absl::StatusOr<OffsetCommitValue> DecodeOffsetCommitValue(std::string_view bytes);
absl::StatusOr<GroupMetadataValue> DecodeGroupMetadataValue(std::string_view bytes);

// The __consumer_offsets partition Kafka picks for a group: abs(String.hashCode) % partitions,
// with abs(INT_MIN) = 0.
int32_t OffsetsPartitionFor(std::string_view group, int32_t partitions);

}  // namespace brook::group

#endif  // BROOK_GROUP_OFFSETS_RECORDS_H_
