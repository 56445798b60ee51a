#include "brook/topic.h"

#include "brook/partitioner.h"
#include "util/mutex.h"

namespace brook {

struct Topic::State {
  mutable Mutex mu;
  TopicConfig config ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<Partition>> partitions ABSL_GUARDED_BY(mu);
};

Topic::Topic(std::string name, TopicConfig config, bool internal)
    : name_(std::move(name)), internal_(internal), state_(std::make_unique<State>()) {
  MutexLock l(&state_->mu);
  state_->config = std::move(config);
}

Topic::~Topic() = default;

TopicConfig Topic::config() const {
  MutexLock l(&state_->mu);
  TopicConfig c = state_->config;
  c.partitions = static_cast<int32_t>(state_->partitions.size());
  return c;
}

std::shared_ptr<Partition> Topic::partition(int32_t p) const {
  MutexLock l(&state_->mu);
  if (p < 0 || static_cast<size_t>(p) >= state_->partitions.size()) return nullptr;
  return state_->partitions[static_cast<size_t>(p)];
}

std::vector<std::shared_ptr<Partition>> Topic::partitions() const {
  MutexLock l(&state_->mu);
  return state_->partitions;
}

void Topic::AddPartitions(std::vector<std::shared_ptr<Partition>> partitions) {
  MutexLock l(&state_->mu);
  for (auto& p : partitions) state_->partitions.push_back(std::move(p));
  partition_count_.store(static_cast<int32_t>(state_->partitions.size()),
                         std::memory_order_release);
}

int32_t Topic::PartitionForKey(std::string_view key) const {
  return brook::PartitionForKey(key, std::max(partition_count(), 1));
}

}  // namespace brook
