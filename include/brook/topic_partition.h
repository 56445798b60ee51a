// brook/topic_partition.h — names one partition of one topic.
#ifndef BROOK_TOPIC_PARTITION_H_
#define BROOK_TOPIC_PARTITION_H_

#include <compare>
#include <cstdint>
#include <string>
#include <utility>

namespace brook {

// A topic name and a partition number, ordered by (topic, partition) as Kafka sorts them.
struct TopicPartition {
  std::string topic;
  int32_t partition = 0;

  friend auto operator<=>(const TopicPartition&, const TopicPartition&) = default;
  friend bool operator==(const TopicPartition&, const TopicPartition&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const TopicPartition& tp) {
    return H::combine(std::move(h), tp.topic, tp.partition);
  }
};

}  // namespace brook

#endif  // BROOK_TOPIC_PARTITION_H_
