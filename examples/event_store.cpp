// brook example: an event store. Events are keyed by entity id, so every event of one entity
// lands in the same partition (Kafka's murmur2 partitioner, as a Java producer would place them)
// in the order they were written; an entity's state is rebuilt by replaying its partition.

#include <brook/brook.h>

#include <cstdio>
#include <map>
#include <string>

namespace {

int Fail(const char* what, const absl::Status& status) {
  std::fprintf(stderr, "event_store: %s: %s\n", what, status.ToString().c_str());
  return 1;
}

// An account's state, rebuilt from "deposit N" / "withdraw N" events.
struct Account {
  int64_t balance = 0;
  int events = 0;
};

void Apply(Account& account, std::string_view event) {
  size_t space = event.find(' ');
  int64_t amount = std::stoll(std::string(event.substr(space + 1)));
  account.balance += event.starts_with("deposit") ? amount : -amount;
  ++account.events;
}

}  // namespace

int main() {
  const std::string dir = "event-store";
  {
    auto broker = brook::Broker::Open(dir, {});
    if (!broker.ok()) return Fail("open", broker.status());
    absl::Status created = (*broker)->CreateTopic("accounts", {.partitions = 4});
    if (!created.ok()) return Fail("create topic", created);

    auto producer = brook::Producer::Create(**broker, {});
    if (!producer.ok()) return Fail("producer", producer.status());
    std::map<std::string, int64_t> expected;
    for (int i = 0; i < 1000; ++i) {
      std::string account = "account-" + std::to_string(i % 10);
      bool deposit = i % 3 != 0;
      int64_t amount = 1 + i % 7;
      std::string event = (deposit ? "deposit " : "withdraw ") + std::to_string(amount);
      expected[account] += deposit ? amount : -amount;
      absl::Status s = (*producer)->Send({.topic = "accounts", .key = account, .value = event},
                                         [](const absl::StatusOr<brook::RecordMetadata>& r) {
                                           if (!r.ok())
                                             std::fprintf(stderr, "event_store: send: %s\n",
                                                          r.status().ToString().c_str());
                                         });
      if (!s.ok()) return Fail("send", s);
    }
    if (absl::Status s = (*producer)->Flush(); !s.ok()) return Fail("flush", s);
    std::printf("wrote 1000 events for 10 accounts; account-3 should hold %lld\n",
                static_cast<long long>(expected["account-3"]));
  }

  // Later (a new process, say): rebuild one account by replaying only its partition.
  auto broker = brook::Broker::Open(dir, {});
  if (!broker.ok()) return Fail("reopen", broker.status());
  auto topic = (*broker)->GetTopic("accounts");
  if (!topic.ok()) return Fail("topic", topic.status());
  const std::string wanted = "account-3";
  brook::TopicPartition where{"accounts", (*topic)->PartitionForKey(wanted)};
  auto consumer = brook::Consumer::Create(
      **broker, {.enable_auto_commit = false, .auto_offset_reset = brook::OffsetReset::kEarliest});
  if (!consumer.ok()) return Fail("consumer", consumer.status());
  if (absl::Status s = (*consumer)->Assign({where}); !s.ok()) return Fail("assign", s);
  Account account;
  while (true) {
    auto records = (*consumer)->Poll(std::chrono::milliseconds(0));
    if (!records.ok()) return Fail("poll", records.status());
    if (records->empty()) break;  // replayed up to the end
    for (const brook::ConsumerRecord& r : *records) {
      if (r.key() == wanted) Apply(account, *r.value());
    }
  }
  std::printf("replayed partition %d: %s has balance %lld after %d events\n", where.partition,
              wanted.c_str(), static_cast<long long>(account.balance), account.events);
  // 1000 events over 10 accounts: 100 each; deposits and withdrawals as written above.
  int64_t expected = 0;
  for (int i = 3; i < 1000; i += 10) expected += (i % 3 != 0 ? 1 : -1) * (1 + i % 7);
  if (account.events != 100 || account.balance != expected) {
    std::fprintf(stderr, "event_store: expected 100 events and balance %lld\n",
                 static_cast<long long>(expected));
    return 1;
  }
  return 0;
}
