// brook/partition.h — one partition of a topic: a Log plus what replication will need.
//
//   std::shared_ptr<brook::Partition> p = *broker->GetPartition({"orders", 3});
//   brook::ReadResult read = *p->Read(p->start_offset(), {});
//
// Appends should go through the Partition, not its Log: the Partition wakes the consumers
// waiting on it. The high watermark is the offset below which consumers may read: the end offset,
// or the flushed offset when the topic asks for flushed-only reads (TopicConfig::
// flushed_reads_only). Once replication exists it becomes the replicated commit point.
//
// Ownership: the Broker owns its partitions; a shared_ptr keeps the object (not the data) alive
// after the topic is deleted or the Broker closed, when Read and Append return
// FailedPrecondition (and the Log is closed). Thread-safe.
#ifndef BROOK_PARTITION_H_
#define BROOK_PARTITION_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/log.h"
#include "brook/topic_partition.h"

namespace brook {

namespace detail {
class PartitionWaiter;
}  // namespace detail

class Partition {
 public:
  Partition(TopicPartition id, std::unique_ptr<Log> log, bool flushed_reads_only);
  ~Partition();
  Partition(const Partition&) = delete;
  Partition& operator=(const Partition&) = delete;

  const TopicPartition& id() const { return id_; }
  // The partition's storage. Reads and admin calls are fine; appends made on the Log directly do
  // not wake waiting consumers.
  Log& log() { return *log_; }
  const Log& log() const { return *log_; }

  // Log::Append, then wakes the consumers waiting for data.
  absl::StatusOr<AppendResult> Append(std::span<const std::byte> batch, AppendOptions options = {});
  // Log::Read; FailedPrecondition once the topic is deleted or the Broker closed. It reads up to
  // the end offset, past the high watermark: a reader that must see only what consumers may see (a
  // flushed-only topic) stops at high_watermark(), as Consumer does.
  absl::StatusOr<ReadResult> Read(int64_t offset, ReadOptions options) const;

  int64_t start_offset() const { return log_->start_offset(); }
  int64_t end_offset() const { return log_->end_offset(); }
  // end_offset(), or flushed_offset() for a flushed-only topic.
  int64_t high_watermark() const {
    return flushed_reads_only_ ? log_->flushed_offset() : log_->end_offset();
  }
  // The leader epoch of this replica (0 until replication assigns one).
  int32_t leader_epoch() const { return leader_epoch_.load(std::memory_order_relaxed); }
  bool flushed_reads_only() const { return flushed_reads_only_; }

  // Wakes the waiters; the Broker calls it after a flush moved a flushed-only partition's high
  // watermark.
  void NotifyWaiters();

  // The topic was deleted: Read and Append fail from now on. Internal (the Broker).
  void MarkDeleted() { deleted_.store(true, std::memory_order_release); }
  bool deleted() const { return deleted_.load(std::memory_order_acquire); }

  // Consumers register to be woken when data is appended. Internal.
  void AddWaiter(detail::PartitionWaiter* waiter);
  void RemoveWaiter(detail::PartitionWaiter* waiter);

 private:
  const TopicPartition id_;
  const std::unique_ptr<Log> log_;
  const bool flushed_reads_only_;
  std::atomic<int32_t> leader_epoch_{0};
  std::atomic<bool> deleted_{false};
  std::atomic<int> waiter_count_{0};
  struct Waiters;
  const std::unique_ptr<Waiters> waiters_;
};

}  // namespace brook

#endif  // BROOK_PARTITION_H_
