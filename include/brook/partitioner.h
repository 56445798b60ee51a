// brook/partitioner.h — which partition of a topic a produced record goes to, as Kafka's Java
// producer decides it.
//
// Keyed records go where Java clients put them: toPositive(murmur2(key)) % partitions
// (Utils.murmur2 and Utils.toPositive), so a key written by brook and by a Java producer (or by
// librdkafka with partitioner=murmur2_random) lands on the same partition. Keyless records use
// Kafka's uniform sticky rule (KIP-794): stay on one partition until a batch's worth of bytes went
// to it, then move to another one at random.
//
//   std::unique_ptr<brook::Partitioner> partitioner = brook::MakeDefaultPartitioner();
//   int32_t partition = partitioner->Partition(
//       {.topic = "orders", .key = "customer-42", .size_bytes = 120, .num_partitions = 12});
//
// Thread safety: every Partitioner here is thread-safe; many producer threads may call
// Partition concurrently. Keyed records take no lock and allocate nothing.

#ifndef BROOK_PARTITIONER_H_
#define BROOK_PARTITIONER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace brook {

// Kafka's Utils.murmur2: Austin Appleby's 32-bit MurmurHash2 over `data` with seed 0x9747b28c,
// as a signed int32 (Java's int).
int32_t Murmur2(std::string_view data);

// Kafka's Utils.toPositive: clears the sign bit (not abs(): toPositive(INT32_MIN) == 0).
constexpr int32_t ToPositive(int32_t x) { return x & 0x7fffffff; }

// The partition Kafka's Java producer picks for `key`: ToPositive(Murmur2(key)) % num_partitions.
// Requires num_partitions > 0 (the topic's partition count, available or not).
int32_t PartitionForKey(std::string_view key, int32_t num_partitions);

// What a partitioner sees of a record. The views need only live for the Partition call.
struct PartitionerRecord {
  std::string_view topic;
  // nullopt for a null key. An empty key is a key (it hashes like any other).
  std::optional<std::string_view> key;
  // The record's size as the producer accounts it (its encoded size in the batch); the sticky
  // rule counts these bytes. Default: 0.
  size_t size_bytes = 0;
  // The topic's partition count. Must be positive. Default: 1.
  int32_t num_partitions = 1;
};

// Picks a partition for each record. Thread-safe (see the file comment).
class Partitioner {
 public:
  virtual ~Partitioner() = default;

  // Returns a partition in [0, record.num_partitions). Requires record.num_partitions > 0
  // (checked: a programmer error aborts).
  virtual int32_t Partition(const PartitionerRecord& record) = 0;
};

struct DefaultPartitionerOptions {
  // Keyless records stay on a partition until this many record bytes went to it (Kafka's
  // batch.size). The record that reaches the budget still goes there; the next one moves.
  // Default: 16384.
  size_t sticky_batch_bytes = 16384;
  // Treat keyed records as keyless (Kafka's partitioner.ignore.keys). Default: false.
  bool ignore_keys = false;
  // Seed of the random partition choices of the sticky rule, for reproducible tests.
  // Default: 0, seeded from std::random_device.
  uint64_t seed = 0;
};

// Kafka's built-in partitioner (the producer's default since 3.3): keyed records by
// PartitionForKey; keyless records (and all records with ignore_keys) by KIP-794 uniform sticky
// partitioning, with state per topic. Each move picks uniformly among the other partitions, so a
// topic with more than one partition never "moves" to the partition it is leaving. Unlike Kafka,
// brook knows nothing about broker availability or queue lengths here, so every partition is a
// candidate and the choice is unweighted. The keyless path takes a short lock.
std::unique_ptr<Partitioner> MakeDefaultPartitioner(DefaultPartitionerOptions options = {});

// Kafka's RoundRobinPartitioner: each topic's records go to partitions 0, 1, 2, ... in turn,
// keys ignored (a counter per topic, behind a short lock).
std::unique_ptr<Partitioner> MakeRoundRobinPartitioner();

}  // namespace brook

#endif  // BROOK_PARTITIONER_H_
