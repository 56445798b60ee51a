#include "brook/partitioner.h"

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "brook/detail/check.h"
#include "util/mutex.h"

namespace brook {

int32_t Murmur2(std::string_view data) {
  // Java does this in int arithmetic; uint32_t gives the same bits without signed overflow.
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  const size_t length = data.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t blocks = length / 4;
  for (size_t i = 0; i < blocks; ++i, p += 4) {
    // Little-endian, whatever the host: Kafka reads the bytes as b0 | b1<<8 | b2<<16 | b3<<24.
    uint32_t k = uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  switch (length % 4) {
    case 3:
      h ^= uint32_t{p[2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{p[1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{p[0]};
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t PartitionForKey(std::string_view key, int32_t num_partitions) {
  BROOK_CHECK(num_partitions > 0);
  return ToPositive(Murmur2(key)) % num_partitions;
}

namespace {

absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

class DefaultPartitioner final : public Partitioner {
 public:
  explicit DefaultPartitioner(DefaultPartitionerOptions options)
      : options_(options), random_(options.seed != 0 ? options.seed : RandomSeed()) {}

  int32_t Partition(const PartitionerRecord& record) override {
    BROOK_CHECK(record.num_partitions > 0);
    if (record.key && !options_.ignore_keys) {
      return PartitionForKey(*record.key, record.num_partitions);
    }
    return Sticky(record);
  }

 private:
  // KIP-794's per-topic state (BuiltInPartitioner.StickyPartitionInfo).
  struct StickyState {
    int32_t partition = -1;  // -1: pick one on the next record
    size_t produced_bytes = 0;
  };

  static uint64_t RandomSeed() {
    std::random_device device;
    return (uint64_t{device()} << 32) ^ device();
  }

  int32_t Sticky(const PartitionerRecord& record) {
    const int32_t n = record.num_partitions;
    MutexLock lock(&mu_);
    auto it = topics_.find(AbslView(record.topic));
    if (it == topics_.end()) {
      it = topics_.try_emplace(std::string(record.topic)).first;
    }
    StickyState& state = it->second;
    if (state.partition < 0 || state.partition >= n) {
      state.partition = PickOther(state.partition, n);
      state.produced_bytes = 0;
    }
    int32_t partition = state.partition;
    state.produced_bytes += record.size_bytes;
    if (state.produced_bytes >= options_.sticky_batch_bytes) {
      // The budget is spent: the next record moves. Choosing now keeps the record path short.
      state.partition = PickOther(partition, n);
      state.produced_bytes = 0;
    }
    return partition;
  }

  // A uniformly random partition in [0, n), other than `previous` when there is a choice.
  int32_t PickOther(int32_t previous, int32_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (previous < 0 || previous >= n || n == 1) {
      return std::uniform_int_distribution<int32_t>(0, n - 1)(random_);
    }
    int32_t pick = std::uniform_int_distribution<int32_t>(0, n - 2)(random_);
    return pick >= previous ? pick + 1 : pick;
  }

  const DefaultPartitionerOptions options_;
  Mutex mu_;
  std::mt19937_64 random_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, StickyState> topics_ ABSL_GUARDED_BY(mu_);
};

class RoundRobinPartitioner final : public Partitioner {
 public:
  int32_t Partition(const PartitionerRecord& record) override {
    BROOK_CHECK(record.num_partitions > 0);
    uint32_t next;
    {
      MutexLock lock(&mu_);
      auto it = counters_.find(AbslView(record.topic));
      if (it == counters_.end()) it = counters_.try_emplace(std::string(record.topic), 0).first;
      next = it->second++;
    }
    // Kafka's counter is an int that wraps and goes through toPositive; so does this one.
    return ToPositive(static_cast<int32_t>(next)) % record.num_partitions;
  }

 private:
  Mutex mu_;
  absl::flat_hash_map<std::string, uint32_t> counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::unique_ptr<Partitioner> MakeDefaultPartitioner(DefaultPartitionerOptions options) {
  return std::make_unique<DefaultPartitioner>(options);
}

std::unique_ptr<Partitioner> MakeRoundRobinPartitioner() {
  return std::make_unique<RoundRobinPartitioner>();
}

}  // namespace brook
