// brook/producer.h — sends records to a Broker's topics, batched and idempotent.
//
//   auto producer = *brook::Producer::Create(*broker, {});
//   producer->Send({.topic = "orders", .key = "customer-17", .value = payload},
//                  [](const absl::StatusOr<brook::RecordMetadata>& r) {
//                    if (r.ok()) Log(r->partition, r->offset);
//                  });
//   std::future<absl::StatusOr<brook::RecordMetadata>> f = producer->Send({...});
//   producer->Flush();
//
// Records go to a partition chosen by the record, else by the partitioner (Kafka's murmur2 for
// keys, uniform sticky without), and are batched per partition: a batch is appended when it
// reaches batch_bytes_max, when `linger` has passed since its first record, or - with linger 0
// (the default) - at once if the partition was idle, else when full or once records stop
// coming (burst_linger at the latest).
// Records that arrive while another batch is being appended share the next batch. Batches are
// Kafka RecordBatch v2, compressed if asked.
//
// Idempotence (default on): the producer gets a producer id from the Broker and numbers its
// batches per partition, so a retried batch is never written twice and batches are never
// reordered. An append that fails writes nothing; its records fail with the error and the next
// batch reuses the sequence numbers. One exception: when the fsync after an append fails
// (durability kFlushed, or a topic flush policy that was due), the records were appended and
// readers may see them, but the outcome is unknown, as after any failed fsync: the error says
// "appended ... but could not flush", the partition's log is failed (it refuses further appends
// until the Broker is reopened), and a reopen keeps them only if they reached the disk.
//
// Acknowledgement: the callback (or future) resolves once the batch is appended — readable and
// safe from a crash of the process — or, with durability kFlushed, on disk. Callbacks run on
// the thread that appended the batch (a Send caller, Flush, or the linger thread); they must not
// block for long, and must not call Flush or Close (a Send from a callback is fine while the
// buffer has room). A Send that appends (its partition was idle, or its record filled a batch)
// appends the batches queued up to its own, and leaves any that other threads queue meanwhile
// to the producer's thread.
//
// Retries: an append that failed for a reason that passes - a full disk or file table
// (ResourceExhausted), when nothing was written and the log stays usable - is retried every
// retry_backoff until delivery_timeout has passed since its batch opened (Kafka's retries and
// delivery.timeout.ms). The partition's later batches wait behind it, so order is kept, and the
// retry carries the same sequence numbers, so it is never written twice. Other errors fail the
// batch at once. Memory stays bounded meanwhile: Sends block on the full buffer (max_block).
//
// Memory: records waiting to be appended hold at most buffer_bytes_max bytes; Send blocks up to
// max_block for room, then fails with ResourceExhausted. While a Send waits, lingering batches
// are appended at once (as Kafka's accumulator does when its memory is exhausted).
//
// Thread safety: thread-safe; many threads may Send through one Producer. Close may be called
// while other threads send: a record it does not append is refused with FailedPrecondition. A
// second Close waits for the first to finish.
// Close does not wait for Sends still returning, so destroy the Producer only after every
// thread sending through it has returned. The Broker must outlive the Producer.
#ifndef BROOK_PRODUCER_H_
#define BROOK_PRODUCER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "brook/broker.h"
#include "brook/partitioner.h"
#include "brook/record_batch.h"

namespace brook {

namespace detail {
class ProducerImpl;
}  // namespace detail

struct ProducerRecord {
  std::string_view topic;
  std::optional<std::string_view> key;    // nullopt: no key
  std::optional<std::string_view> value;  // nullopt: a tombstone
  std::span<const Header> headers;
  // Milliseconds since the epoch; kNoTimestamp: now. Other negative values are refused.
  int64_t timestamp = kNoTimestamp;
  std::optional<int32_t> partition;  // set: this partition, not the partitioner's choice
};

struct RecordMetadata {
  int32_t partition = -1;
  int64_t offset = -1;
  int64_t timestamp = kNoTimestamp;
};

using SendCallback = std::function<void(const absl::StatusOr<RecordMetadata>&)>;

struct ProducerOptions {
  std::string client_id = "producer";
  // Number batches per partition with a producer id (enable.idempotence). Default: true.
  bool enable_idempotence = true;
  // A batch is appended once it holds this many bytes (batch.size). Default: 16 KiB.
  size_t batch_bytes_max = 16384;
  // How long a batch may wait for more records (linger.ms). Default: 0, which adapts: a record
  // that arrives when the partition has been idle (no append for 20 µs) is appended at once,
  // for the lowest latency, and so is the odd record close behind it; a steady stream (4
  // records in a row within 20 µs of the partition's last append, or 4 batch-opening records in
  // a row across all partitions with at most 2 µs per record sent in between: a tight sending
  // loop) fills batches up to batch_bytes_max, and a batch that stops growing is appended by
  // the producer's thread within about 20-40 µs. Durations here and in the options below above
  // 100 years count as 100 years.
  std::chrono::microseconds linger{0};
  // With linger 0: the longest a batch that keeps growing waits before it is appended. 0: never
  // wait (every record that finds the partition idle is appended alone). Default: 1 ms.
  std::chrono::microseconds burst_linger{1000};
  // Bytes of records waiting to be appended, at most (buffer.memory). Default: 32 MiB.
  size_t buffer_bytes_max = size_t{32} << 20;
  // How long Send waits for buffer space (max.block.ms). Default: 60 s.
  std::chrono::milliseconds max_block{60000};
  // Batch compression (compression.type); needs brook built with the codec
  // (CompressionSupported()). Default: none.
  Compression compression = Compression::kNone;
  // What an acknowledgement means: appended (Kafka's acks=1 on one node) or on disk.
  // Default: kAppended.
  Durability durability = Durability::kAppended;
  // How long a batch may keep being retried after an append failed for a reason that passes (a
  // full disk), counted from when it opened (delivery.timeout.ms); then its records fail with
  // the error. It includes the batch's linger, so a value not above linger means no retries.
  // 0: no retries. Flush and Close wait for retries. Default: 120 s.
  std::chrono::milliseconds delivery_timeout{120000};
  // The wait between two tries of a batch (retry.backoff.ms); positive. Default: 100 ms.
  std::chrono::milliseconds retry_backoff{100};
  // Shared by every topic; nullptr: MakeDefaultPartitioner() with sticky_batch_bytes =
  // batch_bytes_max, as Kafka's producer moves keyless records on after batch.size bytes.
  std::shared_ptr<Partitioner> partitioner;
};

class Producer {
 public:
  // InvalidArgument for bad options (or a compression codec brook was built without).
  static absl::StatusOr<std::unique_ptr<Producer>> Create(Broker& broker, ProducerOptions options);
  // Flushes and closes (so it may wait for retries, up to delivery_timeout).
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues the record; `callback` runs once with its partition and offset, or the error. The
  // record's bytes are copied before Send returns. Errors returned here mean the record was not
  // queued and the callback will not run: NotFound (unknown topic, kUnknownTopicOrPartition),
  // InvalidArgument (bad partition, internal topic, record over the topic's max.message.bytes or
  // segment.bytes, kMessageTooLarge),
  // ResourceExhausted (no buffer space within max_block), FailedPrecondition (closed).
  absl::Status Send(const ProducerRecord& record, SendCallback callback);
  // The same, resolving a future instead (errors that Send would return resolve it at once).
  std::future<absl::StatusOr<RecordMetadata>> Send(const ProducerRecord& record);

  // Queues `records` as one batch for one partition, like librdkafka's rd_kafka_produce_batch
  // but atomic: they are appended together or not at all, at consecutive offsets, after the
  // records this Producer queued for that partition before. The partition is records[0]'s: its
  // `partition`, else the partitioner's choice for its key. Every record must name the same
  // topic, and no other partition. `callback` runs once: with records[0]'s metadata (record i is
  // at offset + i), or the error. One call pays once what Send pays per record (the partition
  // choice, the buffer reservation, the clock, the callback) and encodes the records without
  // holding the partition's queue lock, so it is the faster way to send records that are ready
  // together. The batch may exceed batch_bytes_max
  // (it is never split), not the topic's max.message.bytes or segment.bytes. Errors returned
  // (nothing queued): those of Send, for the records' total size; InvalidArgument for an empty span
  // or records of different topics or partitions.
  absl::Status SendBatch(std::span<const ProducerRecord> records, SendCallback callback);

  // Appends every record queued before the call and waits for their acknowledgements (records
  // other threads send meanwhile are not waited for, as in Kafka), retries included. Returns the
  // first error an append met since the last Flush (each record's callback has its own).
  absl::Status Flush();
  // Flush, then refuses further sends. Idempotent.
  absl::Status Close();

  // The producer id (kNoProducerId without idempotence).
  int64_t producer_id() const;

 private:
  explicit Producer(std::unique_ptr<detail::ProducerImpl> impl);
  std::unique_ptr<detail::ProducerImpl> impl_;
};

}  // namespace brook

#endif  // BROOK_PRODUCER_H_
