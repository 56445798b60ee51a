#include "group/group_coordinator.h"

#include <algorithm>
#include <deque>
#include <random>
#include <set>

#include "broker/partition_waiter.h"
#include "brook/compression.h"
#include "brook/record_batch_builder.h"
#include "brook/status.h"
#include "fmt/format.h"
#include "group/offsets_records.h"
#include "util/format.h"
#include "util/mutex.h"
#include "util/status_macros.h"

namespace brook::detail {
namespace {

constexpr size_t kMaxGroupIdBytes = 255;
constexpr size_t kMaxMetadataBytes = 4096;  // Kafka's offset.metadata.max.bytes
// Replaced static member ids a group remembers, to fence a zombie instance (it gets
// FENCED_INSTANCE_ID, not UNKNOWN_MEMBER_ID, which would make it rejoin and fence its
// replacement in turn). The oldest are forgotten first. Kafka instead checks the instance id
// every request carries.
constexpr size_t kMaxFencedIds = 1024;

absl::Status GroupError(absl::StatusCode code, ErrorCode kafka, std::string message) {
  return WithErrorCode(absl::Status(code, message), kafka);
}

absl::Status UnknownMember(const std::string& group, const std::string& member) {
  return GroupError(
      absl::StatusCode::kFailedPrecondition, ErrorCode::kUnknownMemberId,
      fmt::format("group {}: member {} is not a member (removed or never joined)", group, member));
}

int64_t ToMs(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

struct Member {
  std::string id;
  std::optional<std::string> instance_id;
  std::string client_id;
  std::chrono::milliseconds session_timeout{0};
  std::chrono::milliseconds rebalance_timeout{0};
  std::vector<std::string> assignors;
  std::vector<std::string> topics;
  std::vector<TopicPartition> owned;
  int32_t owned_generation = -1;
  bool implied_heartbeats = true;
  bool heartbeats_stopped = false;  // its Consumer closed without leaving (static)
  bool poll_expired = false;        // a static member that missed max.poll.interval.ms
  PartitionWaiter* waiter = nullptr;
  bool joined = false;    // has joined the rebalance in progress
  bool unsynced = false;  // has not collected its assignment of the last completed rebalance
  std::vector<TopicPartition> assignment;
  int64_t last_heartbeat_ms = 0;
  int64_t last_poll_ms = 0;
  uint64_t join_order = 0;

  void Wake() const {
    if (waiter != nullptr) waiter->Notify();
  }
};

struct Group {
  std::string id;
  GroupState state = GroupState::kEmpty;
  int32_t generation = 0;
  std::string protocol;
  std::string leader;
  std::map<std::string, Member> members;
  std::map<std::string, std::string> static_members;  // instance id -> member id
  std::set<std::string> fenced;                       // replaced static member ids
  std::deque<std::string> fenced_order;               // the same, oldest first
  int64_t rebalance_deadline_ms = 0;
  int64_t join_not_before_ms = 0;
  int64_t empty_since_ms = 0;
  OffsetMap offsets;
};

}  // namespace

struct GroupCoordinator::Impl {
  explicit Impl(CoordinatorOptions o) : options(std::move(o)) {}

  CoordinatorOptions options;
  // Held across a commit's append, so the log and the in-memory offsets agree on the order of
  // commits. Taken before mu.
  mutable Mutex commit_mu ABSL_ACQUIRED_BEFORE(mu);
  mutable Mutex mu;
  std::map<std::string, Group> groups ABSL_GUARDED_BY(mu);
  uint64_t join_counter ABSL_GUARDED_BY(mu) = 0;
  std::mt19937_64 rng ABSL_GUARDED_BY(mu){std::random_device{}()};

  int64_t Now() const { return ToMs(options.clock->Monotonic()); }

  Group& GetGroup(const std::string& id, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto [it, inserted] = groups.try_emplace(id);
    if (inserted) {
      it->second.id = id;
      it->second.empty_since_ms = now;
    }
    return it->second;
  }
  void Say(LogLevel level, const std::string& message) const {
    if (options.logger) options.logger(level, message);
  }

  Partition& OffsetsPartition(const std::string& group) const {
    int32_t n = static_cast<int32_t>(options.offsets_partitions.size());
    return *options.offsets_partitions[static_cast<size_t>(group::OffsetsPartitionFor(group, n))];
  }

  absl::Status AppendRecords(
      const std::string& group,
      const std::vector<std::pair<std::string, std::optional<std::string>>>& records,
      Durability durability) const;

  // Member lookups that tell a fenced static member from an unknown one. As Kafka's coordinator:
  // a request naming an instance id that now belongs to another member is fenced, however long
  // ago the replacement was; without an instance id, the last kMaxFencedIds replaced ids are.
  absl::StatusOr<Member*> FindMember(Group& g, const std::string& member_id,
                                     const std::optional<std::string>& instance_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto fenced = [&] {
      return GroupError(absl::StatusCode::kFailedPrecondition, ErrorCode::kFencedInstanceId,
                        fmt::format("group {}: member {} was replaced by a newer instance with "
                                    "the same group.instance.id",
                                    g.id, member_id));
    };
    if (instance_id) {
      auto s = g.static_members.find(*instance_id);
      if (s != g.static_members.end() && s->second != member_id) return fenced();
    }
    auto it = g.members.find(member_id);
    if (it != g.members.end()) return &it->second;
    if (g.fenced.contains(member_id)) return fenced();
    return UnknownMember(g.id, member_id);
  }

  void PrepareRebalance(Group& g, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    g.state = GroupState::kPreparingRebalance;
    std::chrono::milliseconds timeout{0};
    for (auto& [id, m] : g.members) {
      m.joined = false;
      timeout = std::max(timeout, m.rebalance_timeout);
    }
    g.rebalance_deadline_ms = now + timeout.count();
    for (auto& [id, m] : g.members) m.Wake();
  }

  void RemoveMember(Group& g, const std::string& member_id, std::string_view why, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = g.members.find(member_id);
    if (it == g.members.end()) return;
    Say(LogLevel::kInfo, fmt::format("group {}: removing member {} ({})", g.id, member_id, why));
    it->second.Wake();
    if (it->second.instance_id) g.static_members.erase(*it->second.instance_id);
    g.members.erase(it);
    if (g.leader == member_id) g.leader.clear();
    if (g.state == GroupState::kStable) {
      if (g.members.empty()) {
        CompleteRebalance(g, now);
      } else {
        PrepareRebalance(g, now);
      }
    } else if (g.state == GroupState::kPreparingRebalance) {
      TryComplete(g, now);
    }
  }

  void TryComplete(Group& g, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (g.state != GroupState::kPreparingRebalance) return;
    bool all_joined = std::all_of(g.members.begin(), g.members.end(),
                                  [](const auto& e) { return e.second.joined; });
    if (now < g.join_not_before_ms && now < g.rebalance_deadline_ms) return;
    if (!all_joined && now < g.rebalance_deadline_ms) return;
    std::vector<std::string> late;
    for (const auto& [id, m] : g.members) {
      if (!m.joined) late.push_back(id);
    }
    for (const std::string& id : late) {
      auto it = g.members.find(id);
      Say(LogLevel::kInfo, fmt::format("group {}: removing member {} (did not rejoin within the "
                                       "rebalance timeout)",
                                       g.id, id));
      it->second.Wake();
      if (it->second.instance_id) g.static_members.erase(*it->second.instance_id);
      g.members.erase(it);
    }
    CompleteRebalance(g, now);
  }

  // Picks the assignor every member supports that most members prefer (Kafka's vote).
  std::string ChooseProtocol(const Group& g) const {
    std::vector<std::string> candidates;
    bool first = true;
    for (const auto& [id, m] : g.members) {
      if (first) {
        candidates = m.assignors;
        first = false;
        continue;
      }
      const std::vector<std::string>& supported = m.assignors;
      std::erase_if(candidates, [&](const std::string& c) {
        return std::find(supported.begin(), supported.end(), c) == supported.end();
      });
    }
    std::map<std::string, int> votes;
    for (const auto& [id, m] : g.members) {
      for (const std::string& a : m.assignors) {
        if (std::find(candidates.begin(), candidates.end(), a) != candidates.end()) {
          ++votes[a];
          break;
        }
      }
    }
    std::string best;
    int best_votes = -1;
    for (const std::string& c : candidates) {  // ties go to the earlier candidate
      if (votes[c] > best_votes) {
        best = c;
        best_votes = votes[c];
      }
    }
    return best;
  }

  void CompleteRebalance(Group& g, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++g.generation;
    if (g.members.empty()) {
      g.state = GroupState::kEmpty;
      g.protocol.clear();
      g.leader.clear();
      g.empty_since_ms = now;
      PersistGroup(g);
      return;
    }
    g.protocol = ChooseProtocol(g);
    std::unique_ptr<PartitionAssignor> assignor = MakeAssignor(g.protocol);
    std::vector<GroupMemberSubscription> subscriptions;
    std::set<std::string> topic_set;
    for (const auto& [id, m] : g.members) {
      subscriptions.push_back({.member_id = m.id,
                               .group_instance_id = m.instance_id,
                               .topics = m.topics,
                               .owned_partitions = m.owned,
                               .generation = m.owned_generation});
      topic_set.insert(m.topics.begin(), m.topics.end());
    }
    std::map<std::string, int32_t> counts =
        options.partition_counts(std::vector<std::string>(topic_set.begin(), topic_set.end()));
    GroupAssignment assignment;
    if (assignor != nullptr) assignment = assignor->Assign(counts, subscriptions);
    if (g.leader.empty() || !g.members.contains(g.leader)) {
      const Member* leader = nullptr;
      for (const auto& [id, m] : g.members) {
        if (leader == nullptr || m.join_order < leader->join_order) leader = &m;
      }
      g.leader = leader->id;
    }
    for (auto& [id, m] : g.members) {
      m.assignment = std::move(assignment[id]);
      m.joined = false;
      m.unsynced = true;
      m.last_heartbeat_ms = now;
    }
    g.state = GroupState::kStable;
    PersistGroup(g);
    for (auto& [id, m] : g.members) m.Wake();
  }

  // Writes the group's metadata record (not synced: the generation is informational after a
  // restart, since every member of the previous run is gone).
  void PersistGroup(const Group& g) const {
    group::GroupMetadataValue v;
    v.generation = g.generation;
    if (!g.protocol.empty()) v.protocol = g.protocol;
    if (!g.leader.empty()) v.leader = g.leader;
    v.current_state_timestamp_ms = options.clock->NowMs();
    for (const auto& [id, m] : g.members) {
      v.members.push_back(
          {.member_id = m.id,
           .group_instance_id = m.instance_id,
           .client_id = m.client_id,
           .client_host = "localhost",
           .rebalance_timeout_ms = static_cast<int32_t>(m.rebalance_timeout.count()),
           .session_timeout_ms = static_cast<int32_t>(m.session_timeout.count()),
           .topics = m.topics,
           .assignment = m.assignment});
    }
    absl::Status s = AppendRecords(
        g.id, {{group::EncodeKey(group::GroupMetadataKey{g.id}), group::EncodeValue(v)}},
        Durability::kAppended);
    if (!s.ok()) {
      Say(LogLevel::kWarning, fmt::format("group {}: writing group metadata (generation {}): {}",
                                          g.id, g.generation, s));
    }
  }

  // Deletes the offsets of an empty group that retention says are expired (re-checked here,
  // under commit_mu, so a commit that arrived meanwhile is kept).
  absl::Status ExpireOffsets(const std::string& group_id);

  void ExpireMembers(Group& g, int64_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::vector<std::pair<std::string, std::string>> remove;
    for (auto& [id, m] : g.members) {
      bool implied = m.implied_heartbeats && !m.heartbeats_stopped && !m.poll_expired;
      if (implied) {
        bool waiting_in_rebalance = g.state == GroupState::kPreparingRebalance && m.joined;
        if (!waiting_in_rebalance && now - m.last_poll_ms > m.rebalance_timeout.count()) {
          if (m.instance_id) {
            // A static member stops heartbeating; the session timeout removes it unless it
            // polls again first.
            m.poll_expired = true;
            m.last_heartbeat_ms = now;
            continue;
          }
          remove.emplace_back(id, "no poll within max.poll.interval.ms");
          continue;
        }
        m.last_heartbeat_ms = now;
      } else if (now - m.last_heartbeat_ms > m.session_timeout.count()) {
        remove.emplace_back(id, "session timeout");
      }
    }
    for (const auto& [id, why] : remove) RemoveMember(g, id, why, now);
  }
};

absl::Status GroupCoordinator::Impl::AppendRecords(
    const std::string& group,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& records,
    Durability durability) const {
  Partition& partition = OffsetsPartition(group);
  int64_t now = options.clock->NowMs();
  // One batch, so a commit is all or nothing (Log::Append refuses one over the topic's
  // max.message.bytes).
  RecordBatchBuilder builder;
  for (const auto& [key, value] : records) {
    builder.Append(now, key, value ? std::optional<std::string_view>(*value) : std::nullopt);
  }
  return partition.Append(builder.Finish(), AppendOptions{.durability = durability}).status();
}

GroupCoordinator::GroupCoordinator(CoordinatorOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

GroupCoordinator::~GroupCoordinator() = default;

const std::vector<std::shared_ptr<Partition>>& GroupCoordinator::offsets_partitions() const {
  return impl_->options.offsets_partitions;
}

absl::Status GroupCoordinator::Load() {
  MutexLock l(&impl_->mu);
  int64_t now = impl_->Now();
  for (const std::shared_ptr<Partition>& p : impl_->options.offsets_partitions) {
    int64_t offset = p->start_offset();
    while (offset < p->end_offset()) {
      BROOK_ASSIGN_OR_RETURN(ReadResult read, p->Read(offset, ReadOptions{}));
      if (read.empty()) break;
      for (const RecordBatchView& batch : read) {
        absl::Status visited =
            VisitRecords(batch, kMaxDecompressedRecordsBytes, [&](const RecordView& record) {
              if (record.offset() < offset) return;
              absl::StatusOr<group::OffsetsKey> key = group::DecodeKey(record.key());
              if (!key.ok()) {
                impl_->Say(LogLevel::kWarning,
                           fmt::format("__consumer_offsets-{} offset {}: skipped: {}",
                                       p->id().partition, record.offset(), key.status()));
                return;
              }
              if (auto* commit = std::get_if<group::OffsetCommitKey>(&*key)) {
                Group& g = impl_->groups[commit->group];
                g.id = commit->group;
                g.empty_since_ms = now;
                if (!record.has_value()) {
                  g.offsets.erase(commit->partition);
                  return;
                }
                absl::StatusOr<group::OffsetCommitValue> v =
                    group::DecodeOffsetCommitValue(record.value());
                if (!v.ok()) {
                  impl_->Say(LogLevel::kWarning,
                             fmt::format("__consumer_offsets-{} offset {}: skipped: {}",
                                         p->id().partition, record.offset(), v.status()));
                  return;
                }
                g.offsets[commit->partition] = {v->offset, v->metadata, v->commit_timestamp_ms};
              } else if (auto* meta = std::get_if<group::GroupMetadataKey>(&*key)) {
                if (!record.has_value()) {
                  impl_->groups.erase(meta->group);
                  return;
                }
                absl::StatusOr<group::GroupMetadataValue> v =
                    group::DecodeGroupMetadataValue(record.value());
                if (!v.ok()) {
                  impl_->Say(LogLevel::kWarning,
                             fmt::format("__consumer_offsets-{} offset {}: skipped: {}",
                                         p->id().partition, record.offset(), v.status()));
                  return;
                }
                Group& g = impl_->groups[meta->group];
                g.id = meta->group;
                g.generation = std::max(g.generation, v->generation);
                g.empty_since_ms = now;
              }
            });
        if (!visited.ok()) {
          impl_->Say(LogLevel::kWarning,
                     fmt::format("__consumer_offsets-{} batch at offset {}: skipped: {}",
                                 p->id().partition, batch.base_offset(), visited));
        }
        offset = batch.next_offset();
      }
    }
  }
  // Members of the previous run are gone with it: every group starts empty.
  return absl::OkStatus();
}

absl::StatusOr<std::string> GroupCoordinator::Join(const JoinGroupRequest& request) {
  if (request.group_id.empty() || request.group_id.size() > kMaxGroupIdBytes) {
    return GroupError(absl::StatusCode::kInvalidArgument, ErrorCode::kInvalidGroupId,
                      fmt::format("group id must be 1-{} bytes", kMaxGroupIdBytes));
  }
  const CoordinatorOptions& o = impl_->options;
  if (request.session_timeout < o.min_session_timeout ||
      request.session_timeout > o.max_session_timeout) {
    return GroupError(absl::StatusCode::kInvalidArgument, ErrorCode::kInvalidSessionTimeout,
                      fmt::format("group {}: session timeout {} ms is outside the broker's "
                                  "[{}, {}] ms",
                                  request.group_id, request.session_timeout.count(),
                                  o.min_session_timeout.count(), o.max_session_timeout.count()));
  }
  if (request.client_id.size() > kMaxGroupIdBytes ||
      (request.group_instance_id &&
       (request.group_instance_id->empty() || request.group_instance_id->size() > 249))) {
    return GroupError(absl::StatusCode::kInvalidArgument, ErrorCode::kInvalidRequest,
                      fmt::format("group {}: client id must be at most {} bytes and "
                                  "group.instance.id 1-249 bytes",
                                  request.group_id, kMaxGroupIdBytes));
  }
  if (request.assignors.empty()) {
    return GroupError(
        absl::StatusCode::kInvalidArgument, ErrorCode::kInconsistentGroupProtocol,
        fmt::format("group {}: a member needs at least one assignor", request.group_id));
  }
  for (const std::string& a : request.assignors) {
    if (MakeAssignor(a) == nullptr) {
      return GroupError(absl::StatusCode::kInvalidArgument, ErrorCode::kInconsistentGroupProtocol,
                        fmt::format("unknown assignor '{}'", a));
    }
  }
  MutexLock l(&impl_->mu);
  int64_t now = impl_->Now();
  Group& g = impl_->GetGroup(request.group_id, now);
  impl_->ExpireMembers(g, now);

  // Some assignor must be supported by every member, the joiner included.
  std::vector<std::string> common = request.assignors;
  for (const auto& entry : g.members) {
    if (entry.first == request.member_id) continue;
    const std::vector<std::string>& supported = entry.second.assignors;
    std::erase_if(common, [&](const std::string& a) {
      return std::find(supported.begin(), supported.end(), a) == supported.end();
    });
  }
  if (common.empty()) {
    return GroupError(absl::StatusCode::kInvalidArgument, ErrorCode::kInconsistentGroupProtocol,
                      fmt::format("group {}: no assignor is supported by every member and this "
                                  "one",
                                  g.id));
  }

  Member* member = nullptr;
  bool static_replaced_stable = false;
  if (request.member_id.empty()) {
    std::string id;
    do {
      id = fmt::format("{}-{:016x}", request.client_id.empty() ? "consumer" : request.client_id,
                       impl_->rng());
    } while (g.members.contains(id));
    if (request.group_instance_id) {
      auto it = g.static_members.find(*request.group_instance_id);
      if (it != g.static_members.end()) {
        // A static member restarting: it takes the old member's place (and assignment).
        auto node = g.members.extract(it->second);
        if (g.fenced_order.size() >= kMaxFencedIds) {
          g.fenced.erase(g.fenced_order.front());
          g.fenced_order.pop_front();
        }
        g.fenced.insert(node.key());
        g.fenced_order.push_back(node.key());
        if (g.leader == node.key()) g.leader = id;
        node.key() = id;
        node.mapped().id = id;
        g.members.insert(std::move(node));
        it->second = id;
        member = &g.members[id];
        static_replaced_stable = g.state == GroupState::kStable && member->topics == request.topics;
      }
    }
    if (member == nullptr) {
      member = &g.members[id];
      member->id = id;
      member->join_order = ++impl_->join_counter;
      if (request.group_instance_id) g.static_members[*request.group_instance_id] = id;
    }
  } else {
    BROOK_ASSIGN_OR_RETURN(member,
                           impl_->FindMember(g, request.member_id, request.group_instance_id));
  }
  member->instance_id = request.group_instance_id;
  member->client_id = request.client_id;
  member->session_timeout = request.session_timeout;
  member->rebalance_timeout = request.rebalance_timeout;
  member->assignors = request.assignors;
  member->topics = request.topics;
  member->owned = request.owned_partitions;
  member->owned_generation = request.owned_generation;
  member->implied_heartbeats = request.implied_heartbeats;
  member->heartbeats_stopped = false;
  member->poll_expired = false;
  member->waiter = request.waiter;
  member->last_heartbeat_ms = now;
  member->last_poll_ms = now;
  std::string member_id = member->id;

  if (static_replaced_stable) {
    // Same subscription: it gets its previous assignment without a rebalance (KIP-345).
    member->joined = false;
    return member_id;
  }
  member->joined = true;
  switch (g.state) {
    case GroupState::kEmpty:
    case GroupState::kDead:
      g.state = GroupState::kPreparingRebalance;
      g.rebalance_deadline_ms = now + request.rebalance_timeout.count();
      g.join_not_before_ms = now + o.initial_rebalance_delay.count();
      break;
    case GroupState::kStable:
    case GroupState::kCompletingRebalance:
      impl_->PrepareRebalance(g, now);
      member->joined = true;
      break;
    case GroupState::kPreparingRebalance:
      g.rebalance_deadline_ms =
          std::max(g.rebalance_deadline_ms, now + request.rebalance_timeout.count());
      break;
  }
  impl_->TryComplete(g, now);
  return member_id;
}

absl::StatusOr<std::optional<SyncGroupResult>> GroupCoordinator::Sync(
    const std::string& group_id, const std::string& member_id,
    const std::optional<std::string>& instance_id) {
  MutexLock l(&impl_->mu);
  int64_t now = impl_->Now();
  auto git = impl_->groups.find(group_id);
  if (git == impl_->groups.end()) return UnknownMember(group_id, member_id);
  Group& g = git->second;
  impl_->ExpireMembers(g, now);
  impl_->TryComplete(g, now);
  BROOK_ASSIGN_OR_RETURN(Member * m, impl_->FindMember(g, member_id, instance_id));
  m->last_poll_ms = now;
  m->last_heartbeat_ms = now;
  m->poll_expired = false;
  // A member that has not collected the last completed assignment gets it even if the next
  // rebalance has started (the generation has not moved yet): it then revokes what that
  // assignment took away before it rejoins. Without this, members that poll at different times
  // keep rejoining with stale ownership and a cooperative group converges one partition at a
  // time.
  if (g.state == GroupState::kPreparingRebalance && !(m->unsynced && !m->joined)) {
    if (m->joined) return std::optional<SyncGroupResult>();
    return GroupError(absl::StatusCode::kAborted, ErrorCode::kRebalanceInProgress,
                      fmt::format("group {} is rebalancing: join again", g.id));
  }
  m->unsynced = false;
  SyncGroupResult r;
  r.generation = g.generation;
  r.protocol = g.protocol;
  std::unique_ptr<PartitionAssignor> assignor = MakeAssignor(g.protocol);
  if (assignor != nullptr) {
    auto protocols = assignor->supported_protocols();
    if (std::find(protocols.begin(), protocols.end(), RebalanceProtocol::kCooperative) !=
        protocols.end()) {
      r.rebalance_protocol = RebalanceProtocol::kCooperative;
    }
  }
  r.assignment = m->assignment;
  return std::optional<SyncGroupResult>(std::move(r));
}

absl::Status GroupCoordinator::Heartbeat(const std::string& group_id, const std::string& member_id,
                                         int32_t generation, bool polled,
                                         const std::optional<std::string>& instance_id) {
  MutexLock l(&impl_->mu);
  int64_t now = impl_->Now();
  auto git = impl_->groups.find(group_id);
  if (git == impl_->groups.end()) return UnknownMember(group_id, member_id);
  Group& g = git->second;
  {
    // Record the heartbeat before expiring anyone, so a slow poller is not removed by the very
    // poll that shows it alive.
    auto it = g.members.find(member_id);
    if (it != g.members.end()) {
      it->second.last_heartbeat_ms = now;
      if (polled) {
        it->second.last_poll_ms = now;
        it->second.poll_expired = false;
      }
    }
  }
  impl_->ExpireMembers(g, now);
  impl_->TryComplete(g, now);
  BROOK_ASSIGN_OR_RETURN(Member * m, impl_->FindMember(g, member_id, instance_id));
  (void)m;
  if (g.state == GroupState::kPreparingRebalance) {
    return GroupError(absl::StatusCode::kAborted, ErrorCode::kRebalanceInProgress,
                      fmt::format("group {} is rebalancing: join again", g.id));
  }
  if (generation != g.generation) {
    return GroupError(absl::StatusCode::kFailedPrecondition, ErrorCode::kIllegalGeneration,
                      fmt::format("group {}: generation {} is not the current {}", g.id, generation,
                                  g.generation));
  }
  return absl::OkStatus();
}

absl::Status GroupCoordinator::Leave(const std::string& group_id, const std::string& member_id,
                                     const std::optional<std::string>& instance_id) {
  MutexLock l(&impl_->mu);
  auto git = impl_->groups.find(group_id);
  if (git == impl_->groups.end()) return UnknownMember(group_id, member_id);
  Group& g = git->second;
  BROOK_ASSIGN_OR_RETURN(Member * m, impl_->FindMember(g, member_id, instance_id));
  m->waiter = nullptr;
  impl_->RemoveMember(g, member_id, "left the group", impl_->Now());
  return absl::OkStatus();
}

void GroupCoordinator::StopHeartbeats(const std::string& group_id, const std::string& member_id) {
  MutexLock l(&impl_->mu);
  auto git = impl_->groups.find(group_id);
  if (git == impl_->groups.end()) return;
  auto it = git->second.members.find(member_id);
  if (it == git->second.members.end()) return;
  it->second.heartbeats_stopped = true;
  it->second.waiter = nullptr;
  it->second.last_heartbeat_ms = impl_->Now();
}

absl::Status GroupCoordinator::Commit(const std::string& group_id, const std::string& member_id,
                                      int32_t generation, const OffsetMap& offsets,
                                      const std::optional<std::string>& instance_id) {
  if (group_id.empty() || group_id.size() > kMaxGroupIdBytes) {
    return GroupError(absl::StatusCode::kInvalidArgument, ErrorCode::kInvalidGroupId,
                      fmt::format("group id must be 1-{} bytes", kMaxGroupIdBytes));
  }
  for (const auto& [tp, om] : offsets) {
    if (om.offset < 0) {
      return absl::InvalidArgumentError(
          fmt::format("group {}: commit of offset {} for {}-{}: offsets are >= 0", group_id,
                      om.offset, tp.topic, tp.partition));
    }
    if (om.metadata.size() > kMaxMetadataBytes) {
      return absl::InvalidArgumentError(
          fmt::format("group {}: commit metadata for {}-{} is {} bytes, over the {}-byte limit",
                      group_id, tp.topic, tp.partition, om.metadata.size(), kMaxMetadataBytes));
    }
  }
  MutexLock commit(&impl_->commit_mu);
  {
    MutexLock l(&impl_->mu);
    Group& g = impl_->GetGroup(group_id, impl_->Now());
    if (member_id.empty() && generation < 0) {
      if (!g.members.empty()) {
        return GroupError(absl::StatusCode::kFailedPrecondition, ErrorCode::kUnknownMemberId,
                          fmt::format("group {} has members: commits need a member id and "
                                      "generation",
                                      group_id));
      }
    } else {
      BROOK_ASSIGN_OR_RETURN(Member * m, impl_->FindMember(g, member_id, instance_id));
      (void)m;
      if (generation != g.generation) {
        return GroupError(absl::StatusCode::kFailedPrecondition, ErrorCode::kIllegalGeneration,
                          fmt::format("group {}: commit from generation {}, the group is at {}",
                                      group_id, generation, g.generation));
      }
    }
  }
  // As Kafka's OffsetCommit, partition by partition: the ones that exist are committed, the
  // others are refused (UNKNOWN_TOPIC_OR_PARTITION). Checked under commit_mu, which
  // DeleteTopicOffsets also takes, so a deleted topic's offsets cannot come back after its
  // tombstones.
  OffsetMap known;
  std::vector<TopicPartition> unknown;
  if (impl_->options.existing_partitions) {
    std::set<std::string> names;
    for (const auto& [tp, om] : offsets) names.insert(tp.topic);
    std::map<std::string, int32_t> counts =
        impl_->options.existing_partitions(std::vector<std::string>(names.begin(), names.end()));
    for (const auto& [tp, om] : offsets) {
      auto it = counts.find(tp.topic);
      if (it == counts.end() || tp.partition < 0 || tp.partition >= it->second) {
        unknown.push_back(tp);
      } else {
        known.emplace(tp, om);
      }
    }
  } else {
    known = offsets;
  }
  if (!known.empty()) {
    int64_t now_ms = impl_->options.clock->NowMs();
    std::vector<std::pair<std::string, std::optional<std::string>>> records;
    for (const auto& [tp, om] : known) {
      records.emplace_back(
          group::EncodeKey(group::OffsetCommitKey{group_id, tp}),
          group::EncodeValue(group::OffsetCommitValue{
              .offset = om.offset, .metadata = om.metadata, .commit_timestamp_ms = now_ms}));
    }
    BROOK_RETURN_IF_ERROR(
        impl_->AppendRecords(group_id, records, impl_->options.commit_durability));
    MutexLock l(&impl_->mu);
    Group& g = impl_->GetGroup(group_id, impl_->Now());
    for (const auto& [tp, om] : known) g.offsets[tp] = {om.offset, om.metadata, now_ms};
  }
  if (!unknown.empty()) {
    std::string names;
    for (const TopicPartition& tp : unknown) {
      names += fmt::format("{}{}-{}", names.empty() ? "" : ", ", tp.topic, tp.partition);
    }
    return GroupError(
        absl::StatusCode::kNotFound, ErrorCode::kUnknownTopicOrPartition,
        fmt::format("group {}: no such topic partition: {} (not committed; the other {} were)",
                    group_id, names, known.size()));
  }
  return absl::OkStatus();
}

OffsetMap GroupCoordinator::Committed(const std::string& group_id,
                                      const std::vector<TopicPartition>& partitions) const {
  MutexLock commit(&impl_->commit_mu);  // a commit being written is seen once it is stored
  MutexLock l(&impl_->mu);
  auto git = impl_->groups.find(group_id);
  if (git == impl_->groups.end()) return {};
  if (partitions.empty()) return git->second.offsets;
  OffsetMap out;
  for (const TopicPartition& tp : partitions) {
    auto it = git->second.offsets.find(tp);
    if (it != git->second.offsets.end()) out.emplace(tp, it->second);
  }
  return out;
}

absl::Status GroupCoordinator::Step() {
  std::vector<std::string> candidates;
  {
    MutexLock l(&impl_->mu);
    int64_t now = impl_->Now();
    for (auto& [id, g] : impl_->groups) {
      impl_->ExpireMembers(g, now);
      impl_->TryComplete(g, now);
      if (impl_->options.offsets_retention.count() >= 0 && g.state == GroupState::kEmpty &&
          !g.offsets.empty()) {
        candidates.push_back(id);
      }
    }
  }
  absl::Status first;
  for (const std::string& id : candidates) {
    absl::Status s = impl_->ExpireOffsets(id);
    if (!s.ok() && first.ok()) first = s;
  }
  // A group with no members and no offsets is dead (Kafka removes it too): without this, every
  // refused join or commit under a new group id would leave an entry for good.
  MutexLock l(&impl_->mu);
  std::erase_if(impl_->groups, [](const auto& entry) {
    const Group& g = entry.second;
    // Static members' fencing state stays: a zombie instance must still be fenced.
    return g.state == GroupState::kEmpty && g.members.empty() && g.offsets.empty() &&
           g.static_members.empty() && g.fenced.empty();
  });
  return first;
}

size_t GroupCoordinator::group_count() const {
  MutexLock l(&impl_->mu);
  return impl_->groups.size();
}

absl::Status GroupCoordinator::Impl::ExpireOffsets(const std::string& group_id) {
  MutexLock commit(&commit_mu);
  std::vector<std::pair<std::string, std::optional<std::string>>> records;
  std::vector<TopicPartition> expired;
  {
    MutexLock l(&mu);
    auto it = groups.find(group_id);
    if (it == groups.end()) return absl::OkStatus();
    Group& g = it->second;
    int64_t retention = options.offsets_retention.count();
    // Kafka's rule: once the group is empty, an offset expires `retention` after its commit.
    if (g.state != GroupState::kEmpty || Now() - g.empty_since_ms <= retention) {
      return absl::OkStatus();
    }
    int64_t now_ms = options.clock->NowMs();
    for (const auto& [tp, om] : g.offsets) {
      if (now_ms - om.commit_timestamp_ms > retention) {
        expired.push_back(tp);
        records.emplace_back(group::EncodeKey(group::OffsetCommitKey{group_id, tp}), std::nullopt);
      }
    }
  }
  if (records.empty()) return absl::OkStatus();
  BROOK_RETURN_IF_ERROR(AppendRecords(group_id, records, options.commit_durability));
  MutexLock l(&mu);
  auto it = groups.find(group_id);
  if (it == groups.end()) return absl::OkStatus();
  for (const TopicPartition& tp : expired) it->second.offsets.erase(tp);
  return absl::OkStatus();
}

absl::Status GroupCoordinator::DeleteTopicOffsets(const std::string& topic) {
  MutexLock commit(&impl_->commit_mu);
  std::map<std::string, std::vector<TopicPartition>> doomed;
  {
    MutexLock l(&impl_->mu);
    for (const auto& [id, g] : impl_->groups) {
      for (const auto& [tp, om] : g.offsets) {
        if (tp.topic == topic) doomed[id].push_back(tp);
      }
    }
  }
  for (const auto& [id, partitions] : doomed) {
    std::vector<std::pair<std::string, std::optional<std::string>>> records;
    for (const TopicPartition& tp : partitions) {
      records.emplace_back(group::EncodeKey(group::OffsetCommitKey{id, tp}), std::nullopt);
    }
    BROOK_RETURN_IF_ERROR(impl_->AppendRecords(id, records, impl_->options.commit_durability));
    MutexLock l(&impl_->mu);
    auto it = impl_->groups.find(id);
    if (it == impl_->groups.end()) continue;
    for (const TopicPartition& tp : partitions) it->second.offsets.erase(tp);
  }
  return absl::OkStatus();
}

absl::Status GroupCoordinator::DeleteOffsetsOfMissingTopics() {
  if (!impl_->options.existing_partitions) return absl::OkStatus();
  std::set<std::string> topics;
  {
    MutexLock l(&impl_->mu);
    for (const auto& [id, g] : impl_->groups) {
      for (const auto& [tp, om] : g.offsets) topics.insert(tp.topic);
    }
  }
  std::map<std::string, int32_t> counts =
      impl_->options.existing_partitions(std::vector<std::string>(topics.begin(), topics.end()));
  for (const std::string& topic : topics) {
    if (counts.contains(topic)) continue;
    impl_->Say(
        LogLevel::kInfo,
        fmt::format("deleting the committed offsets of topic {}, which no longer exists", topic));
    BROOK_RETURN_IF_ERROR(DeleteTopicOffsets(topic));
  }
  return absl::OkStatus();
}

absl::Status GroupCoordinator::ClampOffsetsPastEnd(
    const std::function<std::optional<int64_t>(const TopicPartition&)>& end_offset) {
  std::map<std::string, OffsetMap> clamped;
  {
    MutexLock l(&impl_->mu);
    for (const auto& [id, g] : impl_->groups) {
      for (const auto& [tp, om] : g.offsets) {
        std::optional<int64_t> end = end_offset(tp);
        if (!end || om.offset <= *end) continue;
        impl_->Say(LogLevel::kWarning,
                   fmt::format("group {}: the committed offset {} of {}-{} is past its end "
                               "offset {} (records were lost in a crash): committing {}",
                               id, om.offset, tp.topic, tp.partition, *end, *end));
        clamped[id][tp] = OffsetAndMetadata{*end, om.metadata};
      }
    }
  }
  for (const auto& [id, offsets] : clamped) {
    BROOK_RETURN_IF_ERROR(Commit(id, "", -1, offsets));
  }
  return absl::OkStatus();
}

std::vector<GroupListing> GroupCoordinator::ListGroups() const {
  MutexLock l(&impl_->mu);
  std::vector<GroupListing> out;
  for (const auto& [id, g] : impl_->groups) {
    if (g.members.empty() && g.offsets.empty()) continue;
    out.push_back({id, g.state, static_cast<int>(g.members.size())});
  }
  return out;
}

absl::StatusOr<GroupDescription> GroupCoordinator::DescribeGroup(
    const std::string& group_id) const {
  MutexLock l(&impl_->mu);
  auto git = impl_->groups.find(group_id);
  if (git == impl_->groups.end() || (git->second.members.empty() && git->second.offsets.empty())) {
    return GroupError(absl::StatusCode::kNotFound, ErrorCode::kGroupIdNotFound,
                      fmt::format("group {} does not exist", group_id));
  }
  const Group& g = git->second;
  GroupDescription d;
  d.group_id = g.id;
  d.state = g.state;
  d.protocol = g.protocol;
  d.generation = g.generation;
  d.leader = g.leader;
  for (const auto& [id, m] : g.members) {
    d.members.push_back({m.id, m.instance_id, m.client_id, m.topics, m.assignment});
  }
  for (const auto& [tp, om] : g.offsets) {
    d.offsets.push_back({.partition = tp, .committed_offset = om.offset, .metadata = om.metadata});
  }
  return d;
}

absl::Status GroupCoordinator::DeleteGroup(const std::string& group_id) {
  MutexLock commit(&impl_->commit_mu);
  std::vector<std::pair<std::string, std::optional<std::string>>> records;
  {
    MutexLock l(&impl_->mu);
    auto git = impl_->groups.find(group_id);
    if (git == impl_->groups.end()) {
      return GroupError(absl::StatusCode::kNotFound, ErrorCode::kGroupIdNotFound,
                        fmt::format("group {} does not exist", group_id));
    }
    if (!git->second.members.empty()) {
      return GroupError(
          absl::StatusCode::kFailedPrecondition, ErrorCode::kNonEmptyGroup,
          fmt::format("group {} has {} members", group_id, git->second.members.size()));
    }
    for (const auto& [tp, om] : git->second.offsets) {
      records.emplace_back(group::EncodeKey(group::OffsetCommitKey{group_id, tp}), std::nullopt);
    }
    records.emplace_back(group::EncodeKey(group::GroupMetadataKey{group_id}), std::nullopt);
  }
  BROOK_RETURN_IF_ERROR(impl_->AppendRecords(group_id, records, impl_->options.commit_durability));
  MutexLock l(&impl_->mu);
  auto git = impl_->groups.find(group_id);
  if (git == impl_->groups.end()) return absl::OkStatus();
  // Members may have joined meanwhile; the offsets are gone from disk either way.
  git->second.offsets.clear();
  if (git->second.members.empty()) impl_->groups.erase(git);
  return absl::OkStatus();
}

}  // namespace brook::detail
namespace brook {

std::string_view GroupStateName(GroupState state) {
  switch (state) {
    case GroupState::kEmpty:
      return "Empty";
    case GroupState::kPreparingRebalance:
      return "PreparingRebalance";
    case GroupState::kCompletingRebalance:
      return "CompletingRebalance";
    case GroupState::kStable:
      return "Stable";
    case GroupState::kDead:
      return "Dead";
  }
  return "Unknown";
}

}  // namespace brook
