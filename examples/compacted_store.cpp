// brook example: a compacted key-value changelog written by an idempotent producer.
//
// The log keeps only the latest value of each key (CleanupPolicy::kCompact), like a Kafka
// compacted topic; a null value deletes the key. The producer's batches carry a producer id,
// epoch and sequence, so a retried batch is written once.

#include <brook/brook.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "compacted_store: %s\n", status.ToString().c_str());
  return 1;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main() {
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("brook-compacted-store-" + std::to_string(NowMs())))
                        .string();
  absl::StatusOr<std::unique_ptr<brook::Log>> log = brook::Log::Open(
      dir, {.segment_bytes_max = 64 << 10,  // small segments, so some roll and can be compacted
            .flush = brook::FlushPolicy::EveryAppend(),
            .cleanup_policy = brook::CleanupPolicy::kCompact});
  if (!log.ok()) return Fail(log.status());

  absl::StatusOr<brook::ProducerIdentity> producer = (*log)->InitProducer();
  if (!producer.ok()) return Fail(producer.status());
  int32_t sequence = 0;
  // Writes one record; with `retry`, sends the same batch twice, as a client does when an
  // acknowledgement is lost.
  auto put = [&](const std::string& key, std::optional<std::string> value,
                 bool retry = false) -> absl::StatusOr<brook::AppendResult> {
    brook::RecordBatchBuilder batch({.producer_id = producer->producer_id,
                                     .producer_epoch = producer->epoch,
                                     .base_sequence = sequence});
    batch.Append(NowMs(), key, value);
    absl::StatusOr<brook::AppendResult> appended = (*log)->Append(batch.Finish());
    if (!appended.ok()) return appended;
    sequence += 1;  // the next batch continues after this one's records
    if (retry) return (*log)->Append(batch.Finish());
    return appended;
  };

  // 20 accounts, each updated 100 times, then two of them deleted.
  for (int round = 0; round < 100; ++round) {
    for (int account = 0; account < 20; ++account) {
      absl::StatusOr<brook::AppendResult> r =
          put("account-" + std::to_string(account),
              "balance " + std::to_string(round * 10 + account) + std::string(40, ' '));
      if (!r.ok()) return Fail(r.status());
    }
  }
  absl::StatusOr<brook::AppendResult> retried = put("account-7", std::nullopt, /*retry=*/true);
  if (!retried.ok()) return Fail(retried.status());
  std::printf("deleted account-7 at offset %lld; its retry was %s\n",
              static_cast<long long>(retried->base_offset),
              retried->duplicate ? "recognised (not written twice)" : "WRITTEN TWICE");
  if (!retried->duplicate) return 1;
  if (absl::StatusOr<brook::AppendResult> r = put("account-8", std::nullopt);
      !r.ok() || r->duplicate) {
    return Fail(r.ok() ? absl::InternalError("a new batch was taken for a retry") : r.status());
  }

  int64_t end = (*log)->end_offset();
  absl::StatusOr<brook::CompactionResult> compacted = (*log)->Compact();
  if (!compacted.ok()) return Fail(compacted.status());
  std::printf("compacted: %lld records removed, %d -> %d segments, log still ends at %lld\n",
              static_cast<long long>(compacted->records_removed), compacted->segments_before,
              compacted->segments_after, static_cast<long long>((*log)->end_offset()));

  // Replaying the log rebuilds the table: the latest value per key, deletes applied.
  std::map<std::string, std::string> table;
  int64_t records = 0;
  for (int64_t offset = (*log)->start_offset(); offset < (*log)->end_offset();) {
    absl::StatusOr<brook::ReadResult> read = (*log)->Read(offset, 1 << 20);
    if (!read.ok()) return Fail(read.status());
    for (const brook::RecordBatchView& batch : *read) {
      for (const brook::RecordView& record : batch.records()) {
        if (record.offset() < offset) continue;
        ++records;
        if (record.has_value()) {
          table[std::string(record.key())] = std::string(record.value());
        } else {
          table.erase(std::string(record.key()));
        }
      }
    }
    offset = read->next_offset();
  }
  std::printf("replayed %lld of %lld records into %zu accounts\n", static_cast<long long>(records),
              static_cast<long long>(end), table.size());
  bool ok = table.size() == 18 && !table.contains("account-7") &&
            table["account-3"].starts_with("balance 993") && records < end &&
            (*log)->end_offset() == end;
  if (absl::Status s = (*log)->Close(); !s.ok()) return Fail(s);
  std::filesystem::remove_all(dir);
  if (!ok) {
    std::fprintf(stderr, "compacted_store: the replayed table is wrong\n");
    return 1;
  }
  return 0;
}
