#include "group/offsets_records.h"

#include <limits>
#include <map>

#include "fmt/format.h"
#include "group/java_order.h"

namespace brook::group {
namespace {

class Writer {
 public:
  void Int16(int16_t v) { Big(static_cast<uint16_t>(v), 2); }
  void Int32(int32_t v) { Big(static_cast<uint32_t>(v), 4); }
  void Int64(int64_t v) { Big(static_cast<uint64_t>(v), 8); }
  void String(std::string_view s) {
    Int16(static_cast<int16_t>(s.size()));
    out_.append(s);
  }
  void NullableString(const std::optional<std::string>& s) {
    if (!s) {
      Int16(-1);
    } else {
      String(*s);
    }
  }
  void Bytes(std::string_view s) {
    Int32(static_cast<int32_t>(s.size()));
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  void Big(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Int16(int16_t* v) { return Big(v); }
  bool Int32(int32_t* v) { return Big(v); }
  bool Int64(int64_t* v) { return Big(v); }
  bool NullableString(std::optional<std::string>* s) {
    int16_t n;
    if (!Int16(&n) || n < -1 || static_cast<size_t>(n < 0 ? 0 : n) > in_.size()) return false;
    if (n < 0) {
      s->reset();
      return true;
    }
    *s = std::string(in_.substr(0, static_cast<size_t>(n)));
    in_.remove_prefix(static_cast<size_t>(n));
    return true;
  }
  bool String(std::string* s) {
    std::optional<std::string> v;
    if (!NullableString(&v) || !v) return false;
    *s = std::move(*v);
    return true;
  }
  bool Bytes(std::string_view* s) {
    int32_t n;
    if (!Int32(&n) || n < -1 || static_cast<size_t>(n < 0 ? 0 : n) > in_.size()) return false;
    *s = in_.substr(0, static_cast<size_t>(n < 0 ? 0 : n));
    in_.remove_prefix(s->size());
    return true;
  }
  // An array count that cannot exceed the bytes left (each element is at least `min_size`).
  bool Count(int32_t* n, size_t min_size) {
    return Int32(n) && *n >= -1 && static_cast<size_t>(*n < 0 ? 0 : *n) * min_size <= in_.size();
  }
  size_t left() const { return in_.size(); }

 private:
  template <typename T>
  bool Big(T* v) {
    if (in_.size() < sizeof(T)) return false;
    uint64_t x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) x = (x << 8) | static_cast<uint8_t>(in_[i]);
    *v = static_cast<T>(x);
    in_.remove_prefix(sizeof(T));
    return true;
  }
  std::string_view in_;
};

absl::Status Malformed(std::string_view what) {
  return absl::InvalidArgumentError(fmt::format("malformed __consumer_offsets {}", what));
}

// ConsumerProtocolSubscription v1: topics, user data (null), owned partitions (none).
std::string EncodeSubscription(const std::vector<std::string>& topics) {
  Writer w;
  w.Int16(1);
  w.Int32(static_cast<int32_t>(topics.size()));
  for (const std::string& t : topics) w.String(t);
  w.Int32(-1);  // user data
  w.Int32(0);   // owned partitions
  return w.Take();
}

// ConsumerProtocolAssignment v1: [topic, [partition]], user data (null).
std::string EncodeAssignment(const std::vector<TopicPartition>& assignment) {
  std::map<std::string, std::vector<int32_t>> by_topic;
  for (const TopicPartition& tp : assignment) by_topic[tp.topic].push_back(tp.partition);
  Writer w;
  w.Int16(1);
  w.Int32(static_cast<int32_t>(by_topic.size()));
  for (const auto& [topic, partitions] : by_topic) {
    w.String(topic);
    w.Int32(static_cast<int32_t>(partitions.size()));
    for (int32_t p : partitions) w.Int32(p);
  }
  w.Int32(-1);
  return w.Take();
}

bool DecodeSubscription(std::string_view bytes, std::vector<std::string>* topics) {
  Reader r(bytes);
  int16_t version;
  int32_t n;
  if (!r.Int16(&version) || version < 0 || !r.Count(&n, 2)) return false;
  for (int32_t i = 0; i < n; ++i) {
    std::string t;
    if (!r.String(&t)) return false;
    topics->push_back(std::move(t));
  }
  return true;  // user data and owned partitions are not needed
}

bool DecodeAssignment(std::string_view bytes, std::vector<TopicPartition>* assignment) {
  Reader r(bytes);
  int16_t version;
  int32_t topics;
  if (!r.Int16(&version) || version < 0 || !r.Count(&topics, 6)) return false;
  for (int32_t i = 0; i < topics; ++i) {
    std::string topic;
    int32_t n;
    if (!r.String(&topic) || !r.Count(&n, 4)) return false;
    for (int32_t j = 0; j < n; ++j) {
      int32_t p;
      if (!r.Int32(&p)) return false;
      assignment->push_back({topic, p});
    }
  }
  return true;
}

}  // namespace

std::string EncodeKey(const OffsetCommitKey& key) {
  Writer w;
  w.Int16(1);
  w.String(key.group);
  w.String(key.partition.topic);
  w.Int32(key.partition.partition);
  return w.Take();
}

std::string EncodeKey(const GroupMetadataKey& key) {
  Writer w;
  w.Int16(2);
  w.String(key.group);
  return w.Take();
}

std::string EncodeValue(const OffsetCommitValue& value) {
  Writer w;
  w.Int16(3);
  w.Int64(value.offset);
  w.Int32(value.leader_epoch);
  w.String(value.metadata);
  w.Int64(value.commit_timestamp_ms);
  return w.Take();
}

std::string EncodeValue(const GroupMetadataValue& value) {
  Writer w;
  w.Int16(3);
  w.String(value.protocol_type);
  w.Int32(value.generation);
  w.NullableString(value.protocol);
  w.NullableString(value.leader);
  w.Int64(value.current_state_timestamp_ms);
  w.Int32(static_cast<int32_t>(value.members.size()));
  for (const GroupMemberMetadata& m : value.members) {
    w.String(m.member_id);
    w.NullableString(m.group_instance_id);
    w.String(m.client_id);
    w.String(m.client_host);
    w.Int32(m.rebalance_timeout_ms);
    w.Int32(m.session_timeout_ms);
    w.Bytes(EncodeSubscription(m.topics));
    w.Bytes(EncodeAssignment(m.assignment));
  }
  return w.Take();
}

absl::StatusOr<OffsetsKey> DecodeKey(std::string_view bytes) {
  Reader r(bytes);
  int16_t version;
  if (!r.Int16(&version)) return Malformed("key: shorter than its version");
  if (version == 0 || version == 1) {
    OffsetCommitKey key;
    if (!r.String(&key.group) || !r.String(&key.partition.topic) ||
        !r.Int32(&key.partition.partition)) {
      return Malformed("offset commit key");
    }
    return key;
  }
  if (version == 2) {
    GroupMetadataKey key;
    if (!r.String(&key.group)) return Malformed("group metadata key");
    return key;
  }
  if (version < 0) return Malformed(fmt::format("key: negative version {}", version));
  return std::monostate{};
}

absl::StatusOr<OffsetCommitValue> DecodeOffsetCommitValue(std::string_view bytes) {
  Reader r(bytes);
  int16_t version;
  OffsetCommitValue v;
  // v4 is Kafka's flexible encoding (compact strings, tagged fields): not read yet.
  if (!r.Int16(&version) || version < 0 || version > 3) {
    return Malformed("offset commit value: unknown version");
  }
  if (!r.Int64(&v.offset)) return Malformed("offset commit value");
  if (version >= 3 && !r.Int32(&v.leader_epoch)) return Malformed("offset commit value");
  if (!r.String(&v.metadata) || !r.Int64(&v.commit_timestamp_ms)) {
    return Malformed("offset commit value");
  }
  return v;
}

absl::StatusOr<GroupMetadataValue> DecodeGroupMetadataValue(std::string_view bytes) {
  Reader r(bytes);
  int16_t version;
  GroupMetadataValue v;
  if (!r.Int16(&version) || version < 0 || version > 3) {
    return Malformed("group metadata value: unknown version");
  }
  int32_t members;
  if (!r.String(&v.protocol_type) || !r.Int32(&v.generation) || !r.NullableString(&v.protocol) ||
      !r.NullableString(&v.leader)) {
    return Malformed("group metadata value");
  }
  if (version >= 2 && !r.Int64(&v.current_state_timestamp_ms)) {
    return Malformed("group metadata value");
  }
  if (!r.Count(&members, 16)) return Malformed("group metadata value: member count");
  for (int32_t i = 0; i < members; ++i) {
    GroupMemberMetadata m;
    int32_t session = 0;
    std::string_view subscription, assignment;
    if (!r.String(&m.member_id)) return Malformed("group member");
    if (version >= 3 && !r.NullableString(&m.group_instance_id)) return Malformed("group member");
    if (!r.String(&m.client_id) || !r.String(&m.client_host)) return Malformed("group member");
    if (version >= 1 && !r.Int32(&m.rebalance_timeout_ms)) return Malformed("group member");
    if (!r.Int32(&session) || !r.Bytes(&subscription) || !r.Bytes(&assignment)) {
      return Malformed("group member");
    }
    m.session_timeout_ms = session;
    if (!DecodeSubscription(subscription, &m.topics)) return Malformed("member subscription");
    if (!DecodeAssignment(assignment, &m.assignment)) return Malformed("member assignment");
    v.members.push_back(std::move(m));
  }
  return v;
}

int32_t OffsetsPartitionFor(std::string_view group, int32_t partitions) {
  int32_t h = JavaStringHash(group);
  int32_t abs = h == std::numeric_limits<int32_t>::min() ? 0 : (h < 0 ? -h : h);
  return abs % partitions;
}

}  // namespace brook::group
