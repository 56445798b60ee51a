#include "brook/partition.h"

#include <algorithm>

#include "broker/partition_waiter.h"
#include "brook/status.h"
#include "fmt/format.h"
#include "util/mutex.h"

namespace brook {
namespace {

absl::Status Deleted(const TopicPartition& id) {
  return WithErrorCode(absl::FailedPreconditionError(fmt::format(
                           "partition {}-{} belongs to a deleted topic", id.topic, id.partition)),
                       ErrorCode::kUnknownTopicOrPartition);
}

}  // namespace

struct Partition::Waiters {
  Mutex mu;
  std::vector<detail::PartitionWaiter*> list ABSL_GUARDED_BY(mu);
};

Partition::Partition(TopicPartition id, std::unique_ptr<Log> log, bool flushed_reads_only)
    : id_(std::move(id)),
      log_(std::move(log)),
      flushed_reads_only_(flushed_reads_only),
      waiters_(std::make_unique<Waiters>()) {}

Partition::~Partition() = default;

absl::StatusOr<ReadResult> Partition::Read(int64_t offset, ReadOptions options) const {
  if (deleted()) return Deleted(id_);
  return log_->Read(offset, options);
}

absl::StatusOr<AppendResult> Partition::Append(std::span<const std::byte> batch,
                                               AppendOptions options) {
  if (deleted()) return Deleted(id_);
  absl::StatusOr<AppendResult> result = log_->Append(batch, options);
  if (result.ok() && !result->duplicate) NotifyWaiters();
  return result;
}

void Partition::NotifyWaiters() {
  if (waiter_count_.load() == 0) return;
  MutexLock l(&waiters_->mu);
  for (detail::PartitionWaiter* w : waiters_->list) w->Notify();
}

void Partition::AddWaiter(detail::PartitionWaiter* waiter) {
  MutexLock l(&waiters_->mu);
  waiters_->list.push_back(waiter);
  waiter_count_.fetch_add(1);
}

void Partition::RemoveWaiter(detail::PartitionWaiter* waiter) {
  MutexLock l(&waiters_->mu);
  auto it = std::find(waiters_->list.begin(), waiters_->list.end(), waiter);
  if (it == waiters_->list.end()) return;
  waiters_->list.erase(it);
  waiter_count_.fetch_sub(1);
}

}  // namespace brook
