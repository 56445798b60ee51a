#include "brook/producer.h"

#include <algorithm>
#include <deque>
#include <limits>
#include <map>
#include <shared_mutex>
#include <thread>

#if defined(__linux__)
#include <sys/prctl.h>
#endif

#include "absl/container/flat_hash_map.h"
#include "brook/compression.h"
#include "brook/record_batch_builder.h"
#include "brook/status.h"
#include "client/send_pace.h"
#include "fmt/format.h"
#include "util/format.h"
#include "util/mutex.h"
#include "util/status_macros.h"

namespace brook::detail {
namespace {

using SteadyClock = std::chrono::steady_clock;

// With linger 0, a record arriving this long after the partition's last append is appended at
// once; closer together, records are batched (a burst). A burst's batch is appended when it
// fills, or by the sender thread once it stopped growing: the thread looks kBurstGap after the
// batch opened, then at doubling intervals while records keep coming (a few looks per batch
// under a steady stream), and at burst_linger at the latest.
constexpr std::chrono::microseconds kBurstGap{20};
// A burst starts after this many records in a row came within kBurstGap of the last append: the
// odd pair of records close together (a sender catching up after a stall) is appended one by
// one, without waiting for the sender thread.
constexpr int kBurstStart = 4;
// Records spread over many partitions each find their partition idle, yet the Producer as a
// whole may be sent to in a tight loop, where appending every record alone would cap it at one
// append per record. So a burst also starts, for every partition, after kBurstStart records in a
// row (any partitions) opened a batch at a tight pace: within kTightGap per record sent since
// the previous opening or the end of its inline append (SendPace).
constexpr std::chrono::nanoseconds kTightGap{2000};

// Bytes a record adds to a batch, at most: its fields plus varint overhead.
size_t RecordBytes(const ProducerRecord& r) {
  size_t n = 40;
  if (r.key) n += r.key->size();
  if (r.value) n += r.value->size();
  for (const Header& h : r.headers) n += h.key.size() + (h.value ? h.value->size() : 0) + 10;
  return n;
}

absl::Status ClosedError() { return absl::FailedPreconditionError("producer is closed"); }

// Kafka's producer refuses negative timestamps; -1 (kNoTimestamp) means "now".
absl::Status CheckTimestamp(const ProducerRecord& r) {
  if (r.timestamp >= 0 || r.timestamp == kNoTimestamp) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format(
      "record timestamp {} for topic {}: timestamps are milliseconds since the epoch, not "
      "negative (kNoTimestamp, -1, means now)",
      r.timestamp, r.topic));
}

int32_t NextSequence(int32_t sequence, int32_t increment) {
  if (sequence > std::numeric_limits<int32_t>::max() - increment) {
    return increment - (std::numeric_limits<int32_t>::max() - sequence) - 1;
  }
  return sequence + increment;
}

struct Batch {
  explicit Batch(RecordBatchOptions options) : builder(options) {}
  RecordBatchBuilder builder;
  // The callback of record i, in order (may be empty functions); a SendBatch batch has one, for
  // record 0, which runs once for the whole batch.
  std::vector<SendCallback> callbacks;
  std::vector<int64_t> timestamps;
  size_t reserved_bytes = 0;
  SteadyClock::time_point created;  // delivery_timeout counts from here
  uint64_t serial = 0;  // PartitionQueue::batches_opened when it opened (Batch objects are reused)
  int retries = 0;      // appends that failed for a reason that passes, and were retried
};

struct PartitionQueue {
  std::shared_ptr<Partition> partition;
  Mutex mu;
  std::unique_ptr<Batch> open ABSL_GUARDED_BY(mu);
  std::deque<std::unique_ptr<Batch>> sealed ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<Batch>> spare ABSL_GUARDED_BY(mu);
  bool retired ABSL_GUARDED_BY(mu) = false;  // its topic was deleted: no spares kept
  bool draining ABSL_GUARDED_BY(mu) = false;
  // The first sealed batch waits for the sender thread to retry it (retries_): no other thread
  // appends this queue's batches meanwhile, so they stay in order behind it.
  bool retrying ABSL_GUARDED_BY(mu) = false;
  bool timer_set ABSL_GUARDED_BY(mu) = false;  // the sender thread will seal the open batch
  // The sender thread's last look at a burst: which open batch, how many records it held, and
  // how long it then waited.
  uint64_t batches_opened ABSL_GUARDED_BY(mu) = 0;
  uint64_t looked_at ABSL_GUARDED_BY(mu) = 0;  // a Batch::serial
  int32_t records_seen ABSL_GUARDED_BY(mu) = 0;
  uint64_t appended_serial ABSL_GUARDED_BY(mu) = 0;  // the last batch appended (or failed)
  std::chrono::microseconds look_wait ABSL_GUARDED_BY(mu){0};
  SteadyClock::time_point last_append_end ABSL_GUARDED_BY(mu);
  int quick_records ABSL_GUARDED_BY(mu) = 0;  // in a row, within kBurstGap of the last append
  CondVar idle;  // signalled when draining turns false, and after each append
  // Touched only by the drainer (draining == true).
  int32_t next_sequence = 0;
};

struct TopicState {
  explicit TopicState(std::shared_ptr<Topic> t)
      : topic(std::move(t)),
        batch_bytes_max(static_cast<uint32_t>(std::min<uint64_t>(
            topic->config().batch_bytes_max, topic->config().segment_bytes_max))),
        slot_count(static_cast<size_t>(std::max(topic->partition_count(), 1))),
        slots(new std::atomic<PartitionQueue*>[slot_count]) {
    for (size_t i = 0; i < slot_count; ++i) slots[i].store(nullptr, std::memory_order_relaxed);
  }

  std::shared_ptr<Topic> topic;
  // The topic's max.message.bytes, or its segment.bytes if smaller: the log refuses a batch
  // larger than a segment, so such a record is refused here, before it is queued.
  const uint32_t batch_bytes_max;
  // The partitions the topic had when first used, looked up without a lock; partitions added
  // later live only in `queues`.
  const size_t slot_count;
  const std::unique_ptr<std::atomic<PartitionQueue*>[]> slots;
  Mutex mu;
  std::map<int32_t, std::unique_ptr<PartitionQueue>> queues ABSL_GUARDED_BY(mu);
  bool retired ABSL_GUARDED_BY(mu) = false;  // Retire() ran

  // For a deleted topic's state, kept while the Producer lives (a Send that looked it up before
  // the deletion may still use it): frees its queues' spare batches, whose buffers are up to
  // batch_bytes_max each, and keeps batches still queued from becoming spares once appended
  // (or failed), so a topic deleted and created again many times leaves only small bookkeeping.
  void Retire() {
    MutexLock l(&mu);
    retired = true;
    for (auto& [p, q] : queues) {
      MutexLock ql(&q->mu);
      q->retired = true;
      q->spare.clear();
      q->spare.shrink_to_fit();
    }
  }

  PartitionQueue* Queue(int32_t p) {
    size_t i = static_cast<size_t>(p);
    if (i < slot_count) {
      if (PartitionQueue* q = slots[i].load(std::memory_order_acquire)) return q;
    }
    MutexLock l(&mu);
    std::unique_ptr<PartitionQueue>& q = queues[p];
    if (q == nullptr) {
      auto created = std::make_unique<PartitionQueue>();
      created->partition = topic->partition(p);
      if (created->partition == nullptr) {
        queues.erase(p);
        return nullptr;
      }
      {
        MutexLock ql(&created->mu);
        created->retired = retired;
      }
      q = std::move(created);
      if (i < slot_count) slots[i].store(q.get(), std::memory_order_release);
    }
    return q.get();
  }
};

}  // namespace

class ProducerImpl {
 public:
  ProducerImpl(Broker& broker, ProducerOptions options, int64_t producer_id)
      : broker_(broker),
        options_(std::move(options)),
        producer_id_(producer_id),
        clock_(broker.clock()) {
    if (options_.partitioner == nullptr) {
      // Kafka's producer moves keyless records on after batch.size bytes.
      options_.partitioner =
          MakeDefaultPartitioner({.sticky_batch_bytes = options_.batch_bytes_max});
    }
    sender_ = std::thread([this] { SenderLoop(); });
  }

  ~ProducerImpl() { (void)Close(); }

  absl::Status Send(const ProducerRecord& record, SendCallback callback);
  absl::Status SendBatch(std::span<const ProducerRecord> records, SendCallback callback);
  absl::Status Flush();
  absl::Status Close();
  int64_t producer_id() const { return producer_id_; }

 private:
  absl::StatusOr<TopicState*> Topic(std::string_view name);
  // The queue of `record`'s partition (its own, or the partitioner's choice for a record of
  // about `bytes`), checking that `bytes` of records fit the topic's batch limit.
  absl::StatusOr<PartitionQueue*> QueueFor(TopicState* t, const ProducerRecord& record,
                                           size_t bytes);
  bool TryReserve(size_t bytes);
  absl::Status Reserve(size_t bytes);
  void Release(size_t bytes);
  // A spare batch of q's, reset, or a new one.
  std::unique_ptr<Batch> EmptyBatch(PartitionQueue& q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q.mu);
  // Stamps `b` as q's newest batch (its open time and serial).
  void Open(PartitionQueue& q, Batch& b) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q.mu);
  std::unique_ptr<Batch> NewBatch(PartitionQueue& q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q.mu);
  // Appends the queue's sealed batches (and its open one, if `all`) until none is left, or
  // until the next one opened after batch `last_serial`: a caller's Send or Flush waits for the
  // batches queued before it, not for every batch other threads keep queueing meanwhile. Those
  // left over go to the sender thread. The caller set q.draining.
  void Drain(PartitionQueue& q, bool all,
             uint64_t last_serial = std::numeric_limits<uint64_t>::max());
  // Appends `batch`, runs its callbacks and returns true; or, when the append failed for a reason
  // that passes (Retriable) within the batch's delivery_timeout, changes nothing and returns
  // false: the batch is to be retried.
  bool AppendBatch(PartitionQueue& q, Batch& batch);
  bool Retriable(PartitionQueue& q, const Batch& batch, const absl::Status& error) const;
  void SenderLoop();
  // The sender thread's drain of q: the batches queued so far, unless another thread is draining
  // or a retry is pending. With `seal_open`, after sealing its open batch (the timer that fired
  // is then spent); with `retry`, it is the retry that was pending.
  void DrainSealed(PartitionQueue& q, bool seal_open, bool retry = false);
  // With linger 0, the sender thread's look at q's open batch: when to look again (the burst
  // goes on), or nullopt to append it now.
  std::optional<SteadyClock::time_point> NextLook(PartitionQueue& q, SteadyClock::time_point now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(q.mu);
  void ForEachQueue(const std::function<void(PartitionQueue&)>& fn);
  // A Send waits for buffer space: batches lingering (or in a burst) are appended at once.
  bool exhausted() const { return buffer_waiters_.load(std::memory_order_relaxed) > 0; }

  Broker& broker_;
  ProducerOptions options_;
  const int64_t producer_id_;
  Clock* const clock_;

  std::shared_mutex topics_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<TopicState>> topics_;
  std::atomic<TopicState*> last_topic_{nullptr};  // the topic last looked up, or null

  // Bytes of queued records: reserved lock-free; Send waits on buffer_cv_ only when full.
  std::atomic<size_t> buffer_used_{0};
  std::atomic<int> buffer_waiters_{0};
  Mutex buffer_mu_;
  CondVar buffer_cv_;

  Mutex error_mu_;
  absl::Status first_error_ ABSL_GUARDED_BY(error_mu_);

  Mutex sender_mu_;
  CondVar sender_cv_;
  std::vector<std::pair<SteadyClock::time_point, PartitionQueue*>> lingering_
      ABSL_GUARDED_BY(sender_mu_);
  bool stop_sender_ ABSL_GUARDED_BY(sender_mu_) = false;
  // Queues whose sealed batches a bounded Drain left for the sender thread.
  std::vector<PartitionQueue*> to_drain_ ABSL_GUARDED_BY(sender_mu_);
  // Queues whose first batch is to be retried, and when (PartitionQueue::retrying).
  std::vector<std::pair<SteadyClock::time_point, PartitionQueue*>> retries_
      ABSL_GUARDED_BY(sender_mu_);
  std::thread sender_;
  // Topics replaced after a deletion; their queues may still be drained.
  std::vector<std::unique_ptr<TopicState>> retired_;  // guarded by topics_mu_

  SendPace pace_{std::chrono::nanoseconds(kTightGap).count(), kBurstStart};
  std::atomic<bool> closed_{false};
  Mutex close_mu_;
  std::atomic<std::thread::id> closer_;  // the thread running Close
};

absl::StatusOr<TopicState*> ProducerImpl::Topic(std::string_view name) {
  // Most Sends name the topic the last one did: that one is found without the map's lock.
  // TopicStates live as long as the Producer (replaced ones move to retired_).
  TopicState* last = last_topic_.load(std::memory_order_acquire);
  if (last != nullptr && last->topic->name() == name && !last->topic->deleted()) return last;
  {
    std::shared_lock l(topics_mu_);
    auto it = topics_.find(absl::string_view(name.data(), name.size()));
    if (it != topics_.end() && !it->second->topic->deleted()) {
      last_topic_.store(it->second.get(), std::memory_order_release);
      return it->second.get();
    }
  }
  BROOK_ASSIGN_OR_RETURN(std::shared_ptr<brook::Topic> topic,
                         broker_.GetOrCreateTopic(std::string(name)));
  if (topic->internal()) {
    return absl::InvalidArgumentError(
        fmt::format("topic {} is internal: producers cannot write to it", name));
  }
  auto state = std::make_unique<TopicState>(topic);
  std::unique_lock l(topics_mu_);
  auto& slot = topics_[std::string(name)];
  if (slot == nullptr || slot->topic->deleted()) {
    // A deleted topic's queues may still be drained by another thread: keep them alive.
    if (slot != nullptr) {
      slot->Retire();
      retired_.push_back(std::move(slot));
    }
    slot = std::move(state);
  }
  last_topic_.store(slot.get(), std::memory_order_release);
  return slot.get();
}

bool ProducerImpl::TryReserve(size_t bytes) {
  size_t used = buffer_used_.load(std::memory_order_relaxed);
  // A record larger than the whole buffer still goes through when the buffer is empty.
  while (used + bytes <= options_.buffer_bytes_max || used == 0) {
    if (buffer_used_.compare_exchange_weak(used, used + bytes)) return true;
  }
  return false;
}

absl::Status ProducerImpl::Reserve(size_t bytes) {
  if (TryReserve(bytes)) return absl::OkStatus();
  auto deadline = SteadyClock::now() + options_.max_block;
  buffer_waiters_.fetch_add(1);
  {
    // As Kafka's accumulator when its memory is exhausted: lingering batches go out now, since
    // appending them is what makes room (the sender thread sees buffer_waiters_).
    MutexLock s(&sender_mu_);
    sender_cv_.SignalAll();
  }
  MutexLock l(&buffer_mu_);
  absl::Status result;
  while (!TryReserve(bytes)) {
    auto now = SteadyClock::now();
    if (now >= deadline) {
      result = absl::ResourceExhaustedError(fmt::format(
          "producer buffer full: {} of {} bytes (buffer_bytes_max) waiting to be appended for "
          "{} ms (max_block)",
          buffer_used_.load(), options_.buffer_bytes_max, options_.max_block.count()));
      break;
    }
    buffer_cv_.WaitWithTimeout(&buffer_mu_, deadline - now);
  }
  buffer_waiters_.fetch_sub(1);
  return result;
}

void ProducerImpl::Release(size_t bytes) {
  buffer_used_.fetch_sub(bytes);
  if (buffer_waiters_.load() > 0) {
    MutexLock l(&buffer_mu_);
    buffer_cv_.SignalAll();
  }
}

std::unique_ptr<Batch> ProducerImpl::EmptyBatch(PartitionQueue& q) {
  RecordBatchOptions batch_options;
  batch_options.compression = options_.compression;
  std::unique_ptr<Batch> b;
  if (!q.spare.empty()) {
    b = std::move(q.spare.back());
    q.spare.pop_back();
    b->builder.Reset(batch_options);
  } else {
    b = std::make_unique<Batch>(batch_options);
  }
  return b;
}

void ProducerImpl::Open(PartitionQueue& q, Batch& b) {
  b.created = SteadyClock::now();
  b.serial = ++q.batches_opened;
}

std::unique_ptr<Batch> ProducerImpl::NewBatch(PartitionQueue& q) {
  std::unique_ptr<Batch> b = EmptyBatch(q);
  Open(q, *b);
  return b;
}

absl::StatusOr<PartitionQueue*> ProducerImpl::QueueFor(TopicState* t, const ProducerRecord& record,
                                                       size_t bytes) {
  int32_t count = t->topic->partition_count();
  if (bytes + batch_layout::kHeaderSize > t->batch_bytes_max) {
    const bool segment_limit = t->batch_bytes_max < t->topic->config().batch_bytes_max;
    return WithErrorCode(
        absl::InvalidArgumentError(fmt::format(
            "records of about {} bytes are over topic {}'s {} ({} bytes, with the batch header)",
            bytes, record.topic, segment_limit ? "segment.bytes" : "max.message.bytes",
            t->batch_bytes_max)),
        ErrorCode::kMessageTooLarge);
  }
  int32_t p;
  if (record.partition) {
    p = *record.partition;
    if (p < 0 || p >= count) {
      return WithErrorCode(
          absl::InvalidArgumentError(fmt::format(
              "topic {} has {} partitions; there is no partition {}", record.topic, count, p)),
          ErrorCode::kUnknownTopicOrPartition);
    }
  } else if (count == 1) {
    p = 0;  // whatever the partitioner, there is one choice
  } else {
    p = options_.partitioner->Partition(
        {.topic = record.topic, .key = record.key, .size_bytes = bytes, .num_partitions = count});
  }
  PartitionQueue* q = t->Queue(p);
  if (q == nullptr) {
    return absl::NotFoundError(fmt::format("topic {} has no partition {}", record.topic, p));
  }
  return q;
}

absl::Status ProducerImpl::Send(const ProducerRecord& record, SendCallback callback) {
  if (closed_.load(std::memory_order_relaxed)) return ClosedError();
  BROOK_RETURN_IF_ERROR(CheckTimestamp(record));
  BROOK_ASSIGN_OR_RETURN(TopicState * t, Topic(record.topic));
  size_t bytes = RecordBytes(record);
  BROOK_ASSIGN_OR_RETURN(PartitionQueue * q, QueueFor(t, record, bytes));
  BROOK_RETURN_IF_ERROR(Reserve(bytes));
  pace_.Sent();
  int64_t timestamp = record.timestamp == kNoTimestamp ? clock_->NowMs() : record.timestamp;
  bool drain = false;
  bool drain_open = false;
  uint64_t drain_to = 0;  // the last batch this Send waits for
  std::optional<SteadyClock::time_point> timer;
  {
    MutexLock l(&q->mu);
    // Checked again under the queue's lock, which Close's final Flush takes after setting
    // closed_: a record queued before that Flush is appended by it, any later one is refused.
    if (closed_.load()) {
      Release(bytes);
      return ClosedError();
    }
    if (q->open != nullptr && !q->open->builder.empty() &&
        (q->open->builder.size_bytes() + bytes > options_.batch_bytes_max ||
         q->open->builder.size_bytes() + bytes + batch_layout::kHeaderSize > t->batch_bytes_max)) {
      q->sealed.push_back(std::move(q->open));
    }
    bool first = q->open == nullptr;
    if (first) q->open = NewBatch(*q);
    Batch& b = *q->open;
    b.builder.Append(timestamp, record.key, record.value, record.headers);
    b.callbacks.push_back(std::move(callback));
    b.timestamps.push_back(timestamp);
    b.reserved_bytes += bytes;
    drain_to = q->batches_opened;
    if (!q->draining && !q->retrying && !q->sealed.empty()) {
      // A full batch: the sender that filled it appends it.
      q->draining = true;
      drain = true;
    } else if (!q->draining && !q->retrying && first && options_.linger.count() == 0) {
      auto now = SteadyClock::now();
      q->quick_records =
          now - q->last_append_end > kBurstGap ? 0 : std::min(q->quick_records + 1, kBurstStart);
      const int tight = pace_.Opened(now.time_since_epoch().count());
      if (options_.burst_linger.count() == 0 ||
          (q->quick_records < kBurstStart && tight < kBurstStart)) {
        // Records arrive slowly: append this one now, for the lowest latency.
        q->draining = true;
        drain = true;
        drain_open = true;
      }
    }
    if (first && !drain_open && !q->timer_set) {
      // Linger, a burst, or a drainer busy with older batches (it appends sealed batches only):
      // the sender thread seals this batch if it does not fill in time.
      q->timer_set = true;
      timer = q->open->created +
              (options_.linger.count() > 0
                   ? options_.linger
                   : std::min<std::chrono::microseconds>(kBurstGap, options_.burst_linger));
    }
  }
  if (drain) {
    Drain(*q, drain_open, drain_to);
    if (drain_open) {
      pace_.AppendEnded(SteadyClock::now().time_since_epoch().count());
    }
  } else if (timer) {
    MutexLock l(&sender_mu_);
    lingering_.emplace_back(*timer, q);
    sender_cv_.SignalAll();
  }
  return absl::OkStatus();
}

absl::Status ProducerImpl::SendBatch(std::span<const ProducerRecord> records,
                                     SendCallback callback) {
  if (records.empty()) return absl::InvalidArgumentError("SendBatch needs at least one record");
  if (closed_.load(std::memory_order_relaxed)) return ClosedError();
  const ProducerRecord& first = records.front();
  size_t bytes = 0;
  bool need_clock = false;
  for (size_t i = 0; i < records.size(); ++i) {
    const ProducerRecord& r = records[i];
    if (r.topic != first.topic || (r.partition && r.partition != first.partition)) {
      return absl::InvalidArgumentError(fmt::format(
          "SendBatch: record {} names topic {} partition {}, record 0 topic {} partition {}; "
          "one batch goes to one partition",
          i, r.topic, r.partition ? std::to_string(*r.partition) : "(any)", first.topic,
          first.partition ? std::to_string(*first.partition) : "(any)"));
    }
    BROOK_RETURN_IF_ERROR(CheckTimestamp(r));
    bytes += RecordBytes(r);
    need_clock = need_clock || r.timestamp == kNoTimestamp;
  }
  BROOK_ASSIGN_OR_RETURN(TopicState * t, Topic(first.topic));
  BROOK_ASSIGN_OR_RETURN(PartitionQueue * q, QueueFor(t, first, bytes));
  BROOK_RETURN_IF_ERROR(Reserve(bytes));
  pace_.Sent(static_cast<int64_t>(records.size()));
  const int64_t now_ms = need_clock ? clock_->NowMs() : kNoTimestamp;
  std::unique_ptr<Batch> b;
  {
    MutexLock l(&q->mu);
    b = EmptyBatch(*q);
  }
  // Encoded outside the queue's lock, so other threads' Sends to the partition go on meanwhile.
  for (const ProducerRecord& r : records) {
    const int64_t timestamp = r.timestamp == kNoTimestamp ? now_ms : r.timestamp;
    b->builder.Append(timestamp, r.key, r.value, r.headers);
    b->timestamps.push_back(timestamp);
  }
  b->callbacks.push_back(std::move(callback));  // record 0's: it runs once for the batch
  b->reserved_bytes = bytes;
  bool drain = false;
  uint64_t drain_to = 0;
  {
    MutexLock l(&q->mu);
    if (closed_.load()) {  // as in Send
      Release(bytes);
      return ClosedError();
    }
    // Records queued before go first, in their own batch.
    if (q->open != nullptr && !q->open->builder.empty()) q->sealed.push_back(std::move(q->open));
    Open(*q, *b);
    drain_to = b->serial;
    q->sealed.push_back(std::move(b));
    if (!q->draining && !q->retrying) {
      q->draining = true;
      drain = true;
    }
  }
  if (drain) Drain(*q, /*all=*/false, drain_to);
  return absl::OkStatus();
}

void ProducerImpl::Drain(PartitionQueue& q, bool all, uint64_t last_serial) {
  while (true) {
    std::unique_ptr<Batch> batch;
    bool left_over = false;
    {
      MutexLock l(&q.mu);
      if (!q.sealed.empty() && q.sealed.front()->serial <= last_serial) {
        batch = std::move(q.sealed.front());
        q.sealed.pop_front();
      } else if (q.sealed.empty() && all && q.open != nullptr && !q.open->builder.empty() &&
                 q.open->serial <= last_serial) {
        batch = std::move(q.open);
      } else {
        // An open batch left over has its sender-thread timer (set by the Send that opened it
        // while we drained); sealed ones are handed over here.
        left_over = !q.sealed.empty();
        q.draining = false;
        q.idle.SignalAll();
      }
    }
    if (batch == nullptr) {
      if (left_over) {
        MutexLock l(&sender_mu_);
        to_drain_.push_back(&q);
        sender_cv_.SignalAll();
      }
      return;
    }
    if (!AppendBatch(q, *batch)) {
      // Back at the head of the queue, for the sender thread to retry after retry_backoff.
      ++batch->retries;
      {
        MutexLock l(&q.mu);
        q.sealed.push_front(std::move(batch));
        q.retrying = true;
        q.draining = false;
        q.idle.SignalAll();
      }
      MutexLock l(&sender_mu_);
      retries_.emplace_back(SteadyClock::now() + options_.retry_backoff, &q);
      sender_cv_.SignalAll();
      return;
    }
    MutexLock l(&q.mu);
    q.last_append_end = SteadyClock::now();
    q.appended_serial = batch->serial;
    batch->callbacks.clear();
    batch->timestamps.clear();
    batch->reserved_bytes = 0;
    batch->retries = 0;
    if (q.spare.size() < 2 && !q.retired) q.spare.push_back(std::move(batch));
    q.idle.SignalAll();
  }
}

bool ProducerImpl::Retriable(PartitionQueue& q, const Batch& batch,
                             const absl::Status& error) const {
  // ResourceExhausted from an append is a full disk or file table (ENOSPC, EDQUOT, EMFILE,
  // ENFILE): nothing was written and the log stays usable (Log::Append), so the same batch,
  // with the same sequence numbers, may go again once room is made. After a failed fsync the
  // log refuses appends (health()): no retry can succeed.
  return absl::IsResourceExhausted(error) && q.partition->log().health().ok() &&
         SteadyClock::now() < batch.created + options_.delivery_timeout;
}

bool ProducerImpl::AppendBatch(PartitionQueue& q, Batch& batch) {
  int32_t count = batch.builder.records_count();
  // A retried batch was numbered (and sealed) at its first try: the sequence is the same, since
  // q.next_sequence moves only when a batch is appended and this one is still the queue's head.
  if (producer_id_ != kNoProducerId && !batch.builder.finished()) {
    batch.builder.SetProducer(producer_id_, 0, q.next_sequence);
  }
  absl::StatusOr<AppendResult> result = q.partition->Append(
      batch.builder.Finish(),
      // Built by RecordBatchBuilder just now: only the header is checked.
      AppendOptions{.durability = options_.durability, .verify = Verify::kHeader});
  if (result.ok() && producer_id_ != kNoProducerId) {
    q.next_sequence = NextSequence(q.next_sequence, count);
  }
  if (!result.ok() && Retriable(q, batch, result.status())) return false;
  Release(batch.reserved_bytes);
  if (!result.ok()) {
    absl::Status s = result.status();
    if (batch.retries > 0 && absl::IsResourceExhausted(s)) {
      s = Annotate(s, fmt::format("not appended within delivery_timeout ({} ms), after {} retries",
                                  options_.delivery_timeout.count(), batch.retries));
    }
    {
      MutexLock l(&error_mu_);
      if (first_error_.ok()) first_error_ = s;
    }
    for (SendCallback& cb : batch.callbacks) {
      if (cb) cb(s);
    }
    return true;
  }
  const size_t callbacks = std::min(static_cast<size_t>(count), batch.callbacks.size());
  for (size_t i = 0; i < callbacks; ++i) {
    SendCallback& cb = batch.callbacks[i];
    if (cb) {
      cb(RecordMetadata{q.partition->id().partition, result->base_offset + static_cast<int64_t>(i),
                        batch.timestamps[i]});
    }
  }
  return true;
}

void ProducerImpl::SenderLoop() {
#if defined(__linux__)
  // Its waits are tens of microseconds (kBurstGap): the default 50-µs timer slack would double
  // them.
  prctl(PR_SET_TIMERSLACK, 1'000UL);
#endif
  MutexLock l(&sender_mu_);
  while (true) {
    if (stop_sender_) return;
    auto retry = std::min_element(retries_.begin(), retries_.end());
    if (retry != retries_.end() && retry->first <= SteadyClock::now()) {
      PartitionQueue* q = retry->second;
      retries_.erase(retry);
      sender_mu_.Unlock();
      DrainSealed(*q, /*seal_open=*/false, /*retry=*/true);
      sender_mu_.Lock();
      continue;
    }
    auto due = std::min_element(lingering_.begin(), lingering_.end());
    if (!to_drain_.empty() &&
        (due == lingering_.end() || (due->first > SteadyClock::now() && !exhausted()))) {
      // Oldest first, each up to the batches queued when it is picked up (the rest comes back
      // here), so a hot partition cannot hold up the timers of the others.
      PartitionQueue* q = to_drain_.front();
      to_drain_.erase(to_drain_.begin());
      sender_mu_.Unlock();
      DrainSealed(*q, /*seal_open=*/false);
      sender_mu_.Lock();
      continue;
    }
    auto now = SteadyClock::now();
    if (lingering_.empty()) {
      if (retry == retries_.end()) {
        sender_cv_.Wait(&sender_mu_);
      } else {
        sender_cv_.WaitWithTimeout(&sender_mu_, retry->first - now);
      }
      continue;
    }
    auto earliest = std::min_element(lingering_.begin(), lingering_.end());
    if (earliest->first > now && !exhausted()) {
      auto until = earliest->first;
      if (retry != retries_.end()) until = std::min(until, retry->first);
      sender_cv_.WaitWithTimeout(&sender_mu_, until - now);
      continue;
    }
    PartitionQueue* q = earliest->second;
    lingering_.erase(earliest);
    sender_mu_.Unlock();
    std::optional<SteadyClock::time_point> look_again;
    {
      MutexLock ql(&q->mu);
      look_again = NextLook(*q, now);
    }
    if (look_again) {
      sender_mu_.Lock();
      lingering_.emplace_back(*look_again, q);
      continue;
    }
    DrainSealed(*q, /*seal_open=*/true);
    sender_mu_.Lock();
  }
}

void ProducerImpl::DrainSealed(PartitionQueue& q, bool seal_open, bool retry) {
  uint64_t drain_to = 0;
  {
    MutexLock l(&q.mu);
    if (retry) q.retrying = false;
    if (seal_open) {
      q.timer_set = false;
      // While a retry is pending the open batch keeps filling (up to batch_bytes_max), rather
      // than many small batches piling up behind the retry.
      if (!q.retrying && q.open != nullptr && !q.open->builder.empty()) {
        q.sealed.push_back(std::move(q.open));
      }
    }
    // The drainer at work appends them, or the pending retry does.
    if (q.draining || q.retrying || q.sealed.empty()) return;
    q.draining = true;
    drain_to = q.batches_opened;
  }
  Drain(q, /*all=*/false, drain_to);
  if (!retry) return;
  // The retry went through: the open batch that kept filling meanwhile (its timer spent) gets
  // a timer again, so that it goes out as any batch does.
  {
    MutexLock l(&q.mu);
    if (q.retrying || q.timer_set || q.open == nullptr || q.open->builder.empty()) return;
    q.timer_set = true;
  }
  MutexLock l(&sender_mu_);
  lingering_.emplace_back(SteadyClock::now(), &q);
}

std::optional<SteadyClock::time_point> ProducerImpl::NextLook(PartitionQueue& q,
                                                              SteadyClock::time_point now) {
  if (options_.linger.count() > 0 || q.open == nullptr || q.open->builder.empty() || exhausted()) {
    return std::nullopt;
  }
  const Batch* batch = q.open.get();
  const int32_t records = batch->builder.records_count();
  const SteadyClock::time_point last = batch->created + options_.burst_linger;
  if (q.looked_at != batch->serial) {
    // First look at this batch (it may have opened after the one the timer was set for).
    q.looked_at = batch->serial;
    q.look_wait = kBurstGap;
  } else if (records == q.records_seen) {
    return std::nullopt;  // the burst is over: append
  } else {
    q.look_wait *= 2;  // still coming: look less often
  }
  q.records_seen = records;
  if (now >= last) return std::nullopt;
  return std::min(now + q.look_wait, last);
}

void ProducerImpl::ForEachQueue(const std::function<void(PartitionQueue&)>& fn) {
  std::vector<TopicState*> topics;
  {
    std::shared_lock l(topics_mu_);
    for (auto& [name, t] : topics_) topics.push_back(t.get());
    for (auto& t : retired_) topics.push_back(t.get());
  }
  for (TopicState* t : topics) {
    std::vector<PartitionQueue*> queues;
    {
      MutexLock l(&t->mu);
      for (auto& [p, q] : t->queues) queues.push_back(q.get());
    }
    for (PartitionQueue* q : queues) fn(*q);
  }
}

absl::Status ProducerImpl::Flush() {
  // As Kafka's flush: waits for the batches queued before the call (appending them where no
  // other thread is), not for those other threads keep queueing meanwhile.
  ForEachQueue([this](PartitionQueue& q) {
    uint64_t target;
    {
      MutexLock l(&q.mu);
      if (q.open != nullptr && !q.open->builder.empty()) q.sealed.push_back(std::move(q.open));
      target = q.batches_opened;
    }
    while (true) {
      {
        MutexLock l(&q.mu);
        // Every batch up to `target` not yet appended is sealed, or being appended by a drainer.
        while (q.appended_serial < target && (q.draining || q.retrying || q.sealed.empty())) {
          q.idle.WaitWithTimeout(&q.mu, std::chrono::milliseconds(10));
        }
        if (q.appended_serial >= target) return;
        q.draining = true;
      }
      Drain(q, /*all=*/false, target);
    }
  });
  MutexLock l(&error_mu_);
  absl::Status s = first_error_;
  first_error_ = absl::OkStatus();
  return s;
}

absl::Status ProducerImpl::Close() {
  if (closer_.load() == std::this_thread::get_id()) return absl::OkStatus();  // from a callback
  MutexLock l(&close_mu_);  // a second Close returns once the first is done
  if (closed_.exchange(true)) return absl::OkStatus();
  closer_ = std::this_thread::get_id();
  // Every queue's lock is taken after closed_ was set: a Send still in flight either queued its
  // record before (appended here) or sees closed_ under the lock and refuses it.
  absl::Status s = Flush();
  {
    MutexLock l(&sender_mu_);
    stop_sender_ = true;
    sender_cv_.SignalAll();
  }
  if (sender_.joinable()) sender_.join();
  return s;
}

}  // namespace brook::detail

namespace brook {

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(Broker& broker,
                                                           ProducerOptions options) {
  if (options.batch_bytes_max == 0) {
    return absl::InvalidArgumentError("ProducerOptions.batch_bytes_max must be positive");
  }
  if (options.buffer_bytes_max < options.batch_bytes_max) {
    return absl::InvalidArgumentError(
        "ProducerOptions.buffer_bytes_max must be at least batch_bytes_max");
  }
  if (options.linger.count() < 0 || options.burst_linger.count() < 0 ||
      options.delivery_timeout.count() < 0) {
    return absl::InvalidArgumentError(
        "ProducerOptions.linger, burst_linger and delivery_timeout must not be negative");
  }
  if (options.retry_backoff.count() <= 0) {
    return absl::InvalidArgumentError("ProducerOptions.retry_backoff must be positive");
  }
  // Added to clock readings: kept far from overflowing them (milliseconds::max(), Kafka's
  // Long.MAX_VALUE, would wrap).
  constexpr auto kLongest = std::chrono::hours(24 * 365 * 100);
  options.linger = std::min<std::chrono::microseconds>(options.linger, kLongest);
  options.burst_linger = std::min<std::chrono::microseconds>(options.burst_linger, kLongest);
  options.max_block = std::min<std::chrono::milliseconds>(options.max_block, kLongest);
  options.delivery_timeout =
      std::min<std::chrono::milliseconds>(options.delivery_timeout, kLongest);
  options.retry_backoff = std::min<std::chrono::milliseconds>(options.retry_backoff, kLongest);
  if (!CompressionSupported(options.compression)) {
    return absl::InvalidArgumentError(
        fmt::format("ProducerOptions.compression: brook was built without codec {}",
                    static_cast<int>(options.compression)));
  }
  int64_t producer_id = kNoProducerId;
  if (options.enable_idempotence) {
    BROOK_ASSIGN_OR_RETURN(producer_id, broker.AllocateProducerId());
  }
  return std::unique_ptr<Producer>(new Producer(
      std::make_unique<detail::ProducerImpl>(broker, std::move(options), producer_id)));
}

Producer::Producer(std::unique_ptr<detail::ProducerImpl> impl) : impl_(std::move(impl)) {}
Producer::~Producer() = default;

absl::Status Producer::Send(const ProducerRecord& record, SendCallback callback) {
  return impl_->Send(record, std::move(callback));
}

std::future<absl::StatusOr<RecordMetadata>> Producer::Send(const ProducerRecord& record) {
  auto promise = std::make_shared<std::promise<absl::StatusOr<RecordMetadata>>>();
  std::future<absl::StatusOr<RecordMetadata>> future = promise->get_future();
  absl::Status s = impl_->Send(
      record, [promise](const absl::StatusOr<RecordMetadata>& r) { promise->set_value(r); });
  if (!s.ok()) promise->set_value(s);
  return future;
}

absl::Status Producer::SendBatch(std::span<const ProducerRecord> records, SendCallback callback) {
  return impl_->SendBatch(records, std::move(callback));
}

absl::Status Producer::Flush() { return impl_->Flush(); }
absl::Status Producer::Close() { return impl_->Close(); }
int64_t Producer::producer_id() const { return impl_->producer_id(); }

}  // namespace brook
