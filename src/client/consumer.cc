#include "brook/consumer.h"

#include <algorithm>
#include <deque>
#include <set>
#include <thread>

#include "broker/partition_waiter.h"
#include "brook/compression.h"
#include "brook/status.h"
#include "fmt/format.h"
#include "group/group_coordinator.h"
#include "util/format.h"
#include "util/mutex.h"
#include "util/status_macros.h"

namespace brook::detail {
namespace {

using SteadyClock = std::chrono::steady_clock;

bool Is(const absl::Status& s, ErrorCode code) { return GetErrorCode(s) == code; }

// Where the last Poll stopped inside what it read, so the next one goes on from there: no second
// Read, no second CRC check of a batch, no decoding again of the records before the position.
// Used only while the position is still `position` (a Seek or reset drops it) and the log has
// not been truncated since the Read (Log::truncations(); a cut zeroes bytes in place).
struct Cursor {
  std::shared_ptr<const ReadResult> read;  // pins the bytes `next` points into
  size_t batch = 0;                        // read->batches()[batch] holds the next record
  bool verified = false;                   // that batch's CRC was checked
  bool mid_batch = false;                  // `next` is set (uncompressed batches only)
  RecordBatchView::RecordIterator next;    // the next record in that batch
  int64_t position = -1;
  int64_t truncations = 0;  // the log's truncations() before the Read
};

struct Assigned {
  std::shared_ptr<Partition> partition;
  int64_t position = -1;  // -1: not known yet (committed offset or reset pending)
  bool paused = false;
  Cursor cursor;
};

}  // namespace

class ConsumerImpl {
 public:
  ConsumerImpl(Broker& broker, ConsumerOptions options)
      : broker_(broker), options_(std::move(options)), coordinator_(broker.coordinator()) {
    // The rebalance protocol: cooperative only if every configured assignor supports it.
    protocol_ = RebalanceProtocol::kCooperative;
    for (const std::string& name : options_.assignors) {
      std::unique_ptr<PartitionAssignor> a = MakeAssignor(name);
      std::vector<RebalanceProtocol> p = a->supported_protocols();
      if (std::find(p.begin(), p.end(), RebalanceProtocol::kCooperative) == p.end()) {
        protocol_ = RebalanceProtocol::kEager;
      }
    }
    last_auto_commit_ = SteadyClock::now();
  }

  ~ConsumerImpl() {
    absl::Status s = Close();
    if (!s.ok()) Say(LogLevel::kWarning, fmt::format("closing consumer: {}", s));
    StopAsyncThread();
  }

  absl::Status Subscribe(std::vector<std::string> topics);
  absl::Status Assign(std::vector<TopicPartition> partitions);
  absl::Status Unsubscribe();
  std::vector<TopicPartition> assignment() const {
    std::vector<TopicPartition> out;
    for (const auto& [tp, a] : assigned_) out.push_back(tp);
    return out;
  }
  std::vector<std::string> subscription() const { return subscription_; }
  absl::StatusOr<ConsumerRecords> Poll(std::chrono::milliseconds timeout);
  void Wakeup() {
    wakeup_.store(true);
    waiter_.Notify();
  }
  absl::StatusOr<int64_t> Position(const TopicPartition& tp);
  absl::Status Seek(const TopicPartition& tp, int64_t offset);
  absl::Status SeekTo(const std::vector<TopicPartition>& partitions, bool beginning);
  absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> OffsetsForTimes(
      const std::map<TopicPartition, int64_t>& timestamps) const;
  void SetPaused(const std::vector<TopicPartition>& partitions, bool paused) {
    for (const TopicPartition& tp : partitions) {
      auto it = assigned_.find(tp);
      if (it != assigned_.end()) it->second.paused = paused;
    }
  }
  std::vector<TopicPartition> paused() const {
    std::vector<TopicPartition> out;
    for (const auto& [tp, a] : assigned_) {
      if (a.paused) out.push_back(tp);
    }
    return out;
  }
  absl::Status Commit();
  absl::Status Commit(const std::map<TopicPartition, int64_t>& offsets);
  void CommitAsync(std::function<void(const absl::Status&)> done);
  absl::StatusOr<std::map<TopicPartition, int64_t>> Committed(
      const std::vector<TopicPartition>& partitions) const;
  std::map<TopicPartition, int64_t> Lag();
  absl::Status Close();
  const std::string& member_id() const { return member_id_; }
  int32_t generation() const { return generation_; }

 private:
  void Say(LogLevel level, std::string_view message) const {
    const Logger& logger = broker_.options().logger;
    if (logger) logger(level, message);
  }
  bool subscribed() const { return !subscription_.empty(); }
  absl::Status DriveGroup();
  absl::Status JoinGroup();
  void ApplyAssignment(const SyncGroupResult& result);
  // Adds those it can open (a warning for the others) and returns them.
  std::vector<TopicPartition> AddPartitions(const std::vector<TopicPartition>& partitions);
  void RemovePartitions(const std::vector<TopicPartition>& partitions);
  // An assigned partition whose topic was deleted and created again under its name is a new
  // partition: read it through its new handle, from a position resolved afresh (the old one,
  // and the old topic's committed offsets, belong to the deleted topic). A deleted topic not
  // created again keeps its handle, whose reads fail with UNKNOWN_TOPIC_OR_PARTITION.
  void ReplaceDeletedPartitions();
  // Commits (with auto-commit) and tells the listener, then drops the partitions.
  void Revoke(const std::vector<TopicPartition>& partitions);
  // Drops every partition without committing (the member was removed).
  void LoseAll();
  // Leaving the group: revokes the partitions if this member still owns them, or, if the
  // coordinator already removed it (poll interval, session, fencing), reports them lost, as
  // Kafka's onLeavePrepare does: a listener that saves its progress in on_revoked must not
  // overwrite the new owner's.
  void RevokeOrLoseOnLeave();
  std::map<std::string, int32_t> PartitionCounts() const;
  absl::Status ResolvePosition(const TopicPartition& tp, Assigned& a);
  absl::Status ResetPosition(const TopicPartition& tp, Assigned& a, std::string_view why);
  absl::Status Fetch(ConsumerRecords* records);
  void MaybeAutoCommit();
  absl::Status CommitBeforeLeaving();
  std::map<TopicPartition, int64_t> Positions(const std::vector<TopicPartition>& partitions) const;
  void RunAsyncCallbacks();
  // Synchronous commits and rebalances wait for queued async commits, so an older async commit
  // never lands after a newer one.
  void WaitForAsyncCommits();
  void StopAsyncThread();
  void AsyncLoop();

  Broker& broker_;
  const ConsumerOptions options_;
  GroupCoordinator& coordinator_;
  RebalanceProtocol protocol_;
  PartitionWaiter waiter_;
  std::atomic<bool> wakeup_{false};
  bool closed_ = false;
  absl::Status fenced_;         // set once: every later Poll fails with it
  absl::Status pending_error_;  // a fetch error to report after the records before it

  std::vector<std::string> subscription_;
  std::map<TopicPartition, Assigned> assigned_;
  size_t next_partition_ = 0;  // round-robin start across Polls, for fairness

  // Group membership.
  std::string member_id_;
  int32_t generation_ = -1;
  bool need_join_ = false;
  bool joining_ = false;
  std::map<std::string, int32_t> joined_counts_;  // partition counts seen at the last join

  SteadyClock::time_point last_auto_commit_;

  // The last Poll's records point into these.
  std::vector<std::shared_ptr<const ReadResult>> held_;
  std::vector<std::shared_ptr<Partition>> held_partitions_;
  std::deque<std::vector<std::byte>> decompressed_;  // compressed batches' records
  size_t decompressed_bytes_ = 0;                    // in decompressed_; bounded per Poll

  // CommitAsync: a worker thread, started on first use.
  Mutex async_mu_;
  CondVar async_cv_;
  struct AsyncCommit {
    std::string member_id;  // "" with generation -1: a commit without membership
    int32_t generation = -1;
    OffsetMap offsets;
    std::vector<std::function<void(const absl::Status&)>> done;  // one per CommitAsync call
  };
  // Commits not yet started. A CommitAsync for the same membership as the last one merges into
  // it (its offsets win, as they would written after it), so an application that commits faster
  // than commits are stored keeps at most one waiting commit, not one per call.
  std::deque<AsyncCommit> async_queue_ ABSL_GUARDED_BY(async_mu_);
  std::vector<std::pair<absl::Status, std::function<void(const absl::Status&)>>> async_done_
      ABSL_GUARDED_BY(async_mu_);
  bool async_stop_ ABSL_GUARDED_BY(async_mu_) = false;
  bool async_in_flight_ ABSL_GUARDED_BY(async_mu_) = false;
  std::thread async_thread_;
};

absl::Status ConsumerImpl::Subscribe(std::vector<std::string> topics) {
  if (closed_) return absl::FailedPreconditionError("consumer is closed");
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("Subscribe needs ConsumerOptions.group_id");
  }
  if (!subscribed() && !assigned_.empty()) {
    return absl::FailedPreconditionError(
        "the consumer has a manual assignment: Unsubscribe before Subscribe");
  }
  if (topics.empty()) return Unsubscribe();
  std::sort(topics.begin(), topics.end());
  topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
  // With auto_create_topics, subscribing creates unknown topics (as a Kafka consumer's metadata
  // request does); without it, an unknown topic is assigned once it exists.
  for (const std::string& t : topics) {
    absl::StatusOr<std::shared_ptr<Topic>> topic = broker_.GetOrCreateTopic(t);
    if (!topic.ok() && !absl::IsNotFound(topic.status())) return topic.status();
  }
  if (topics != subscription_) {
    subscription_ = std::move(topics);
    need_join_ = true;
    if (protocol_ == RebalanceProtocol::kCooperative) {
      // As Kafka's cooperative consumer before it rejoins: partitions of topics no longer
      // subscribed are revoked now (committed first), not read on until the rebalance ends.
      // Eager members revoke everything at the join anyway.
      std::vector<TopicPartition> dropped;
      for (const auto& [tp, a] : assigned_) {
        if (!std::binary_search(subscription_.begin(), subscription_.end(), tp.topic)) {
          dropped.push_back(tp);
        }
      }
      Revoke(dropped);
    }
  }
  return absl::OkStatus();
}

absl::Status ConsumerImpl::Assign(std::vector<TopicPartition> partitions) {
  if (closed_) return absl::FailedPreconditionError("consumer is closed");
  if (subscribed()) {
    return absl::FailedPreconditionError(
        "the consumer is subscribed to topics: Unsubscribe before Assign");
  }
  std::vector<std::shared_ptr<Partition>> resolved;
  for (const TopicPartition& tp : partitions) {
    BROOK_ASSIGN_OR_RETURN(std::shared_ptr<Partition> p, broker_.GetPartition(tp));
    resolved.push_back(std::move(p));
  }
  // As Kafka's assign(): what was consumed so far is committed (asynchronously, with
  // auto-commit) before the assignment changes, and partitions that stay keep their position,
  // pause state and read cursor.
  std::set<TopicPartition> target(partitions.begin(), partitions.end());
  std::vector<TopicPartition> removed;
  for (const auto& [tp, a] : assigned_) {
    if (!target.contains(tp)) removed.push_back(tp);
  }
  if (!removed.empty() && options_.enable_auto_commit && !options_.group_id.empty()) {
    CommitAsync(nullptr);
  }
  RemovePartitions(removed);
  for (size_t i = 0; i < partitions.size(); ++i) {
    auto [it, inserted] = assigned_.try_emplace(partitions[i]);
    if (!inserted) continue;
    it->second.partition = resolved[i];
    it->second.partition->AddWaiter(&waiter_);
  }
  return absl::OkStatus();
}

absl::Status ConsumerImpl::Unsubscribe() {
  WaitForAsyncCommits();
  if (subscribed()) {
    if (options_.enable_auto_commit && !member_id_.empty()) {
      absl::Status s = CommitBeforeLeaving();
      if (!s.ok()) Say(LogLevel::kWarning, fmt::format("commit on unsubscribe: {}", s));
    }
    if (!member_id_.empty()) {
      RevokeOrLoseOnLeave();
    } else {
      RemovePartitions(assignment());
    }
    if (!member_id_.empty()) {
      absl::Status s =
          coordinator_.Leave(options_.group_id, member_id_, options_.group_instance_id);
      if (!s.ok()) Say(LogLevel::kInfo, fmt::format("leaving group: {}", s));
    }
    member_id_.clear();
    generation_ = -1;
    joining_ = need_join_ = false;
    subscription_.clear();
  } else {
    RemovePartitions(assignment());
  }
  return absl::OkStatus();
}

std::vector<TopicPartition> ConsumerImpl::AddPartitions(
    const std::vector<TopicPartition>& partitions) {
  std::vector<TopicPartition> added;
  for (const TopicPartition& tp : partitions) {
    absl::StatusOr<std::shared_ptr<Partition>> p = broker_.GetPartition(tp);
    if (!p.ok()) {
      Say(LogLevel::kWarning,
          fmt::format("assigned {}-{} but cannot open it: {}", tp.topic, tp.partition, p.status()));
      continue;
    }
    auto [it, inserted] = assigned_.try_emplace(tp);
    if (!inserted) continue;
    it->second.partition = std::move(*p);
    it->second.partition->AddWaiter(&waiter_);
    added.push_back(tp);
  }
  return added;
}

void ConsumerImpl::ReplaceDeletedPartitions() {
  for (auto& [tp, a] : assigned_) {
    if (!a.partition->deleted()) continue;
    absl::StatusOr<std::shared_ptr<Partition>> p = broker_.GetPartition(tp);
    if (!p.ok() || (*p)->deleted()) continue;
    a.partition->RemoveWaiter(&waiter_);
    a.partition = std::move(*p);
    a.partition->AddWaiter(&waiter_);
    a.position = -1;
    a.cursor = Cursor{};
  }
}

void ConsumerImpl::RemovePartitions(const std::vector<TopicPartition>& partitions) {
  for (const TopicPartition& tp : partitions) {
    auto it = assigned_.find(tp);
    if (it == assigned_.end()) continue;
    it->second.partition->RemoveWaiter(&waiter_);
    assigned_.erase(it);
  }
}

void ConsumerImpl::Revoke(const std::vector<TopicPartition>& partitions) {
  if (partitions.empty()) return;
  if (options_.enable_auto_commit && !options_.group_id.empty()) {
    absl::Status s = Commit(Positions(partitions));
    if (!s.ok()) Say(LogLevel::kWarning, fmt::format("commit on revocation: {}", s));
  }
  if (options_.listener.on_revoked) options_.listener.on_revoked(partitions);
  RemovePartitions(partitions);
}

void ConsumerImpl::RevokeOrLoseOnLeave() {
  absl::Status s = coordinator_.Heartbeat(options_.group_id, member_id_, generation_, false,
                                          options_.group_instance_id);
  if (Is(s, ErrorCode::kUnknownMemberId) || Is(s, ErrorCode::kIllegalGeneration) ||
      Is(s, ErrorCode::kFencedInstanceId)) {
    LoseAll();
    return;
  }
  std::vector<TopicPartition> owned = assignment();
  if (!owned.empty() && options_.listener.on_revoked) options_.listener.on_revoked(owned);
  RemovePartitions(owned);
}

void ConsumerImpl::LoseAll() {
  std::vector<TopicPartition> lost = assignment();
  if (!lost.empty() && options_.listener.on_lost) options_.listener.on_lost(lost);
  RemovePartitions(lost);
}

std::map<std::string, int32_t> ConsumerImpl::PartitionCounts() const {
  std::map<std::string, int32_t> counts;
  for (const std::string& t : subscription_) {
    absl::StatusOr<std::shared_ptr<Topic>> topic = broker_.GetTopic(t);
    if (topic.ok() && !(*topic)->deleted()) counts[t] = (*topic)->partition_count();
  }
  return counts;
}

absl::Status ConsumerImpl::JoinGroup() {
  WaitForAsyncCommits();
  // Eager: every partition is revoked before the join, but the sticky assignor still needs the
  // member's previous assignment (Kafka's StickyAssignor sends it in its subscription's user
  // data); cooperative members keep theirs and report what they own. Not when the group may
  // choose cooperative-sticky (an eager member listing it beside an eager assignor, Kafka's
  // upgrade path): that assignor would take the reported partitions as still held, withhold
  // them from their new owners until a revocation this member never makes, and leave them
  // unowned.
  std::vector<TopicPartition> owned = assignment();
  if (protocol_ == RebalanceProtocol::kEager) {
    Revoke(owned);
    const std::vector<std::string>& names = options_.assignors;
    if (std::find(names.begin(), names.end(), "cooperative-sticky") != names.end()) owned.clear();
  }
  JoinGroupRequest request;
  request.group_id = options_.group_id;
  request.member_id = member_id_;
  request.group_instance_id = options_.group_instance_id;
  request.client_id = options_.client_id;
  request.session_timeout = options_.session_timeout;
  request.rebalance_timeout = options_.max_poll_interval;
  request.assignors = options_.assignors;
  request.topics = subscription_;
  request.owned_partitions = std::move(owned);
  request.owned_generation = generation_;
  request.waiter = &waiter_;
  joined_counts_ = PartitionCounts();
  absl::StatusOr<std::string> id = coordinator_.Join(request);
  if (!id.ok()) {
    if (Is(id.status(), ErrorCode::kUnknownMemberId)) {
      LoseAll();
      member_id_.clear();
      generation_ = -1;
      return absl::OkStatus();  // join again as a new member on the next round
    }
    return id.status();
  }
  member_id_ = *id;
  need_join_ = false;
  joining_ = true;
  return absl::OkStatus();
}

void ConsumerImpl::ApplyAssignment(const SyncGroupResult& result) {
  std::set<TopicPartition> target(result.assignment.begin(), result.assignment.end());
  std::vector<TopicPartition> revoked, added;
  for (const auto& [tp, a] : assigned_) {
    if (!target.contains(tp)) revoked.push_back(tp);
  }
  for (const TopicPartition& tp : target) {
    if (!assigned_.contains(tp)) added.push_back(tp);
  }
  generation_ = result.generation;
  joining_ = false;
  if (!revoked.empty()) {
    Revoke(revoked);
    // Cooperative: the partitions given up go to their new owner in a follow-up rebalance.
    need_join_ = true;
  }
  added = AddPartitions(added);
  if (options_.listener.on_assigned) options_.listener.on_assigned(added);
}

absl::Status ConsumerImpl::DriveGroup() {
  for (int round = 0; round < 3; ++round) {
    if (member_id_.empty() || need_join_) {
      BROOK_RETURN_IF_ERROR(JoinGroup());
      if (member_id_.empty()) continue;
    }
    if (joining_) {
      absl::StatusOr<std::optional<SyncGroupResult>> r =
          coordinator_.Sync(options_.group_id, member_id_, options_.group_instance_id);
      if (!r.ok()) {
        if (Is(r.status(), ErrorCode::kRebalanceInProgress)) {
          need_join_ = true;
          continue;
        }
        LoseAll();
        member_id_.clear();
        generation_ = -1;
        joining_ = false;
        if (Is(r.status(), ErrorCode::kFencedInstanceId)) return r.status();
        continue;
      }
      if (!r->has_value()) return absl::OkStatus();  // the rebalance is still in progress
      ApplyAssignment(**r);
      if (need_join_) continue;
      return absl::OkStatus();
    }
    if (PartitionCounts() != joined_counts_) {  // a subscribed topic appeared or grew
      need_join_ = true;
      continue;
    }
    absl::Status s = coordinator_.Heartbeat(options_.group_id, member_id_, generation_, true,
                                            options_.group_instance_id);
    if (s.ok()) return s;
    if (Is(s, ErrorCode::kRebalanceInProgress)) {
      need_join_ = true;
      continue;
    }
    // Removed (poll interval, session), fenced or out of date: the partitions are gone.
    LoseAll();
    if (!Is(s, ErrorCode::kIllegalGeneration)) member_id_.clear();
    generation_ = -1;
    need_join_ = true;
    if (Is(s, ErrorCode::kFencedInstanceId)) return s;
  }
  return absl::OkStatus();
}

absl::Status ConsumerImpl::ResetPosition(const TopicPartition& tp, Assigned& a,
                                         std::string_view why) {
  switch (options_.auto_offset_reset) {
    case OffsetReset::kEarliest:
      a.position = a.partition->start_offset();
      return absl::OkStatus();
    case OffsetReset::kLatest:
      a.position = a.partition->high_watermark();
      return absl::OkStatus();
    case OffsetReset::kNone:
      break;
  }
  return WithErrorCode(absl::OutOfRangeError(fmt::format("{}-{}: {} and auto_offset_reset is none",
                                                         tp.topic, tp.partition, why)),
                       ErrorCode::kOffsetOutOfRange);
}

absl::Status ConsumerImpl::ResolvePosition(const TopicPartition& tp, Assigned& a) {
  if (a.position >= 0) return absl::OkStatus();
  if (!options_.group_id.empty()) {
    OffsetMap committed = coordinator_.Committed(options_.group_id, {tp});
    auto it = committed.find(tp);
    if (it != committed.end()) {
      int64_t offset = it->second.offset;
      if (offset >= a.partition->start_offset() && offset <= a.partition->end_offset()) {
        a.position = offset;
        return absl::OkStatus();
      }
      return ResetPosition(tp, a, fmt::format("the committed offset {} is out of range", offset));
    }
  }
  return ResetPosition(tp, a, "there is no committed offset");
}

absl::Status ConsumerImpl::Fetch(ConsumerRecords* records) {
  size_t budget = options_.max_poll_records;
  std::vector<std::pair<const TopicPartition*, Assigned*>> order;
  for (auto& [tp, a] : assigned_) order.emplace_back(&tp, &a);
  if (order.empty()) return absl::OkStatus();
  size_t start = next_partition_++ % order.size();
  for (size_t k = 0; k < order.size() && budget > 0; ++k) {
    const TopicPartition& tp = *order[(start + k) % order.size()].first;
    Assigned& a = *order[(start + k) % order.size()].second;
    if (a.paused) continue;
    if (decompressed_bytes_ > options_.max_decompressed_batch_bytes) break;  // enough this Poll
    BROOK_RETURN_IF_ERROR(ResolvePosition(tp, a));
    if (a.position > a.partition->end_offset()) {
      BROOK_RETURN_IF_ERROR(
          ResetPosition(tp, a, fmt::format("position {} is past the end offset", a.position)));
    }
    int64_t high_watermark = a.partition->high_watermark();
    if (a.position >= high_watermark) continue;
    // Go on from the last Poll's cursor, or read afresh. The CRC is checked per batch when its
    // first record is taken (check_crcs), so batches read but left for a later Poll cost nothing.
    Cursor from = std::move(a.cursor);
    a.cursor = Cursor{};
    const int64_t truncations = a.partition->log().truncations();
    if (from.read == nullptr || from.position != a.position || from.truncations != truncations ||
        a.partition->deleted()) {
      absl::StatusOr<ReadResult> read = a.partition->Read(
          a.position,
          ReadOptions{.max_bytes = options_.max_partition_fetch_bytes, .verify = false});
      if (!read.ok()) {
        if (Is(read.status(), ErrorCode::kOffsetOutOfRange) &&
            a.position < a.partition->start_offset()) {
          BROOK_RETURN_IF_ERROR(ResetPosition(
              tp, a, fmt::format("position {} is below the start offset", a.position)));
          continue;
        }
        return read.status();
      }
      from = Cursor{.read = std::make_shared<const ReadResult>(std::move(*read)),
                    .truncations = truncations};
    }
    const std::shared_ptr<const ReadResult>& read = from.read;
    const std::string& topic = a.partition->id().topic;
    bool used = false;
    for (size_t i = from.batch; i < read->size(); ++i) {
      const RecordBatchView& batch = read->batches()[i];
      if (batch.base_offset() >= high_watermark || budget == 0) {
        a.cursor =
            Cursor{.read = read, .batch = i, .position = a.position, .truncations = truncations};
        break;
      }
      const bool resume = i == from.batch && from.mid_batch;
      if (options_.check_crcs && !(i == from.batch && from.verified) && !batch.crc_ok()) {
        return WithErrorCode(
            absl::DataLossError(fmt::format(
                "{}-{}: the batch at offset {} ({} bytes) fails its CRC-32C check: the log is "
                "damaged there",
                tp.topic, tp.partition, batch.base_offset(), batch.size_bytes())),
            ErrorCode::kCorruptMessage);
      }
      if (batch.is_control()) {
        a.position = std::max(a.position, batch.next_offset());
        continue;
      }
      RecordBatchView view = batch;
      if (batch.compression() != Compression::kNone) {
        absl::StatusOr<std::vector<std::byte>> plain =
            DecompressBatch(batch, options_.max_decompressed_batch_bytes);
        if (!plain.ok()) {
          return absl::Status(
              plain.status().code(),
              fmt::format("{}-{}: {}", tp.topic, tp.partition, plain.status().message()));
        }
        decompressed_bytes_ += plain->size();
        decompressed_.push_back(std::move(*plain));
        absl::StatusOr<RecordBatchView> parsed =
            RecordBatchView::Parse(decompressed_.back(), Verify::kHeader);
        if (!parsed.ok()) return parsed.status();
        view = *parsed;
      }
      bool whole = true;
      RecordBatchView::RecordIterator it = resume ? from.next : view.records().begin();
      for (const RecordBatchView::RecordIterator end; it != end; ++it) {
        const RecordView& record = *it;
        if (record.offset() < a.position) continue;
        if (record.offset() >= high_watermark || budget == 0) {
          whole = false;
          break;
        }
        if (!used) {
          // Pinned before anything can return: records already taken stay valid when a later
          // batch of this read fails its CRC check.
          held_.push_back(read);
          held_partitions_.push_back(a.partition);
          used = true;
        }
        records->push_back(ConsumerRecord{topic, tp.partition, record});
        a.position = record.offset() + 1;
        --budget;
      }
      if (!whole) {
        // Decompressed records live only until the next Poll: such a batch is decoded again.
        const bool plain = batch.compression() == Compression::kNone;
        a.cursor = Cursor{.read = read,
                          .batch = i,
                          .verified = true,
                          .mid_batch = plain,
                          .next = plain ? it : RecordBatchView::RecordIterator(),
                          .position = a.position,
                          .truncations = truncations};
        break;
      }
      // Compacted batches may end with offsets no record holds.
      a.position = std::max(a.position, batch.next_offset());
    }
  }
  return absl::OkStatus();
}

std::map<TopicPartition, int64_t> ConsumerImpl::Positions(
    const std::vector<TopicPartition>& partitions) const {
  std::map<TopicPartition, int64_t> out;
  for (const TopicPartition& tp : partitions) {
    auto it = assigned_.find(tp);
    // Not a deleted topic's position: a topic created again under its name would get it.
    if (it != assigned_.end() && it->second.position >= 0 && !it->second.partition->deleted()) {
      out[tp] = it->second.position;
    }
  }
  return out;
}

void ConsumerImpl::MaybeAutoCommit() {
  if (!options_.enable_auto_commit || options_.group_id.empty() || assigned_.empty()) return;
  auto now = SteadyClock::now();
  if (now - last_auto_commit_ < options_.auto_commit_interval) return;
  last_auto_commit_ = now;
  absl::Status s = Commit();
  if (!s.ok()) Say(LogLevel::kInfo, fmt::format("auto-commit: {}", s));
}

absl::StatusOr<ConsumerRecords> ConsumerImpl::Poll(std::chrono::milliseconds timeout) {
  if (closed_) return absl::FailedPreconditionError("consumer is closed");
  held_.clear();
  held_partitions_.clear();
  decompressed_.clear();
  decompressed_bytes_ = 0;
  RunAsyncCallbacks();
  auto deadline = SteadyClock::now() + timeout;
  ConsumerRecords records;
  if (!fenced_.ok()) return fenced_;
  if (!pending_error_.ok()) {
    // Records fetched before this error were returned by the last Poll.
    absl::Status s = std::move(pending_error_);
    pending_error_ = absl::OkStatus();
    return s;
  }
  while (true) {
    // Read before the flag: a Wakeup between the two then bumps the sequence past `seen`, so
    // the wait below returns at once instead of sleeping through it.
    uint64_t seen = waiter_.sequence();
    if (wakeup_.exchange(false)) return absl::CancelledError("consumer woken up");
    if (subscribed()) {
      absl::Status s = DriveGroup();
      if (Is(s, ErrorCode::kFencedInstanceId)) {
        // Another live instance has this group.instance.id: fatal, as in Kafka. Rejoining would
        // fence it in turn and both would fetch the same partitions.
        fenced_ = s;
        LoseAll();
        member_id_.clear();
        return s;
      }
      BROOK_RETURN_IF_ERROR(s);
    }
    ReplaceDeletedPartitions();
    MaybeAutoCommit();
    if (absl::Status s = Fetch(&records); !s.ok()) {
      if (records.empty()) return s;
      pending_error_ = std::move(s);  // deliver what was fetched (positions moved past it)
      return records;
    }
    if (!records.empty()) return records;
    auto now = SteadyClock::now();
    if (now >= deadline) return records;
    // Wake at least a few times per poll interval so the coordinator sees us polling.
    auto wait_until = std::min(deadline, now + options_.max_poll_interval / 4);
    if (options_.enable_auto_commit) {
      wait_until = std::min(wait_until, last_auto_commit_ + options_.auto_commit_interval);
    }
    waiter_.Wait(seen, wait_until, options_.poll_spin);
  }
}

absl::StatusOr<int64_t> ConsumerImpl::Position(const TopicPartition& tp) {
  ReplaceDeletedPartitions();
  auto it = assigned_.find(tp);
  if (it == assigned_.end()) {
    return absl::FailedPreconditionError(
        fmt::format("{}-{} is not assigned to this consumer", tp.topic, tp.partition));
  }
  BROOK_RETURN_IF_ERROR(ResolvePosition(tp, it->second));
  return it->second.position;
}

absl::Status ConsumerImpl::Seek(const TopicPartition& tp, int64_t offset) {
  ReplaceDeletedPartitions();  // else the next Poll's swap would undo this seek
  auto it = assigned_.find(tp);
  if (it == assigned_.end()) {
    return absl::FailedPreconditionError(
        fmt::format("{}-{} is not assigned to this consumer", tp.topic, tp.partition));
  }
  if (offset < 0) {
    return absl::InvalidArgumentError(fmt::format("cannot seek to offset {}", offset));
  }
  it->second.position = offset;
  return absl::OkStatus();
}

absl::Status ConsumerImpl::SeekTo(const std::vector<TopicPartition>& partitions, bool beginning) {
  ReplaceDeletedPartitions();
  std::vector<TopicPartition> targets = partitions.empty() ? assignment() : partitions;
  for (const TopicPartition& tp : targets) {
    auto it = assigned_.find(tp);
    if (it == assigned_.end()) {
      return absl::FailedPreconditionError(
          fmt::format("{}-{} is not assigned to this consumer", tp.topic, tp.partition));
    }
    it->second.position =
        beginning ? it->second.partition->start_offset() : it->second.partition->high_watermark();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> ConsumerImpl::OffsetsForTimes(
    const std::map<TopicPartition, int64_t>& timestamps) const {
  std::map<TopicPartition, std::optional<int64_t>> out;
  for (const auto& [tp, ts] : timestamps) {
    BROOK_ASSIGN_OR_RETURN(std::shared_ptr<Partition> p, broker_.GetPartition(tp));
    absl::StatusOr<int64_t> offset = p->log().OffsetForTimestamp(ts);
    if (offset.ok()) {
      // As Kafka's ListOffsets for consumers: only offsets below the high watermark (for a
      // flushed-only topic, records a crash could still take back are not found).
      if (*offset < p->high_watermark()) {
        out[tp] = *offset;
      } else {
        out[tp] = std::nullopt;
      }
    } else if (absl::IsNotFound(offset.status())) {
      out[tp] = std::nullopt;
    } else {
      return offset.status();
    }
  }
  return out;
}

absl::Status ConsumerImpl::Commit() {
  ReplaceDeletedPartitions();
  std::map<TopicPartition, int64_t> positions = Positions(assignment());
  std::string deleted;  // partitions of deleted topics, whose positions Positions leaves out
  for (const auto& [tp, a] : assigned_) {
    if (a.position >= 0 && a.partition->deleted()) {
      deleted += fmt::format("{}{}-{}", deleted.empty() ? "" : ", ", tp.topic, tp.partition);
    }
  }
  BROOK_RETURN_IF_ERROR(Commit(positions));
  if (deleted.empty()) return absl::OkStatus();
  return WithErrorCode(
      absl::NotFoundError(
          fmt::format("group {}: {} deleted: their positions are not committed (the other {} were)",
                      options_.group_id, deleted, positions.size())),
      ErrorCode::kUnknownTopicOrPartition);
}

absl::Status ConsumerImpl::Commit(const std::map<TopicPartition, int64_t>& offsets) {
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("Commit needs ConsumerOptions.group_id");
  }
  WaitForAsyncCommits();
  if (offsets.empty()) return absl::OkStatus();
  OffsetMap map;
  for (const auto& [tp, offset] : offsets) map[tp] = OffsetAndMetadata{.offset = offset};
  if (subscribed()) {
    if (member_id_.empty()) {
      return WithErrorCode(absl::FailedPreconditionError(fmt::format(
                               "group {}: not a member yet, nothing to commit", options_.group_id)),
                           ErrorCode::kUnknownMemberId);
    }
    return coordinator_.Commit(options_.group_id, member_id_, generation_, map,
                               options_.group_instance_id);
  }
  return coordinator_.Commit(options_.group_id, "", -1, map);
}

void ConsumerImpl::WaitForAsyncCommits() {
  MutexLock l(&async_mu_);
  while (!async_queue_.empty() || async_in_flight_) async_cv_.Wait(&async_mu_);
}

void ConsumerImpl::CommitAsync(std::function<void(const absl::Status&)> done) {
  if (closed_) {
    if (done) done(absl::FailedPreconditionError("consumer is closed"));
    return;
  }
  AsyncCommit commit;
  if (subscribed()) {
    commit.member_id = member_id_;
    commit.generation = generation_;
  }
  for (const auto& [tp, offset] : Positions(assignment())) {
    commit.offsets[tp] = OffsetAndMetadata{.offset = offset};
  }
  MutexLock l(&async_mu_);
  if (!async_thread_.joinable()) async_thread_ = std::thread([this] { AsyncLoop(); });
  if (!async_queue_.empty() && async_queue_.back().member_id == commit.member_id &&
      async_queue_.back().generation == commit.generation) {
    AsyncCommit& waiting = async_queue_.back();
    for (auto& [tp, om] : commit.offsets) waiting.offsets[tp] = std::move(om);
    if (done) waiting.done.push_back(std::move(done));
    return;
  }
  if (done) commit.done.push_back(std::move(done));
  async_queue_.push_back(std::move(commit));
  async_cv_.SignalAll();
}

void ConsumerImpl::AsyncLoop() {
  MutexLock l(&async_mu_);
  while (true) {
    while (async_queue_.empty() && !async_stop_) async_cv_.Wait(&async_mu_);
    if (async_queue_.empty()) return;
    AsyncCommit commit = std::move(async_queue_.front());
    async_queue_.pop_front();
    async_in_flight_ = true;
    async_mu_.Unlock();
    absl::Status s;
    if (options_.group_id.empty()) {
      s = absl::FailedPreconditionError("Commit needs ConsumerOptions.group_id");
    } else if (!commit.offsets.empty()) {
      s = coordinator_.Commit(options_.group_id, commit.member_id, commit.generation,
                              commit.offsets, options_.group_instance_id);
    }
    async_mu_.Lock();
    async_in_flight_ = false;
    for (auto& fn : commit.done) async_done_.emplace_back(s, std::move(fn));
    async_cv_.SignalAll();
  }
}

void ConsumerImpl::RunAsyncCallbacks() {
  std::vector<std::pair<absl::Status, std::function<void(const absl::Status&)>>> done;
  {
    MutexLock l(&async_mu_);
    done.swap(async_done_);
  }
  for (auto& [s, fn] : done) {
    if (fn) fn(s);
  }
}

absl::StatusOr<std::map<TopicPartition, int64_t>> ConsumerImpl::Committed(
    const std::vector<TopicPartition>& partitions) const {
  if (options_.group_id.empty()) {
    return absl::FailedPreconditionError("Committed needs ConsumerOptions.group_id");
  }
  std::map<TopicPartition, int64_t> out;
  for (const auto& [tp, om] : coordinator_.Committed(options_.group_id, partitions)) {
    out[tp] = om.offset;
  }
  return out;
}

std::map<TopicPartition, int64_t> ConsumerImpl::Lag() {
  std::map<TopicPartition, int64_t> out;
  for (auto& [tp, a] : assigned_) {
    if (!ResolvePosition(tp, a).ok()) continue;
    out[tp] = std::max<int64_t>(0, a.partition->high_watermark() - a.position);
  }
  return out;
}

absl::Status ConsumerImpl::CommitBeforeLeaving() {
  // A cooperative member keeps fetching while a rebalance runs, so the group may be a
  // generation ahead: catch up (rejoining if need be) and commit under the current one, so the
  // next owner of these partitions starts exactly where this member stopped.
  auto deadline = SteadyClock::now() + std::min<std::chrono::milliseconds>(
                                           options_.max_poll_interval, std::chrono::seconds(10));
  while (true) {
    absl::Status s = Commit();
    bool retriable = Is(s, ErrorCode::kIllegalGeneration) || Is(s, ErrorCode::kRebalanceInProgress);
    if (s.ok() || !retriable || SteadyClock::now() >= deadline || member_id_.empty()) return s;
    uint64_t seen = waiter_.sequence();
    BROOK_RETURN_IF_ERROR(DriveGroup());
    if (joining_) {
      waiter_.Wait(seen, std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(100)),
                   std::chrono::microseconds(0));
    }
  }
}

void ConsumerImpl::StopAsyncThread() {
  {
    MutexLock l(&async_mu_);
    async_stop_ = true;
    async_cv_.SignalAll();
  }
  if (async_thread_.joinable()) async_thread_.join();
}

absl::Status ConsumerImpl::Close() {
  if (closed_) return absl::OkStatus();
  absl::Status result;
  StopAsyncThread();
  RunAsyncCallbacks();
  if (subscribed() && !member_id_.empty()) {
    if (options_.enable_auto_commit) {
      result = CommitBeforeLeaving();
      if (!result.ok()) Say(LogLevel::kWarning, fmt::format("commit on close: {}", result));
    }
    RevokeOrLoseOnLeave();
    if (options_.group_instance_id) {
      // A static member keeps its place for session_timeout (KIP-345).
      coordinator_.StopHeartbeats(options_.group_id, member_id_);
    } else {
      absl::Status s =
          coordinator_.Leave(options_.group_id, member_id_, options_.group_instance_id);
      if (!s.ok()) Say(LogLevel::kInfo, fmt::format("leaving group: {}", s));
    }
  } else {
    if (subscribed()) coordinator_.StopHeartbeats(options_.group_id, member_id_);
    if (!subscribed() && options_.enable_auto_commit && !options_.group_id.empty() &&
        !assigned_.empty()) {
      result = Commit();
    }
    RemovePartitions(assignment());
  }
  held_.clear();
  held_partitions_.clear();
  decompressed_.clear();
  closed_ = true;
  return result;
}

}  // namespace brook::detail

namespace brook {

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(Broker& broker,
                                                           ConsumerOptions options) {
  if (options.assignors.empty()) {
    return absl::InvalidArgumentError("ConsumerOptions.assignors must name at least one");
  }
  for (const std::string& a : options.assignors) {
    if (MakeAssignor(a) == nullptr) {
      return absl::InvalidArgumentError(fmt::format(
          "ConsumerOptions.assignors: unknown assignor '{}' (range, roundrobin, sticky, "
          "cooperative-sticky)",
          a));
    }
  }
  if (options.max_poll_records == 0) {
    return absl::InvalidArgumentError("ConsumerOptions.max_poll_records must be positive");
  }
  if (options.max_poll_interval.count() <= 0 || options.session_timeout.count() <= 0) {
    return absl::InvalidArgumentError(
        "ConsumerOptions.max_poll_interval and session_timeout must be positive");
  }
  if (options.group_instance_id && options.group_instance_id->empty()) {
    return absl::InvalidArgumentError("ConsumerOptions.group_instance_id must not be empty");
  }
  return std::unique_ptr<Consumer>(
      new Consumer(std::make_unique<detail::ConsumerImpl>(broker, std::move(options))));
}

Consumer::Consumer(std::unique_ptr<detail::ConsumerImpl> impl) : impl_(std::move(impl)) {}
Consumer::~Consumer() = default;
absl::Status Consumer::Subscribe(std::vector<std::string> topics) {
  return impl_->Subscribe(std::move(topics));
}
absl::Status Consumer::Assign(std::vector<TopicPartition> partitions) {
  return impl_->Assign(std::move(partitions));
}
absl::Status Consumer::Unsubscribe() { return impl_->Unsubscribe(); }
std::vector<TopicPartition> Consumer::assignment() const { return impl_->assignment(); }
std::vector<std::string> Consumer::subscription() const { return impl_->subscription(); }
absl::StatusOr<ConsumerRecords> Consumer::Poll(std::chrono::milliseconds timeout) {
  return impl_->Poll(timeout);
}
void Consumer::Wakeup() { impl_->Wakeup(); }
absl::StatusOr<int64_t> Consumer::Position(const TopicPartition& tp) const {
  return impl_->Position(tp);
}
absl::Status Consumer::Seek(const TopicPartition& tp, int64_t offset) {
  return impl_->Seek(tp, offset);
}
absl::Status Consumer::SeekToBeginning(const std::vector<TopicPartition>& partitions) {
  return impl_->SeekTo(partitions, /*beginning=*/true);
}
absl::Status Consumer::SeekToEnd(const std::vector<TopicPartition>& partitions) {
  return impl_->SeekTo(partitions, /*beginning=*/false);
}
absl::StatusOr<std::map<TopicPartition, std::optional<int64_t>>> Consumer::OffsetsForTimes(
    const std::map<TopicPartition, int64_t>& timestamps) const {
  return impl_->OffsetsForTimes(timestamps);
}
void Consumer::Pause(const std::vector<TopicPartition>& partitions) {
  impl_->SetPaused(partitions, true);
}
void Consumer::Resume(const std::vector<TopicPartition>& partitions) {
  impl_->SetPaused(partitions, false);
}
std::vector<TopicPartition> Consumer::paused() const { return impl_->paused(); }
absl::Status Consumer::Commit() { return impl_->Commit(); }
absl::Status Consumer::Commit(const std::map<TopicPartition, int64_t>& offsets) {
  return impl_->Commit(offsets);
}
void Consumer::CommitAsync(std::function<void(const absl::Status&)> done) {
  impl_->CommitAsync(std::move(done));
}
absl::StatusOr<std::map<TopicPartition, int64_t>> Consumer::Committed(
    const std::vector<TopicPartition>& partitions) const {
  return impl_->Committed(partitions);
}
std::map<TopicPartition, int64_t> Consumer::Lag() const { return impl_->Lag(); }
absl::Status Consumer::Close() { return impl_->Close(); }
std::string Consumer::member_id() const { return impl_->member_id(); }
int32_t Consumer::generation() const { return impl_->generation(); }

}  // namespace brook
