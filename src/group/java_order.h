// Java's orderings, reproduced so brook's assignors give the same answers as Kafka's Java client.
//
// Kafka's assignors sort member ids and topic names with String.compareTo (UTF-16 code units), and
// the sticky assignors walk java.util.HashMap and HashSet instances whose iteration order decides
// ties (which member keeps its extra partition, which of two equal claims is seen first). The
// helpers here compute those orders without a JVM.
#ifndef BROOK_SRC_GROUP_JAVA_ORDER_H_
#define BROOK_SRC_GROUP_JAVA_ORDER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "brook/topic_partition.h"

namespace brook::group {

// String.compareTo on the UTF-16 form of two UTF-8 strings: < 0, 0 or > 0. Byte order equals
// code point order, which differs from UTF-16 order only between a supplementary character and
// one in U+E000..U+FFFF; that case is corrected.
int JavaCompare(std::string_view a, std::string_view b);

struct JavaLess {
  bool operator()(std::string_view a, std::string_view b) const { return JavaCompare(a, b) < 0; }
};

// String.hashCode of the UTF-16 form of a UTF-8 string (invalid bytes count as U+FFFD).
int32_t JavaStringHash(std::string_view s);

// TopicPartition.hashCode in Kafka's Java client.
int32_t JavaTopicPartitionHash(const TopicPartition& tp);

// The bucket java.util.HashMap files a key with hash `h` under in a table of `capacity` slots.
inline size_t JavaBucket(int32_t h, size_t capacity) {
  auto u = static_cast<uint32_t>(h);
  return (u ^ (u >> 16)) & (capacity - 1);
}

// The table size of a default-constructed java.util.HashMap after `size` insertions (16, doubled
// whenever the size exceeds three quarters of it). Tables never shrink.
size_t JavaTableCapacity(size_t size);

// The order in which a default-constructed java.util.HashMap<String, ?> iterates keys that were
// inserted in the given order: indexes into `keys_in_insertion_order`. Keys in one bucket keep
// their insertion order, as they do in Java until a bucket holds eight or more keys in a table of
// 64 or more (Java then makes it a tree; that case is not reproduced).
std::vector<size_t> JavaHashMapOrder(const std::vector<std::string>& keys_in_insertion_order);

// A java.util.HashSet<TopicPartition> reduced to what Kafka's sticky assignor asks of one: add,
// remove, and the element its iterator returns first.
class JavaPartitionSet {
 public:
  // True if `tp` was not present.
  bool Add(const TopicPartition& tp);
  // True if `tp` was present.
  bool Remove(const TopicPartition& tp);
  bool empty() const { return entries_.empty(); }
  // The first element in Java's iteration order. Precondition: !empty().
  const TopicPartition& First() const;

 private:
  struct Entry {
    TopicPartition tp;
    int32_t hash;
    uint64_t seq;  // insertion sequence: the order within a bucket
  };
  std::vector<Entry> entries_;
  size_t capacity_ = 16;
  uint64_t next_seq_ = 0;
};

}  // namespace brook::group

#endif  // BROOK_SRC_GROUP_JAVA_ORDER_H_
