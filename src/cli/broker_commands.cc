// `brook topic ...`, `brook groups ...`, `brook produce` and `brook consume`: a broker directory
// through the public Broker, Producer and Consumer, as kafka-topics, kafka-consumer-groups and
// kcat do for a Kafka cluster. Each command opens the directory (taking its lock, so one process
// at a time), does one thing and closes it cleanly.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "broker/topic_registry.h"
#include "brook/broker.h"
#include "brook/consumer.h"
#include "brook/file_system.h"
#include "brook/producer.h"
#include "cli/commands.h"
#include "cli/log_tail.h"
#include "cli/text.h"
#include "fmt/format.h"
#include "group/offsets_records.h"
#include "storage/log_inspector.h"
#include "util/format.h"
#include "util/status_macros.h"

namespace brook::cli {
namespace {

// Opens the broker directory `dir`, runs `action` on it and closes it. Returns the exit code: 0,
// or 1 after a message on stderr naming the directory (the broker's messages name the topic or
// group; the code and Kafka error payload mean nothing at a terminal, so only the message is
// printed). Short commands run nothing in the background (`background_threads` 0). When another
// process has the directory open, runs `in_use` instead if given.
int WithBroker(const std::string& dir, bool create_if_missing, int background_threads,
               const std::function<absl::Status(Broker&)>& action,
               const std::function<int()>& in_use = nullptr) {
  absl::StatusOr<std::unique_ptr<Broker>> broker = Broker::Open(
      dir, {.create_if_missing = create_if_missing, .background_threads = background_threads});
  if (absl::IsFailedPrecondition(broker.status()) &&
      broker.status().message().find("in use") != absl::string_view::npos) {
    if (in_use) return in_use();
    fmt::print(stderr,
               "brook: {} is open in another process (an application, or a brook consume "
               "--follow): one process at a time may open a broker directory\n",
               dir);
    return 1;
  }
  if (!broker.ok()) {
    fmt::print(stderr, "brook: {}\n", broker.status().message());
    return 1;
  }
  absl::Status status = action(**broker);
  absl::Status closed = (*broker)->Close();
  if (status.ok()) status = closed;
  if (status.ok()) return 0;
  fmt::print(stderr, "brook: {}: {}\n", dir, status.message());
  return 1;
}

int WithBroker(const std::string& dir, const std::function<absl::Status(Broker&)>& action) {
  return WithBroker(dir, /*create_if_missing=*/false, /*background_threads=*/0, action);
}

// --partitions N with N >= 1, or nullopt (after a message). `required`: absent is an error too.
std::optional<int32_t> Partitions(const Args& args, bool required) {
  if (required && !args.Has("partitions")) {
    fmt::print(stderr, "brook: --partitions N is required\n");
    return std::nullopt;
  }
  std::optional<int64_t> n = IntOption(args, "partitions", "a partition count", 1, 1);
  if (!n) return std::nullopt;
  if (*n > INT32_MAX) {
    fmt::print(stderr, "brook: --partitions {} is too many\n", *n);
    return std::nullopt;
  }
  return static_cast<int32_t>(*n);
}

// `brook topic list|describe` of a directory another process has open (`topic` empty: list),
// from its files. Defined with the other lock-free readers below.
int TopicsFromFiles(const std::string& dir, const std::string& topic);

}  // namespace

int TopicCreate(const Args& args) {
  const std::string& dir = args.positional[0];
  const std::string& name = args.positional[1];
  std::map<std::string, std::string> entries;
  for (const std::string& entry : args.GetAll("config")) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      fmt::print(stderr, "brook: --config wants KEY=VALUE, got '{}'\n", entry);
      return 2;
    }
    entries[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  if (args.Has("partitions")) {
    std::optional<int32_t> partitions = Partitions(args, true);
    if (!partitions) return 2;
    entries["partitions"] = std::to_string(*partitions);
  }
  // Checked before the directory is opened (or created), so bad arguments change nothing.
  absl::StatusOr<TopicConfig> config =
      TopicConfig::FromConfigMap(entries, BrokerOptions().default_topic_config);
  if (absl::Status valid = config.ok() ? config->Validate() : config.status(); !valid.ok()) {
    fmt::print(stderr, "brook: topic {}: {}\n", name, valid.message());
    return 2;
  }
  return WithBroker(dir, /*create_if_missing=*/true, /*background_threads=*/0, [&](Broker& broker) {
    BROOK_RETURN_IF_ERROR(broker.CreateTopic(name, *config));
    fmt::print("created topic {} with {} partition(s) in {}\n", name, config->partitions, dir);
    return absl::OkStatus();
  });
}

int TopicList(const Args& args) {
  const std::string& dir = args.positional[0];
  return WithBroker(
      dir, /*create_if_missing=*/false, /*background_threads=*/0,
      [](Broker& broker) {
        for (const std::string& name : broker.ListTopics()) fmt::print("{}\n", name);
        return absl::OkStatus();
      },
      [&] { return TopicsFromFiles(dir, ""); });
}

int TopicDescribe(const Args& args) {
  const std::string& dir = args.positional[0];
  return WithBroker(
      dir, /*create_if_missing=*/false, /*background_threads=*/0,
      [&](Broker& broker) -> absl::Status {
        BROOK_ASSIGN_OR_RETURN(TopicDescription topic, broker.DescribeTopic(args.positional[1]));
        fmt::print("topic: {}\npartitions: {}\ninternal: {}\nconfig:\n", topic.name,
                   topic.partitions.size(), topic.internal ? "yes" : "no");
        for (const auto& [key, value] : topic.config.ToConfigMap()) {
          if (key != "partitions") fmt::print("  {}={}\n", key, value);
        }
        fmt::print("{:>9}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}  {:>8}\n", "partition",
                   "start offset", "end offset", "high watermark", "flushed offset", "bytes",
                   "segments");
        for (const PartitionDescription& p : topic.partitions) {
          fmt::print("{:>9}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}  {:>8}\n", p.partition,
                     p.start_offset, p.end_offset, p.high_watermark, p.flushed_offset, p.size_bytes,
                     p.segments);
        }
        return absl::OkStatus();
      },
      [&] { return TopicsFromFiles(dir, args.positional[1]); });
}

int TopicDelete(const Args& args) {
  return WithBroker(args.positional[0], [&](Broker& broker) {
    BROOK_RETURN_IF_ERROR(broker.DeleteTopic(args.positional[1]));
    fmt::print("deleted topic {} from {}\n", args.positional[1], args.positional[0]);
    return absl::OkStatus();
  });
}

int TopicAddPartitions(const Args& args) {
  std::optional<int32_t> total = Partitions(args, true);
  if (!total) return 2;
  return WithBroker(args.positional[0], [&](Broker& broker) {
    BROOK_RETURN_IF_ERROR(broker.AddPartitions(args.positional[1], *total));
    fmt::print("topic {} now has {} partition(s)\n", args.positional[1], *total);
    return absl::OkStatus();
  });
}

int Produce(const Args& args) {
  const std::string& topic = args.positional[1];
  std::optional<int64_t> partition = IntOption(args, "partition", "a partition", 0, -1);
  if (!partition) return 2;
  if (*partition > std::numeric_limits<int32_t>::max()) {
    fmt::print(stderr, "brook: --partition {} is past the largest partition number, {}\n",
               *partition, std::numeric_limits<int32_t>::max());
    return 2;
  }
  bool quiet = args.Has("quiet");
  const std::optional<std::string> null_text = args.Get("null");
  Durability durability = args.Has("flush") ? Durability::kFlushed : Durability::kAppended;
  return WithBroker(args.positional[0], [&](Broker& broker) -> absl::Status {
    // Checked first so that a wrong name fails once, not once per line.
    BROOK_ASSIGN_OR_RETURN(std::shared_ptr<Topic> t, broker.GetTopic(topic));
    const uint32_t max_message_bytes = t->config().batch_bytes_max;
    BROOK_ASSIGN_OR_RETURN(
        std::unique_ptr<Producer> producer,
        // No retries: on a full disk each line fails at once, with its number, instead of
        // every chunk of input waiting out a delivery timeout.
        Producer::Create(broker, {.client_id = "brook-cli",
                                  .durability = durability,
                                  .delivery_timeout = std::chrono::milliseconds(0)}));
    int64_t produced = 0;
    FailedLines failed;   // a line that cannot be produced is named; the others still go
    absl::Status status;  // an error that stops the command (stdin, stdout)
    std::vector<std::pair<int64_t, std::future<absl::StatusOr<RecordMetadata>>>> acks;
    LineSplitter lines(max_message_bytes);
    // Sends the lines read so far and prints their acknowledgements, so that each line typed at
    // a terminal is acknowledged as soon as it is entered.
    auto send_lines = [&](std::string_view bytes, bool final) {
      lines.Add(bytes, final, [&](const InputLine& line) {
        if (line.too_long) {
          failed.Add(line.number,
                     fmt::format("longer than topic {}'s max.message.bytes ({}): not produced",
                                 topic, max_message_bytes));
          return true;
        }
        ProducerRecord record{.topic = topic, .key = line.key, .value = line.value};
        if (null_text) {  // a tombstone (null value) or a null key, as consume prints them
          if (record.key == *null_text) record.key = std::nullopt;
          if (record.value == *null_text) record.value = std::nullopt;
        }
        if (*partition >= 0) record.partition = static_cast<int32_t>(*partition);
        acks.emplace_back(line.number, producer->Send(record));
        return true;
      });
      (void)producer->Flush();  // its errors are the acknowledgements'
      for (auto& [line, ack] : acks) {
        absl::StatusOr<RecordMetadata> metadata = ack.get();
        if (!metadata.ok()) {
          failed.Add(line, std::string(metadata.status().message()));
          continue;
        }
        ++produced;
        if (!quiet) Print(fmt::format("{} {}\n", metadata->partition, metadata->offset));
      }
      acks.clear();
      // The records are produced either way; a lost acknowledgement still fails the command.
      status.Update(FlushStdout());
    };
    char chunk[64 << 10];
    while (status.ok()) {
      absl::StatusOr<size_t> n = ReadInput(STDIN_FILENO, chunk, sizeof(chunk), "stdin");
      if (!n.ok()) status.Update(n.status());
      if (!n.ok() || *n == 0) break;
      send_lines(std::string_view(chunk, *n), false);
    }
    if (status.ok()) send_lines({}, true);
    status.Update(producer->Close());
    if (quiet) fmt::print("produced {} record(s) to {}\n", produced, topic);
    if (status.ok()) return failed.Summary("produced");
    return status;
  });
}

namespace {

// Turns SIGINT and SIGTERM into a call (Consumer::Wakeup) and stopped(): the signals are blocked
// in every thread (construct this before the Broker starts its threads, which inherit the mask)
// and one thread waits for them with sigwait, so no code runs in a signal handler.
class SignalWakeup {
 public:
  SignalWakeup() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  }
  ~SignalWakeup() { Stop(); }
  SignalWakeup(const SignalWakeup&) = delete;
  SignalWakeup& operator=(const SignalWakeup&) = delete;

  // From now on a signal sets stopped() and calls `on_signal` (on another thread), which must
  // stay callable until Stop().
  void Watch(std::function<void()> on_signal) {
    thread_ = std::thread([this, on_signal = std::move(on_signal)] {
      int signal = 0;
      sigwait(&signals_, &signal);
      if (done_.load()) return;
      stopped_.store(true);
      on_signal();
    });
  }
  // No longer calls on_signal. Signals arriving later stay pending (blocked) until exit.
  void Stop() {
    if (!thread_.joinable()) return;
    done_.store(true);
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }
  // Whether a signal asked to stop.
  bool stopped() const { return stopped_.load(); }

 private:
  sigset_t signals_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  std::atomic<bool> stopped_{false};
};

struct ConsumeLoopOptions {
  // Run until a signal; else stop once caught up with the end offsets at start.
  bool follow = false;
  // Subscribed to a group (whose assignment comes with a Poll), rather than assigned.
  bool in_group = false;
  // Stop after printing this many records.
  int64_t max_records = INT64_MAX;
  const SignalWakeup* signals = nullptr;
};

// Prints records as `partition offset timestamp key value`, tab separated, until caught up with
// `end_at_start` (every assigned partition's position has reached its end offset then), a
// signal, or max_records. Past max_records, each partition is rewound to its first record not
// printed, so that a group commits only what was printed.
absl::Status ConsumeLoop(Consumer& consumer, std::map<TopicPartition, int64_t>& end_at_start,
                         const ConsumeLoopOptions& options) {
  auto caught_up = [&] {
    std::vector<TopicPartition> assigned = consumer.assignment();
    // A group member given no partitions (more members than partitions) is caught up too.
    if (assigned.empty()) return !options.in_group || consumer.generation() > 0;
    for (const TopicPartition& tp : assigned) {
      absl::StatusOr<int64_t> position = consumer.Position(tp);
      if (!position.ok() || *position < end_at_start[tp]) return false;
    }
    return true;
  };
  int64_t printed = 0;
  while (!options.signals->stopped() && printed < options.max_records &&
         (options.follow || !caught_up())) {
    absl::StatusOr<ConsumerRecords> records =
        consumer.Poll(std::chrono::milliseconds(options.follow ? 1000 : 100));
    if (absl::IsCancelled(records.status())) return absl::OkStatus();  // a signal
    BROOK_RETURN_IF_ERROR(records.status());
    std::map<TopicPartition, int64_t> rewind;
    for (const ConsumerRecord& r : *records) {
      if (printed >= options.max_records) {
        rewind.try_emplace({std::string(r.topic), r.partition}, r.offset());
        continue;
      }
      Print(fmt::format("{}\t{}\t{}\t{}\t{}\n", r.partition, r.offset(), r.timestamp(),
                        KeyField(r.record), ValueField(r.record)));
      ++printed;
    }
    if (absl::Status written = FlushStdout(); !written.ok()) {
      // Which of this poll's records reached stdout is unknown: none counts as printed, so a
      // group commits only what earlier polls wrote (at least once, never a record lost).
      rewind.clear();
      for (const ConsumerRecord& r : *records) {
        rewind.try_emplace({std::string(r.topic), r.partition}, r.offset());
      }
      for (const auto& [tp, offset] : rewind) BROOK_RETURN_IF_ERROR(consumer.Seek(tp, offset));
      return written;
    }
    for (const auto& [tp, offset] : rewind) BROOK_RETURN_IF_ERROR(consumer.Seek(tp, offset));
  }
  return absl::OkStatus();
}

// For the commands that read a broker directory's files: prints `s` naming `dir` and returns the
// exit code, 1.
int FilesError(const std::string& dir, const absl::Status& s) {
  fmt::print(stderr, "brook: {}: {}\n", dir, s.message());
  return 1;
}

// Says on stderr (so stdout stays parseable) that `dir` is read from its files, and `how`.
void SayReadingFiles(const std::string& dir, std::string_view how) {
  fmt::print(stderr, "brook: {} is open in another process: {}\n", dir, how);
}

// The first offset a partition's files hold (its log start offset, or its first segment's base).
int64_t FirstOffset(const storage::LogInspector& log) {
  const auto& segments = log.segments();
  return std::max(segments.empty() ? 0 : segments.front().base_offset,
                  log.log_start_offset().value_or(0));
}

// `brook consume` (without a group) of a directory another process has open: the topic's
// partition logs are read as files, as `brook log read` reads a log, without the directory's lock
// (so nothing is committed, and records a writer has not finished copying are not shown yet). The
// registry gives the topic's partitions. Prints as ConsumeLoop does, partition by partition.
int ConsumeFiles(const std::string& dir, const std::string& topic, bool from_beginning, bool follow,
                 int64_t max_records, SignalWakeup& signals) {
  absl::StatusOr<broker::TopicRegistry> registry =
      broker::ReadTopicRegistry(FileSystem::Default(), dir);
  if (!registry.ok()) return FilesError(dir, registry.status());
  auto it = registry->find(topic);
  if (it == registry->end()) {
    return FilesError(dir, absl::NotFoundError(fmt::format("topic {} does not exist", topic)));
  }
  std::vector<std::pair<int32_t, LogTail>> tails;
  for (int32_t p = 0; p < it->second.config.partitions; ++p) {
    absl::StatusOr<std::unique_ptr<storage::LogInspector>> log =
        storage::LogInspector::Open(fmt::format("{}/{}-{}", dir, topic, p));
    if (!log.ok()) return FilesError(dir, log.status());
    const int64_t start = FirstOffset(**log);
    tails.emplace_back(p, LogTail(std::move(*log), start));
    // Without --from-beginning a follower starts at the end, as Kafka's console consumer does.
    if (follow && !from_beginning) {
      absl::StatusOr<std::optional<TailProblem>> skipped = tails.back().second.SkipToEnd();
      if (!skipped.ok()) return FilesError(dir, skipped.status());
    }
  }
  SayReadingFiles(dir,
                  "reading its files without a lock (nothing is committed; a --group needs the "
                  "directory)");
  if (it->second.config.flushed_reads_only) {
    // The flushed offset is the owner's to know; the files show what it wrote.
    fmt::print(stderr,
               "brook: note: topic {} reads only flushed records, but from its files records not "
               "yet flushed show too\n",
               topic);
  }
  signals.Watch([] {});
  int64_t printed = 0;
  // Checked at every record, so --max and a signal stop a long first pass too.
  auto more = [&] { return !signals.stopped() && printed < max_records; };
  while (more()) {
    for (auto& [partition, tail] : tails) {
      const int32_t p = partition;
      absl::StatusOr<std::optional<TailProblem>> problem = tail.Read([&](const RecordView& r) {
        if (!more()) return false;
        Print(fmt::format("{}\t{}\t{}\t{}\t{}\n", p, r.offset(), r.timestamp(), KeyField(r),
                          ValueField(r)));
        ++printed;
        return true;
      });
      if (absl::Status written = FlushStdout(); !written.ok()) return FilesError(dir, written);
      if (!problem.ok()) return FilesError(dir, problem.status());
      // A problem in a sealed segment is damage. In the last one it is a batch the application
      // is writing now, whatever a clean-shutdown marker from before it opened says.
      if (*problem && !(*problem)->last_segment) {
        return FilesError(
            dir, absl::DataLossError(fmt::format("{} byte {}: {}", (*problem)->path,
                                                 (*problem)->position, (*problem)->problem)));
      }
      if (!more()) break;
    }
    if (!follow) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (auto& [partition, tail] : tails) {
      if (absl::Status s = tail.Refresh(); !s.ok()) return FilesError(dir, s);
    }
  }
  signals.Stop();
  return 0;
}

}  // namespace

int Consume(const Args& args) {
  const std::string& dir = args.positional[0];
  const std::string& topic = args.positional[1];
  std::optional<std::string> group = args.Get("group");
  if (group && group->empty()) {
    fmt::print(stderr, "brook: --group wants a group id\n");
    return 2;
  }
  std::optional<int64_t> max = IntOption(args, "max", "a record count", 1, INT64_MAX);
  if (!max) return 2;
  bool follow = args.Has("follow");

  SignalWakeup signals;
  // Following keeps the broker's ticker (interval flushes, retention, session timeouts).
  return WithBroker(dir, /*create_if_missing=*/false, /*background_threads=*/follow ? 2 : 0,
                    [&](Broker& broker) -> absl::Status {
                      BROOK_ASSIGN_OR_RETURN(std::shared_ptr<Topic> t, broker.GetTopic(topic));
                      // Where to stop without --follow: the high watermarks now.
                      std::map<TopicPartition, int64_t> end_at_start;
                      for (const std::shared_ptr<Partition>& p : t->partitions()) {
                        end_at_start[p->id()] = p->high_watermark();
                      }
                      ConsumerOptions options;
                      options.group_id = group.value_or("");
                      options.client_id = "brook-cli";
                      // A one-off read of a topic without a group shows what is there; a group or a
                      // follower starts at the end, as Kafka's console consumer does, unless asked
                      // for the beginning.
                      options.auto_offset_reset = args.Has("from-beginning") || (!group && !follow)
                                                      ? OffsetReset::kEarliest
                                                      : OffsetReset::kLatest;
                      BROOK_ASSIGN_OR_RETURN(std::unique_ptr<Consumer> consumer,
                                             Consumer::Create(broker, options));
                      if (group) {
                        BROOK_RETURN_IF_ERROR(consumer->Subscribe({topic}));
                      } else {
                        std::vector<TopicPartition> all;
                        for (const auto& [tp, end] : end_at_start) all.push_back(tp);
                        BROOK_RETURN_IF_ERROR(consumer->Assign(std::move(all)));
                      }
                      signals.Watch([c = consumer.get()] { c->Wakeup(); });
                      absl::Status status = ConsumeLoop(*consumer, end_at_start,
                                                        {.follow = follow,
                                                         .in_group = group.has_value(),
                                                         .max_records = *max,
                                                         .signals = &signals});
                      signals.Stop();
                      // Commits what was printed (for a group) and leaves the group.
                      status.Update(consumer->Close());
                      return status;
                    },
                    // Another process has it: without a group, read the files.
                    group ? std::function<int()>(nullptr) : [&] {
                      return ConsumeFiles(dir, topic, args.Has("from-beginning"), follow, *max,
                                          signals);
                    });
}

namespace {

constexpr char kOffsetsTopic[] = "__consumer_offsets";

void PrintGroupListing(const std::string& group, std::string_view state, std::string members) {
  fmt::print("{:<30}  {:<20}  {:>7}\n", group, state, members);
}

void PrintOffsets(const std::vector<GroupOffset>& offsets) {
  fmt::print("{:<30}  {:>9}  {:>16}  {:>14}  {:>10}\n", "topic", "partition", "committed offset",
             "end offset", "lag");
  for (const GroupOffset& o : offsets) {
    fmt::print("{:<30}  {:>9}  {:>16}  {:>14}  {:>10}\n", o.partition.topic, o.partition.partition,
               o.committed_offset, o.end_offset, o.lag);
  }
}

// The groups' committed offsets as the files of a broker directory another process has open
// hold them: every __consumer_offsets partition read from its start, the latest commit of each
// group and partition kept, tombstones applied. A batch the owner is still writing is not read
// yet. Members, state and generation live in the owning process and are not known here.
absl::StatusOr<std::map<std::string, std::map<TopicPartition, int64_t>>> CommittedOffsetsFromFiles(
    const std::string& dir, const broker::TopicRegistry& registry) {
  std::map<std::string, std::map<TopicPartition, int64_t>> groups;
  auto it = registry.find(kOffsetsTopic);
  if (it == registry.end()) return groups;
  for (int32_t p = 0; p < it->second.config.partitions; ++p) {
    BROOK_ASSIGN_OR_RETURN(
        std::unique_ptr<storage::LogInspector> log,
        storage::LogInspector::Open(fmt::format("{}/{}-{}", dir, kOffsetsTopic, p)));
    LogTail tail(std::move(log), 0);
    absl::Status bad;
    BROOK_RETURN_IF_ERROR(tail.Read([&](const RecordView& r) {
                                if (!r.has_key()) return true;
                                absl::StatusOr<group::OffsetsKey> key = group::DecodeKey(r.key());
                                const auto* commit =
                                    key.ok() ? std::get_if<group::OffsetCommitKey>(&*key) : nullptr;
                                if (commit == nullptr) return true;  // group metadata, or unknown
                                auto& offsets = groups[commit->group];
                                if (!r.has_value()) {
                                  offsets.erase(commit->partition);
                                  return true;
                                }
                                absl::StatusOr<group::OffsetCommitValue> value =
                                    group::DecodeOffsetCommitValue(r.value());
                                if (!value.ok()) {
                                  bad = value.status();
                                  return false;
                                }
                                offsets[commit->partition] = value->offset;
                                return true;
                              })
                              .status());
    BROOK_RETURN_IF_ERROR(bad);
  }
  std::erase_if(groups, [](const auto& g) { return g.second.empty(); });
  return groups;
}

// The end offset of partition `tp` as its files hold it; -1 if the topic is gone.
absl::StatusOr<int64_t> EndOffsetFromFiles(const std::string& dir,
                                           const broker::TopicRegistry& registry,
                                           const TopicPartition& tp) {
  auto it = registry.find(tp.topic);
  if (it == registry.end() || tp.partition >= it->second.config.partitions) return -1;
  BROOK_ASSIGN_OR_RETURN(
      std::unique_ptr<storage::LogInspector> log,
      storage::LogInspector::Open(fmt::format("{}/{}-{}", dir, tp.topic, tp.partition)));
  LogTail tail(std::move(log), 0);
  BROOK_RETURN_IF_ERROR(tail.SkipToEnd().status());
  return tail.next();
}

int TopicsFromFiles(const std::string& dir, const std::string& topic) {
  absl::StatusOr<broker::TopicRegistry> registry =
      broker::ReadTopicRegistry(FileSystem::Default(), dir);
  if (!registry.ok()) return FilesError(dir, registry.status());
  SayReadingFiles(dir,
                  "read from its files (high watermark, flushed offset and bytes are that "
                  "process's, shown as -)");
  if (topic.empty()) {
    for (const auto& [name, t] : *registry) {
      if (!t.internal) fmt::print("{}\n", name);
    }
    return 0;
  }
  auto it = registry->find(topic);
  if (it == registry->end()) {
    return FilesError(dir, absl::NotFoundError(fmt::format("topic {} does not exist", topic)));
  }
  const TopicConfig& config = it->second.config;
  fmt::print("topic: {}\npartitions: {}\ninternal: {}\nconfig:\n", topic, config.partitions,
             it->second.internal ? "yes" : "no");
  for (const auto& [key, value] : config.ToConfigMap()) {
    if (key != "partitions") fmt::print("  {}={}\n", key, value);
  }
  fmt::print("{:>9}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}  {:>8}\n", "partition", "start offset",
             "end offset", "high watermark", "flushed offset", "bytes", "segments");
  for (int32_t p = 0; p < config.partitions; ++p) {
    absl::StatusOr<std::unique_ptr<storage::LogInspector>> log =
        storage::LogInspector::Open(fmt::format("{}/{}-{}", dir, topic, p));
    if (!log.ok()) return FilesError(dir, log.status());
    const int64_t start = FirstOffset(**log);
    const size_t count = (*log)->segments().size();
    LogTail tail(std::move(*log), start);
    if (absl::Status s = tail.SkipToEnd().status(); !s.ok()) return FilesError(dir, s);
    fmt::print("{:>9}  {:>14}  {:>14}  {:>14}  {:>14}  {:>14}  {:>8}\n", p, start, tail.next(), "-",
               "-", "-", count);
  }
  return 0;
}

// `brook groups list|describe` of a directory another process has open (`group` empty: list):
// committed offsets and lag from the files, as kafka-consumer-groups shows them for a running
// cluster; members and state are the owner's, shown as "-".
int GroupsFromFiles(const std::string& dir, const std::string& group) {
  absl::StatusOr<broker::TopicRegistry> registry =
      broker::ReadTopicRegistry(FileSystem::Default(), dir);
  if (!registry.ok()) return FilesError(dir, registry.status());
  absl::StatusOr<std::map<std::string, std::map<TopicPartition, int64_t>>> groups =
      CommittedOffsetsFromFiles(dir, *registry);
  if (!groups.ok()) return FilesError(dir, groups.status());
  SayReadingFiles(dir,
                  "committed offsets read from its files (members and state are that process's, "
                  "not shown)");
  if (group.empty()) {
    PrintGroupListing("group", "state", "members");
    for (const auto& [id, offsets] : *groups) PrintGroupListing(id, "-", "-");
    return 0;
  }
  auto it = groups->find(group);
  if (it == groups->end()) {
    return FilesError(dir,
                      absl::NotFoundError(fmt::format("group {} has no committed offsets", group)));
  }
  fmt::print("group: {}\nstate: -\nprotocol: -\ngeneration: -\nleader: -\nmembers: -\n", group);
  std::vector<GroupOffset> offsets;
  for (const auto& [tp, committed] : it->second) {
    absl::StatusOr<int64_t> end = EndOffsetFromFiles(dir, *registry, tp);
    if (!end.ok()) return FilesError(dir, end.status());
    offsets.push_back({.partition = tp,
                       .committed_offset = committed,
                       .end_offset = *end,
                       .lag = *end < 0 ? 0 : std::max<int64_t>(*end - committed, 0)});
  }
  PrintOffsets(offsets);
  return 0;
}

}  // namespace

int GroupsList(const Args& args) {
  const std::string& dir = args.positional[0];
  return WithBroker(
      dir, /*create_if_missing=*/false, /*background_threads=*/0,
      [](Broker& broker) {
        PrintGroupListing("group", "state", "members");
        for (const GroupListing& g : broker.ListGroups()) {
          PrintGroupListing(g.group_id, GroupStateName(g.state), std::to_string(g.members));
        }
        return absl::OkStatus();
      },
      [&] { return GroupsFromFiles(dir, ""); });
}

int GroupsDescribe(const Args& args) {
  const std::string& dir = args.positional[0];
  return WithBroker(
      dir, /*create_if_missing=*/false, /*background_threads=*/0,
      [&](Broker& broker) -> absl::Status {
        BROOK_ASSIGN_OR_RETURN(GroupDescription group, broker.DescribeGroup(args.positional[1]));
        fmt::print("group: {}\nstate: {}\nprotocol: {}\ngeneration: {}\nleader: {}\nmembers: {}\n",
                   group.group_id, GroupStateName(group.state),
                   group.protocol.empty() ? "-" : group.protocol, group.generation,
                   group.leader.empty() ? "-" : group.leader, group.members.size());
        for (const GroupMemberDescription& m : group.members) {
          std::string assignment;
          for (const TopicPartition& tp : m.assignment) {
            assignment +=
                fmt::format("{}{}-{}", assignment.empty() ? "" : ",", tp.topic, tp.partition);
          }
          fmt::print("  member {} client {} instance {} partitions {}\n", m.member_id, m.client_id,
                     m.group_instance_id.value_or("-"), assignment.empty() ? "-" : assignment);
        }
        PrintOffsets(group.offsets);
        return absl::OkStatus();
      },
      [&] { return GroupsFromFiles(dir, args.positional[1]); });
}

int GroupsDelete(const Args& args) {
  return WithBroker(args.positional[0], [&](Broker& broker) {
    BROOK_RETURN_IF_ERROR(broker.DeleteGroup(args.positional[1]));
    fmt::print("deleted group {} from {}\n", args.positional[1], args.positional[0]);
    return absl::OkStatus();
  });
}

}  // namespace brook::cli
