// __consumer_offsets records in Kafka's formats: round trips, Kafka's own bytes, bad input.
#include "group/offsets_records.h"

#include <string>

#include "support/catch.h"

namespace brook::group {
namespace {

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

TEST_CASE("Offset commit keys and values have Kafka's layout", "[offsets]") {
  // Key v1: version 1, "g", "t", partition 2 (GroupMetadataManager.offsetCommitKey).
  std::string key = EncodeKey(OffsetCommitKey{"g", {"t", 2}});
  REQUIRE(Hex(key) ==
          "0001"
          "000167"
          "000174"
          "00000002");
  // Value v3: offset 42, leader epoch -1, metadata "", commit timestamp 7.
  std::string value = EncodeValue(OffsetCommitValue{.offset = 42, .commit_timestamp_ms = 7});
  REQUIRE(Hex(value) ==
          "0003"
          "000000000000002a"
          "ffffffff"
          "0000"
          "0000000000000007");
  absl::StatusOr<OffsetsKey> decoded = DecodeKey(key);
  REQUIRE(decoded.ok());
  REQUIRE(std::get<OffsetCommitKey>(*decoded).partition == TopicPartition{"t", 2});
  absl::StatusOr<OffsetCommitValue> v = DecodeOffsetCommitValue(value);
  REQUIRE(v.ok());
  REQUIRE(v->offset == 42);
  REQUIRE(v->commit_timestamp_ms == 7);
  // Value v1 (Kafka 0.10-2.0): offset, metadata, commit timestamp, expire timestamp.
  std::string v1 = std::string("\x00\x01", 2) + std::string("\x00\x00\x00\x00\x00\x00\x00\x05", 8) +
                   std::string("\x00\x02hi", 4) + std::string(8, '\0') + std::string(8, '\0');
  absl::StatusOr<OffsetCommitValue> old = DecodeOffsetCommitValue(v1);
  REQUIRE(old.ok());
  REQUIRE(old->offset == 5);
  REQUIRE(old->metadata == "hi");
}

TEST_CASE("Group metadata round-trips with members, subscriptions and assignments", "[offsets]") {
  GroupMetadataValue value;
  value.generation = 9;
  value.protocol = "range";
  value.leader = "m1";
  value.current_state_timestamp_ms = 123;
  value.members.push_back({.member_id = "m1",
                           .group_instance_id = "i1",
                           .client_id = "c",
                           .client_host = "localhost",
                           .rebalance_timeout_ms = 300000,
                           .session_timeout_ms = 45000,
                           .topics = {"a", "b"},
                           .assignment = {{"a", 0}, {"a", 1}, {"b", 3}}});
  absl::StatusOr<GroupMetadataValue> back = DecodeGroupMetadataValue(EncodeValue(value));
  REQUIRE(back.ok());
  REQUIRE(back->generation == 9);
  REQUIRE(back->protocol == "range");
  REQUIRE(back->members.size() == 1);
  REQUIRE(back->members[0].group_instance_id == "i1");
  REQUIRE(back->members[0].topics == std::vector<std::string>{"a", "b"});
  REQUIRE(back->members[0].assignment == value.members[0].assignment);
  absl::StatusOr<OffsetsKey> key = DecodeKey(EncodeKey(GroupMetadataKey{"grp"}));
  REQUIRE(key.ok());
  REQUIRE(std::get<GroupMetadataKey>(*key).group == "grp");
}

TEST_CASE("Malformed __consumer_offsets records are errors, never crashes", "[offsets]") {
  std::string key = EncodeKey(OffsetCommitKey{"group", {"topic", 1}});
  for (size_t n = 0; n < key.size(); ++n) {
    INFO(n);
    REQUIRE(!DecodeKey(key.substr(0, n)).ok());
  }
  std::string value = EncodeValue(OffsetCommitValue{.offset = 1, .metadata = "m"});
  for (size_t n = 0; n < value.size(); ++n)
    REQUIRE(!DecodeOffsetCommitValue(value.substr(0, n)).ok());
  // A member count far beyond the bytes present is refused before anything is allocated.
  GroupMetadataValue g;
  std::string bytes = EncodeValue(g);
  bytes.replace(bytes.size() - 4, 4, std::string("\x7f\xff\xff\xff", 4));
  REQUIRE(!DecodeGroupMetadataValue(bytes).ok());
  // KIP-848 record types are skipped, not errors.
  absl::StatusOr<OffsetsKey> newer = DecodeKey(std::string("\x00\x05\x00\x01g", 5));
  REQUIRE(newer.ok());
  REQUIRE(std::holds_alternative<std::monostate>(*newer));
}

TEST_CASE("Groups map to __consumer_offsets partitions as Kafka maps them", "[offsets]") {
  REQUIRE(OffsetsPartitionFor("", 50) == 0);
  // Java: "test".hashCode() == 3556498; 3556498 % 50 == 48.
  REQUIRE(OffsetsPartitionFor("test", 50) == 48);
  // Java: "polygenelubricants".hashCode() == Integer.MIN_VALUE; Utils.abs maps it to 0.
  REQUIRE(OffsetsPartitionFor("polygenelubricants", 50) == 0);
  REQUIRE(OffsetsPartitionFor("anything", 1) == 0);
}

}  // namespace
}  // namespace brook::group
