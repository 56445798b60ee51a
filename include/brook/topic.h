// brook/topic.h — a named set of partitions with one configuration.
//
//   std::shared_ptr<brook::Topic> topic = *broker->GetTopic("orders");
//   int32_t p = topic->PartitionForKey("customer-17");   // where a Java producer puts the key
//   std::shared_ptr<brook::Partition> partition = topic->partition(p);
//
// Ownership: the Broker owns its topics; the shared_ptr keeps the object alive after the topic is
// deleted (deleted() turns true and its partitions refuse every call). Thread-safe.
#ifndef BROOK_TOPIC_H_
#define BROOK_TOPIC_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "brook/partition.h"
#include "brook/topic_config.h"

namespace brook {

namespace detail {
class BrokerImpl;
}  // namespace detail

class Topic {
 public:
  Topic(std::string name, TopicConfig config, bool internal);
  ~Topic();
  Topic(const Topic&) = delete;
  Topic& operator=(const Topic&) = delete;

  const std::string& name() const { return name_; }
  // The configuration, with `partitions` the current partition count.
  TopicConfig config() const;
  // The current partition count (grows with Broker::AddPartitions).
  int32_t partition_count() const { return partition_count_.load(std::memory_order_acquire); }
  // nullptr if `p` is out of range.
  std::shared_ptr<Partition> partition(int32_t p) const;
  std::vector<std::shared_ptr<Partition>> partitions() const;
  // The partition Kafka's default partitioner picks for `key` (murmur2), given the current count.
  int32_t PartitionForKey(std::string_view key) const;
  // Internal topics (__consumer_offsets) are hidden from ListTopics and cannot be produced to.
  bool internal() const { return internal_; }
  bool deleted() const { return deleted_.load(std::memory_order_acquire); }

 private:
  friend class detail::BrokerImpl;
  // Adds partitions at the end (the Broker, after creating them).
  void AddPartitions(std::vector<std::shared_ptr<Partition>> partitions);
  void MarkDeleted() { deleted_.store(true, std::memory_order_release); }

  const std::string name_;
  const bool internal_;
  struct State;  // the config and partitions, under a mutex
  const std::unique_ptr<State> state_;
  std::atomic<int32_t> partition_count_{0};
  std::atomic<bool> deleted_{false};
};

}  // namespace brook

#endif  // BROOK_TOPIC_H_
