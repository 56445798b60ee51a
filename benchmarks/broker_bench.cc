// The Broker, Producer and Consumer together: end-to-end throughput and latency through the public
// client API, a broker with 10,000 partitions (open time, memory, append spread), and consumer
// group rebalances of 100 members.
//
// Keys: BM_ProduceConsume sends keyed records (MakeKey(i), Kafka's murmur2 partitioner). Keyless
// records use the uniform sticky rule (KIP-794), which sends ~16 KiB to one partition before it
// moves on, so with 8 or 64 partitions only one partition is written at a time and the partition
// count would change almost nothing; keys spread every run over all partitions, which is what the
// argument is meant to vary. The records are then byte for byte those of BM_LogAppend/100/* (16-B
// key, 100-B value), so the 1-partition rate compares directly with BM_LogAppend/100/1000.

#include <malloc.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "brook/broker.h"
#include "brook/consumer.h"
#include "brook/detail/check.h"
#include "brook/producer.h"

namespace brook::bench {
namespace {

constexpr size_t kValueBytes = 100;
// Each BM_ProduceConsume iteration sends this many records and waits until the consumer has them.
constexpr int64_t kRecordsPerIteration = 100'000;
// BM_ProduceConsume measures the latency of one record in this many.
constexpr int64_t kLatencySampleEvery = 16;
// BM_ProduceConsumeLatency: one iteration is 10,000 records at 10k/s, ~1 s.
constexpr int64_t kPacedRecords = 10'000;
constexpr int64_t kPacedPeriodNanos = 100'000;
// BM_ProduceConsumeLatency's untimed warm-up: 20 ms at the same pace.
constexpr int64_t kWarmRecords = 200;
// BM_ManyPartitions.
constexpr int32_t kManyPartitions = 10'000;
constexpr int kRecordsPerManyBatch = 100;
// BM_Rebalance.
constexpr int kGroupMembers = 100;
constexpr int32_t kGroupPartitions = 1'000;
// Poll sweeps over every member before a rebalance counts as stuck.
constexpr int kMaxSweeps = 10'000;

// Sleeps until the steady clock reads `due_nanos` (NowNanos' clock), give or take the timer's
// slack, which the caller sets with prctl(PR_SET_TIMERSLACK).
void SleepUntil(int64_t due_nanos) {
  timespec ts{.tv_sec = due_nanos / 1'000'000'000, .tv_nsec = due_nanos % 1'000'000'000};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
  }
}

// CPU time of the calling thread, ns.
int64_t ThreadCpuNanos() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Raises the open-file soft limit to the hard limit, so the Broker's default max_open_files (half
// the soft limit) covers as many of its files as this process may.
void RaiseFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

// Resident memory of this process, bytes: anonymous (heap, stacks) and file-backed (mapped
// segment and index pages), from /proc/self/status.
struct Resident {
  double anon = 0;
  double file = 0;
  double total() const { return anon + file; }
};
Resident ReadResident() {
  std::ifstream status("/proc/self/status");
  Resident r;
  std::string field;
  while (status >> field) {
    double kib = 0;
    if (field == "RssAnon:" && status >> kib) r.anon = kib * 1024;
    if (field == "RssFile:" && status >> kib) r.file = kib * 1024;
  }
  return r;
}

std::unique_ptr<Broker> OpenBroker(const std::string& dir, BrokerOptions options = {}) {
  return Must(Broker::Open(dir, std::move(options)), "Broker::Open " + dir);
}

std::vector<TopicPartition> AllPartitions(const std::string& topic, int32_t partitions) {
  std::vector<TopicPartition> out;
  for (int32_t p = 0; p < partitions; ++p) out.push_back({topic, p});
  return out;
}

// Batches and records per batch in a topic's partitions, read back (untimed) after a run.
std::pair<int64_t, int64_t> CountBatches(Broker& broker, const std::string& topic,
                                         int32_t partitions) {
  int64_t batches = 0;
  int64_t records = 0;
  for (int32_t p = 0; p < partitions; ++p) {
    std::shared_ptr<Partition> partition = Must(broker.GetPartition({topic, p}), "GetPartition");
    int64_t offset = partition->start_offset();
    while (offset < partition->end_offset()) {
      ReadResult read =
          Must(partition->Read(offset, {.max_bytes = size_t{1} << 20, .verify = false}), "Read");
      for (const RecordBatchView& batch : read) {
        ++batches;
        records += batch.next_offset() - batch.base_offset();
      }
      offset = read.next_offset();
    }
  }
  return {batches, records};
}

// The 100-byte value of record i: MakeValues' letters with the send time (steady clock, ns) in
// the first 8 bytes, or 0 there for a record whose latency is not sampled. Those unsampled values
// are shared and handed out without a copy, as an application sends values it already holds;
// BM_LogAppend's batches are prebuilt too.
class ValueSource {
 public:
  ValueSource() : values_(MakeValues(kValueBytes)) {
    static_assert(kValues == 64, "MakeValues makes 64 values");
    BROOK_CHECK(values_.size() == kValues);
    for (std::string& v : values_) std::memset(v.data(), 0, sizeof(int64_t));
  }
  // Record i's value with `now_nanos` as its send time; 0 means unsampled. A sampled value is
  // copied into buffer_, valid until the next call.
  std::string_view Stamp(int64_t i, int64_t now_nanos) { return StampInto(i, now_nanos, buffer_); }
  // The same, a sampled value copied into `out` (kValueBytes long), for values that must outlive
  // the next Stamp.
  std::string_view StampInto(int64_t i, int64_t now_nanos, char* out) const {
    const std::string& v = values_[static_cast<size_t>(i) & (kValues - 1)];
    if (now_nanos == 0) return v;
    std::memcpy(out, v.data(), kValueBytes);
    std::memcpy(out, &now_nanos, sizeof(now_nanos));
    return {out, kValueBytes};
  }
  static int64_t SentNanos(std::string_view value) {
    int64_t sent = 0;
    std::memcpy(&sent, value.data(), sizeof(sent));
    return sent;
  }

 private:
  static constexpr size_t kValues = 64;
  std::vector<std::string> values_;
  char buffer_[kValueBytes];
};

// Keys MakeKey(0 … n-1), back to back (MakeKey's snprintf would otherwise sit in the send loop).
struct KeySource {
  explicit KeySource(int64_t n) : bytes(static_cast<size_t>(n) * kKeyBytes) {
    for (int64_t i = 0; i < n; ++i) {
      std::string key = MakeKey(i);
      std::memcpy(bytes.data() + static_cast<size_t>(i) * kKeyBytes, key.data(), kKeyBytes);
    }
  }
  std::string_view operator[](int64_t i) const {
    return {bytes.data() + static_cast<size_t>(i) * kKeyBytes, kKeyBytes};
  }
  std::vector<char> bytes;
};

// A broker with one topic "bench" of `partitions` partitions (default config: 64 MiB segments,
// as BM_LogAppend), a producer (callback API, linger 0, idempotent) and a consumer assigned
// every partition from the earliest offset.
struct Pipeline {
  Pipeline(int32_t partitions, std::chrono::microseconds poll_spin) {
    broker = OpenBroker(dir.path());
    CheckOk(broker->CreateTopic(kTopic, {.partitions = partitions}), "CreateTopic");
    producer = Must(Producer::Create(*broker, {.batch_bytes_max = 128 << 10}), "Producer::Create");
    consumer = Must(Consumer::Create(*broker, {.auto_offset_reset = OffsetReset::kEarliest,
                                               .poll_spin = poll_spin}),
                    "Consumer::Create");
    CheckOk(consumer->Assign(AllPartitions(kTopic, partitions)), "Assign");
  }
  ~Pipeline() {
    consumer.reset();
    producer.reset();
    CheckOk(broker->Close(), "Broker::Close");
  }

  static constexpr char kTopic[] = "bench";
  TempDir dir;
  std::unique_ptr<Broker> broker;
  std::unique_ptr<Producer> producer;
  std::unique_ptr<Consumer> consumer;
};

// Polls `consumer` until it has read `count` records, appending to `latencies` the end-to-end
// latency (the now() right after the Poll that returned it − the send time in its value) of each
// record that carries a send time (not 0). Returns false on an error or a wrong value size.
bool ConsumeInto(Consumer& consumer, int64_t count, std::vector<int64_t>& latencies) {
  int64_t seen = 0;
  while (seen < count) {
    absl::StatusOr<ConsumerRecords> records = consumer.Poll(std::chrono::milliseconds(1000));
    const int64_t now = NowNanos();
    if (!records.ok()) return false;
    for (const ConsumerRecord& r : *records) {
      std::optional<std::string_view> value = r.value();
      if (!value || value->size() != kValueBytes || seen++ >= count) return false;
      const int64_t sent = ValueSource::SentNanos(*value);
      if (sent != 0) latencies.push_back(now - sent);
    }
  }
  return true;
}

// BM_ProduceConsume/<partitions>: one iteration sends 100,000 keyed records (16-B key, 100-B
// value) from the benchmark thread through Producer::Send(record, callback) (linger 0,
// idempotent) while a consumer thread (Assign of every partition, Poll) reads them; it ends when
// the consumer has read every one. items_per_second is records/s end to end; p50_us / p99_us /
// p999_us the end-to-end latency under that saturating load, sampled on one record in 16 (send →
// the consumer's Poll returning it: mostly queueing, since the producer outruns the consumer or
// the other way round); records_per_batch how many records the producer put in each appended batch
// (read back after the run from the last pipeline's log, its untimed first round included);
// acked_pct the share of callbacks run by the end of the iterations; consumer_cpu_ms the consumer
// thread's CPU time per iteration (the CPU column is the sending thread's). Every kRestartBytes the
// pipeline is started over outside the timing, as BM_LogAppend does.
//
// BM_ProduceConsumeBatch/<records per call>: the same with one partition, the records sent
// through Producer::SendBatch that many at a time (one callback per call).
void RunProduceConsume(benchmark::State& state, int32_t partitions, int64_t per_call) {
  auto pipeline = std::make_unique<Pipeline>(partitions, std::chrono::microseconds(0));
  const KeySource keys(kRecordsPerIteration);
  ValueSource values;
  std::vector<int64_t> latencies;
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> failed{0};
  int64_t consumer_cpu_nanos = 0;  // the consumer threads' CPU time, all runs
  const SendCallback callback = [&acked, &failed](const absl::StatusOr<RecordMetadata>& r) {
    (r.ok() ? acked : failed).fetch_add(1, std::memory_order_relaxed);
  };
  std::vector<ProducerRecord> batch;  // SendBatch's records
  std::vector<char> batch_values(static_cast<size_t>(per_call) * kValueBytes);  // and values
  // Sends kRecordsPerIteration records and waits for the consumer to have them all; their
  // latencies go to the end of `latencies`. False after SkipWithError.
  auto run = [&]() -> bool {
    bool consumed = false;
    std::thread consumer([&] {
      const int64_t cpu_start = ThreadCpuNanos();
      consumed = ConsumeInto(*pipeline->consumer, kRecordsPerIteration, latencies);
      consumer_cpu_nanos += ThreadCpuNanos() - cpu_start;  // read after join
    });
    for (int64_t i = 0; i < kRecordsPerIteration;) {
      // Every kLatencySampleEvery-th record carries its send time; the others carry 0, so the
      // clock reads of the measurement stay out of the throughput.
      absl::Status s;
      if (per_call == 0) {
        const int64_t sent = i % kLatencySampleEvery == 0 ? NowNanos() : 0;
        s = pipeline->producer->Send(
            {.topic = Pipeline::kTopic, .key = keys[i], .value = values.Stamp(i, sent)}, callback);
        ++i;
      } else {
        const int64_t n = std::min(per_call, kRecordsPerIteration - i);
        batch.clear();
        for (int64_t j = 0; j < n; ++j, ++i) {
          const int64_t sent = i % kLatencySampleEvery == 0 ? NowNanos() : 0;
          char* out = batch_values.data() + static_cast<size_t>(j) * kValueBytes;
          batch.push_back(
              {.topic = Pipeline::kTopic, .key = keys[i], .value = values.StampInto(i, sent, out)});
        }
        s = pipeline->producer->SendBatch(
            batch, [&acked, &failed, n](const absl::StatusOr<RecordMetadata>& r) {
              (r.ok() ? acked : failed).fetch_add(r.ok() ? n : 1, std::memory_order_relaxed);
            });
      }
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        break;
      }
    }
    absl::Status flushed = pipeline->producer->Flush();
    if (!flushed.ok() && !state.error_occurred()) state.SkipWithError(flushed.ToString().c_str());
    if (state.error_occurred()) pipeline->consumer->Wakeup();
    consumer.join();
    if (state.error_occurred()) return false;
    if (!consumed || failed.load() != 0) {
      state.SkipWithError("the consumer failed, or a send's callback reported an error");
      return false;
    }
    return true;
  };
  // An untimed first round on every fresh pipeline: the first appends to a fresh segment fault its
  // mapping in, and on this VM (read_ahead_kb = 8192) each fault's readahead zero-fills up to 8 MiB
  // of it, which with 64 fresh partitions is ~0.5 GB of page zeroing. That is paid once per 64-MiB
  // segment; a one-iteration run would otherwise measure mostly that. first_round_ms reports the
  // first of them. Its latencies and acknowledgements are left out of the counters.
  auto untimed_round = [&]() -> bool {
    const size_t latencies_before = latencies.size();
    const int64_t acked_before = acked.load();
    const int64_t consumer_cpu_before = consumer_cpu_nanos;
    if (!run()) return false;
    latencies.resize(latencies_before);
    acked = acked_before;
    consumer_cpu_nanos = consumer_cpu_before;
    return true;
  };
  const int64_t warm_start = NowNanos();
  if (!untimed_round()) return;
  state.counters["first_round_ms"] =
      benchmark::Counter(static_cast<double>(NowNanos() - warm_start) * 1e-6);
  // As BM_LogAppend, the topic is deleted and started over every kRestartBytes (outside the
  // timing), so both measure appends in the same memory regime (see kRestartBytes).
  bool ok = true;
  RunRestartingLoop(
      state, kRecordsPerIteration * (kKeyBytes + kValueBytes),
      static_cast<double>(kRecordsPerIteration), kRestartBytes,
      [&] {
        pipeline.reset();
        pipeline = std::make_unique<Pipeline>(partitions, std::chrono::microseconds(0));
        ok = ok && untimed_round();
      },
      [&] { return ok && run(); });
  if (state.error_occurred()) return;
  auto [batches, records] = CountBatches(*pipeline->broker, Pipeline::kTopic, partitions);
  state.counters["records_per_batch"] =
      benchmark::Counter(batches == 0 ? 0.0 : static_cast<double>(records) / batches);
  // The consumer thread's CPU time per iteration, beside the benchmark's CPU column (the sending
  // thread's, which with linger 0 appends most batches itself).
  state.counters["consumer_cpu_ms"] = benchmark::Counter(
      static_cast<double>(consumer_cpu_nanos) * 1e-6 / static_cast<double>(state.iterations()));
  state.counters["acked_pct"] =
      benchmark::Counter(100.0 * static_cast<double>(acked.load()) /
                         (static_cast<double>(state.iterations()) * kRecordsPerIteration));
  SetLatencyCounters(state, std::move(latencies));
}

void BM_ProduceConsume(benchmark::State& state) {
  RunProduceConsume(state, static_cast<int32_t>(state.range(0)), /*per_call=*/0);
}

BENCHMARK(BM_ProduceConsume)->Arg(1)->Arg(8)->Arg(64)->Unit(benchmark::kMillisecond);

void BM_ProduceConsumeBatch(benchmark::State& state) {
  RunProduceConsume(state, /*partitions=*/1, state.range(0));
}
BENCHMARK(BM_ProduceConsumeBatch)->Arg(100)->Arg(1000)->Unit(benchmark::kMillisecond);

// BM_ProduceConsumeLatency/<poll_spin_us>: the producer (benchmark thread) sends 10,000 keyed
// 100-B records to a 1-partition topic at a fixed 10k/s, sleeping until each send is due (as an
// application would; a busy-waiting producer would hold a vCPU the consumer and the producer's
// sender thread need); the consumer thread polls. p50_us / p99_us / p999_us: send (the steady-clock
// time taken right before Send, carried in the value) → the consumer's Poll returning the record.
// /0: poll_spin 0, the consumer sleeps on a condition variable and the append wakes it (a futex
// wake). /200: poll_spin 200 µs, longer than the 100-µs gap, so the consumer is still spinning when
// the next record lands. late_pct: sends started > 20 µs behind schedule (the sleep overshot; the
// send time is taken after it, so lateness does not count as latency). send_p50_us / send_p99_us:
// how long the Send call itself took (with linger 0 it appends the batch and runs the callback), to
// tell producer-side stalls from the consumer's wake-up. One iteration is the ~1-s run.
void BM_ProduceConsumeLatency(benchmark::State& state) {
  const std::chrono::microseconds poll_spin(state.range(0));
  Pipeline pipeline(1, poll_spin);
  prctl(PR_SET_TIMERSLACK, 1'000UL);  // wake within ~1 µs of each send's due time
  const KeySource keys(kPacedRecords);
  ValueSource values;
  std::vector<int64_t> latencies;
  std::vector<int64_t> send_nanos;
  int64_t late = 0;
  std::atomic<int64_t> failed{0};
  const SendCallback callback = [&failed](const absl::StatusOr<RecordMetadata>& r) {
    if (!r.ok()) failed.fetch_add(1, std::memory_order_relaxed);
  };
  // Sends `count` records at 10k/s while a consumer thread reads them, their latencies appended
  // to `out`; with `measured`, counts late sends and times each Send. False after SkipWithError.
  auto paced_round = [&](int64_t count, std::vector<int64_t>& out, bool measured) {
    bool consumed = false;
    std::thread consumer([&] { consumed = ConsumeInto(*pipeline.consumer, count, out); });
    const int64_t start = NowNanos() + 1'000'000;  // let the consumer reach its first Poll
    for (int64_t i = 0; i < count; ++i) {
      const int64_t due = start + i * kPacedPeriodNanos;
      SleepUntil(due);
      const int64_t now = NowNanos();
      if (measured && now - due > 20'000) ++late;
      absl::Status s = pipeline.producer->Send(
          {.topic = Pipeline::kTopic, .key = keys[i], .value = values.Stamp(i, now)}, callback);
      if (measured) send_nanos.push_back(NowNanos() - now);
      if (!s.ok()) {
        state.SkipWithError(s.ToString().c_str());
        pipeline.consumer->Wakeup();
        break;
      }
    }
    consumer.join();
    if (state.error_occurred()) return false;
    if (!consumed || failed.load() != 0) {
      state.SkipWithError("the consumer failed, or a send's callback reported an error");
      return false;
    }
    return true;
  };
  // Untimed, as BM_ProduceConsume's first round: the first appends to the topic's fresh segment
  // fault its mapping in, and the readahead zero-fills up to 8 MiB of it on this VM (~2 ms: the
  // first ~30 records of a run waited for that). first_record_us reports the first one's latency.
  std::vector<int64_t> warm;
  if (!paced_round(kWarmRecords, warm, /*measured=*/false)) return;
  state.counters["first_record_us"] = benchmark::Counter(static_cast<double>(warm[0]) * 1e-3);
  for (auto _ : state) {
    if (!paced_round(kPacedRecords, latencies, /*measured=*/true)) return;
  }
  const double n = static_cast<double>(latencies.size());
  SetLatencyCounters(state, std::move(latencies));
  SetLatencyCounters(state, std::move(send_nanos), "send_", /*with_p999=*/false);
  state.counters["late_pct"] = benchmark::Counter(100.0 * static_cast<double>(late) / n);
}
BENCHMARK(BM_ProduceConsumeLatency)->Arg(0)->Arg(200)->Unit(benchmark::kMillisecond);

// --- BM_ManyPartitions ---------------------------------------------------------------------------

// Small segments, so 10,000 preallocated active segments take ~11 GiB of disk, not 640 GiB.
TopicConfig ManyPartitionsConfig(int32_t partitions) {
  return {.partitions = partitions,
          .segment_bytes_max = uint64_t{1} << 20,
          .segment_index_bytes = uint64_t{64} << 10};
}

// A broker with topic "many" (10,000 partitions) and topic "one" (1 partition, the same config),
// created once and shared by the BM_ManyPartitions variants (creating thousands of partitions takes
// seconds). `broker` is null only while BM_ManyPartitions/open reopens it.
struct ManyPartitionsBroker {
  TempDir dir;  // destroyed after the broker (declared first)
  std::unique_ptr<Broker> broker;
  int32_t partitions = 0;
  double create_seconds = 0;
  // Mean time of the first append (one 100-record batch) to each fresh partition of "many".
  double first_append_us = 0;
  size_t next_partition = 0;  // BM_ManyPartitions/append_spread's round-robin, across runs
  std::vector<std::shared_ptr<Partition>> many;  // every partition of "many"
  std::shared_ptr<Partition> one;
  std::shared_ptr<Partition> one_large;  // "one-large": 1 partition, default 64-MiB segments

  void Resolve() {
    many.clear();
    for (int32_t p = 0; p < partitions; ++p) {
      many.push_back(Must(broker->GetPartition({"many", p}), "GetPartition many"));
    }
    one = Must(broker->GetPartition({"one", 0}), "GetPartition one");
    one_large = Must(broker->GetPartition({"one-large", 0}), "GetPartition one-large");
  }
};

// The big brokers of BM_ManyPartitions and BM_Rebalance hold thousands of file descriptors: only
// one of them is kept open at a time.
std::unique_ptr<ManyPartitionsBroker>& ManyPartitionsCache() {
  static std::unique_ptr<ManyPartitionsBroker> cached;
  return cached;
}
struct RebalanceBroker;
std::unique_ptr<RebalanceBroker>& RebalanceCache();

// Null (with the error on `state`) if the topics could not be created.
ManyPartitionsBroker* GetManyPartitionsBroker(benchmark::State& state) {
  std::unique_ptr<ManyPartitionsBroker>& cached = ManyPartitionsCache();
  if (cached != nullptr) return cached.get();
  RebalanceCache().reset();
  auto m = std::make_unique<ManyPartitionsBroker>();
  // 30,000 files: more than the descriptors the Broker keeps (max_open_files, by default half the
  // soft RLIMIT_NOFILE, raised here to the hard limit), so opening them closes others.
  RaiseFileLimit();
  m->partitions = kManyPartitions;
  const int64_t start = NowNanos();
  m->broker = OpenBroker(m->dir.path());
  for (absl::Status s : {m->broker->CreateTopic("many", ManyPartitionsConfig(m->partitions)),
                         m->broker->CreateTopic("one", ManyPartitionsConfig(1)),
                         m->broker->CreateTopic("one-large", {.partitions = 1})}) {
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return nullptr;
    }
  }
  m->create_seconds = static_cast<double>(NowNanos() - start) * 1e-9;
  m->Resolve();
  // Two warm-up passes: the first append to a fresh segment faults in its mapping, and the
  // second writes the first index entries (reserving the indexes' disk blocks, which reopens
  // their files, and faulting in their mappings), which is what /append_spread would otherwise
  // mostly measure in a short run (see its comment).
  BatchSet batches = MakeBatches(kValueBytes, kRecordsPerManyBatch, kSourceBytes);
  const int64_t pass = NowNanos();
  for (int round = 0; round < 2; ++round) {
    for (size_t p = 0; p < m->many.size(); ++p) {
      absl::StatusOr<AppendResult> appended = m->many[p]->Append(batches[p % batches.size()]);
      if (!appended.ok()) {
        state.SkipWithError(appended.status().ToString().c_str());
        return nullptr;
      }
    }
  }
  m->first_append_us = static_cast<double>(NowNanos() - pass) * 1e-3 / m->partitions;
  cached = std::move(m);
  return cached.get();
}

enum class ManyPartitionsCase { kOpen, kAppendSpread, kAppendOne, kAppendOneLarge };

// BM_ManyPartitions/open: one iteration closes the broker (untimed), returns freed heap to the OS
// (malloc_trim), reads the resident set size, then times Broker::Open of the directory. open_ms is
// the mean open time (= Time), max_open_ms the slowest; rss_delta_mib the resident memory the
// open added (mean; VmRSS = RssAnon + RssFile of /proc/self/status), rss_anon_delta_mib the heap
// part of it, rss_mib the process's resident memory after it; create_s the one-time
// creation of both topics; partitions the size of "many" (10,000).
//
// BM_ManyPartitions/append_spread: one iteration is Partition::Append of one 100-record batch of
// 100-B values (prebuilt, as BM_LogAppend/100/100) to the next partition of "many",
// round-robin. BM_ManyPartitions/append_one: the same appends, all to the 1-partition topic of
// the same broker. Compare their items_per_second (benchmarks/ratios.py). The one partition rolls
// its 1-MiB segment every ~83 batches; the spread appends fill each partition's first segment
// (~83 rounds over all partitions) before any partition rolls, so a short run of append_spread
// has no rolls at all: that difference is part of what is being compared. The first append to a
// fresh segment faults its mapping in, and on this VM (read_ahead_kb = 8192) the fault's
// readahead zero-fills the whole 1-MiB segment: the one partition pays that once per roll (per
// 1 MiB written), a first pass over all partitions once per 12.6-KB append; the second append
// writes a partition's first index entries, which reserve their disk blocks (reopening the
// index files, whose descriptors were closed to keep within max_open_files). Those two passes
// are done untimed when the broker is created, and reported as first_append_us (the two
// appends' total, mean per partition); the round-robin then continues across runs, so append_spread
// measures the steady state. The 1-MiB segments make /append_one roll-bound (three file creations
// and, every few rolls, an fdatasync per MiB), so /append_one_large_segments does the same appends
// to a partition with the default 64-MiB segments ("one-large", same broker): the baseline without
// rolls.
void BM_ManyPartitions(benchmark::State& state, ManyPartitionsCase which) {
  ManyPartitionsBroker* cached = GetManyPartitionsBroker(state);
  if (cached == nullptr) return;
  ManyPartitionsBroker& m = *cached;
  state.counters["partitions"] = benchmark::Counter(m.partitions);
  state.counters["create_s"] = benchmark::Counter(m.create_seconds);
  state.counters["first_append_us"] = benchmark::Counter(m.first_append_us);
  if (which == ManyPartitionsCase::kOpen) {
    double delta = 0;
    double anon_delta = 0;
    double max_ms = 0;
    double total_ms = 0;
    for (auto _ : state) {
      state.PauseTiming();
      m.many.clear();
      m.one.reset();
      CheckOk(m.broker->Close(), "Broker::Close");
      m.broker.reset();
      malloc_trim(0);
      const Resident before = ReadResident();
      state.ResumeTiming();
      const int64_t start = NowNanos();
      m.broker = OpenBroker(m.dir.path());
      const double ms = static_cast<double>(NowNanos() - start) * 1e-6;
      state.PauseTiming();
      const Resident after = ReadResident();
      delta += after.total() - before.total();
      anon_delta += after.anon - before.anon;
      max_ms = std::max(max_ms, ms);
      total_ms += ms;
      m.Resolve();
      state.ResumeTiming();
    }
    const auto n = static_cast<double>(state.iterations());
    state.counters["open_ms"] = benchmark::Counter(total_ms / n);
    state.counters["max_open_ms"] = benchmark::Counter(max_ms);
    state.counters["rss_delta_mib"] = benchmark::Counter(delta / n / (1 << 20));
    state.counters["rss_anon_delta_mib"] = benchmark::Counter(anon_delta / n / (1 << 20));
    state.counters["rss_mib"] = benchmark::Counter(ReadResident().total() / (1 << 20));
    return;
  }
  BatchSet batches = MakeBatches(kValueBytes, kRecordsPerManyBatch, kSourceBytes);
  size_t next_batch = 0;
  double bytes = 0;
  WallClock wall;
  for (auto _ : state) {
    std::span<const std::byte> batch = batches[next_batch];
    if (++next_batch == batches.size()) next_batch = 0;
    Partition* partition =
        which == ManyPartitionsCase::kAppendOneLarge ? m.one_large.get() : m.one.get();
    if (which == ManyPartitionsCase::kAppendSpread) {
      partition = m.many[m.next_partition].get();
      if (++m.next_partition == m.many.size()) m.next_partition = 0;
    }
    absl::StatusOr<AppendResult> appended = partition->Append(batch);
    if (!appended.ok()) {
      state.SkipWithError(appended.status().ToString().c_str());
      break;
    }
    bytes += static_cast<double>(batch.size());
  }
  SetWallRates(state, wall.seconds(),
               static_cast<double>(state.iterations()) * kRecordsPerManyBatch, bytes);
}
BENCHMARK_CAPTURE(BM_ManyPartitions, append_spread, ManyPartitionsCase::kAppendSpread);
BENCHMARK_CAPTURE(BM_ManyPartitions, append_one, ManyPartitionsCase::kAppendOne);
BENCHMARK_CAPTURE(BM_ManyPartitions, append_one_large_segments,
                  ManyPartitionsCase::kAppendOneLarge);
// Last: a reopen trims and re-extends every active segment, so the next appends to each
// partition fault their mappings in again (see first_append_us).
BENCHMARK_CAPTURE(BM_ManyPartitions, open, ManyPartitionsCase::kOpen)
    ->Unit(benchmark::kMillisecond);

// --- BM_Rebalance --------------------------------------------------------------------------------

// A broker (group_initial_rebalance_delay 0) with topic "rebalance" of 1,000 partitions, shared
// by both BM_Rebalance variants (each uses its own groups).
struct RebalanceBroker {
  TempDir dir;
  std::unique_ptr<Broker> broker;
};

std::unique_ptr<RebalanceBroker>& RebalanceCache() {
  static std::unique_ptr<RebalanceBroker> cached;
  return cached;
}

Broker& GetRebalanceBroker() {
  std::unique_ptr<RebalanceBroker>& cached = RebalanceCache();
  if (cached != nullptr) return *cached->broker;
  ManyPartitionsCache().reset();
  RaiseFileLimit();
  auto r = std::make_unique<RebalanceBroker>();
  r->broker =
      OpenBroker(r->dir.path(), {.group_initial_rebalance_delay = std::chrono::milliseconds(0)});
  CheckOk(r->broker->CreateTopic("rebalance", ManyPartitionsConfig(kGroupPartitions)),
          "CreateTopic rebalance");
  cached = std::move(r);
  return *cached->broker;
}

// Whether every member has the same generation, later than `after`, and the members' assignments
// cover every partition exactly once.
bool Settled(const std::vector<std::unique_ptr<Consumer>>& members, int32_t after,
             int32_t* generation) {
  const int32_t g = members.front()->generation();
  if (g <= after) return false;
  std::vector<char> owned(kGroupPartitions, 0);
  int32_t covered = 0;
  for (const auto& c : members) {
    if (c->generation() != g) return false;
    for (const TopicPartition& tp : c->assignment()) {
      if (owned[static_cast<size_t>(tp.partition)]++ != 0) return false;
      ++covered;
    }
  }
  if (covered != kGroupPartitions) return false;
  *generation = g;
  return true;
}

// Drives every member's Poll(0), round-robin, until Settled. Returns the sweeps it took, or -1
// (and an error on `state`) if it did not settle.
int Settle(benchmark::State& state, std::vector<std::unique_ptr<Consumer>>& members,
           int32_t* generation) {
  const int32_t after = *generation;
  for (int sweep = 1; sweep <= kMaxSweeps; ++sweep) {
    for (auto& c : members) {
      absl::StatusOr<ConsumerRecords> polled = c->Poll(std::chrono::milliseconds(0));
      if (!polled.ok()) {
        state.SkipWithError(polled.status().ToString().c_str());
        return -1;
      }
    }
    if (Settled(members, after, generation)) return sweep;
  }
  state.SkipWithError("the group did not settle");
  return -1;
}

// BM_Rebalance/<assignor>: 100 members (brook::Consumer, default options but the assignor, all
// driven by the benchmark thread) subscribed to a 1,000-partition topic, stable. One iteration
// times a 101st member joining until all 101 hold assignments of one new generation covering
// every partition exactly once (each member's Poll(0) called round-robin); it then closes the
// new member and lets the group settle again, untimed. Time (ms) is per rebalance.
// cooperative_sticky needs two rebalances (revoke, then assign): generations counts them.
// sweeps: rounds of Poll(0) over every member. Auto-commit is on (the default), so eager members
// commit their positions (fdatasync) when they revoke.
void BM_Rebalance(benchmark::State& state, const char* assignor) {
  Broker& broker = GetRebalanceBroker();
  static int group_number = 0;
  const std::string group = std::string(assignor) + "-" + std::to_string(group_number++);
  auto make_member = [&] {
    std::unique_ptr<Consumer> c = Must(
        Consumer::Create(broker, {.group_id = group, .assignors = {assignor}}), "Consumer::Create");
    CheckOk(c->Subscribe({"rebalance"}), "Subscribe");
    return c;
  };
  std::vector<std::unique_ptr<Consumer>> members;
  for (int i = 0; i < kGroupMembers; ++i) members.push_back(make_member());
  int32_t generation = -1;
  if (Settle(state, members, &generation) < 0) return;
  double sweeps = 0;
  double generations = 0;
  WallClock wall;
  for (auto _ : state) {
    const int32_t before = generation;
    members.push_back(make_member());
    const int took = Settle(state, members, &generation);
    if (took < 0) return;
    sweeps += took;
    generations += generation - before;
    wall.Pause(state);
    CheckOk(members.back()->Close(), "Consumer::Close");
    members.pop_back();
    const bool settled = Settle(state, members, &generation) >= 0;
    wall.Resume(state);
    if (!settled) return;
  }
  const auto n = static_cast<double>(state.iterations());
  state.counters["rebalance_ms"] = benchmark::Counter(wall.seconds() * 1e3 / n);
  state.counters["sweeps"] = benchmark::Counter(sweeps / n);
  state.counters["generations"] = benchmark::Counter(generations / n);
}
BENCHMARK_CAPTURE(BM_Rebalance, range, "range")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Rebalance, cooperative_sticky, "cooperative-sticky")
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace brook::bench
