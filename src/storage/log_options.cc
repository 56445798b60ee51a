#include "brook/log_options.h"

#include "brook/record_batch.h"
#include "fmt/format.h"

namespace brook {

absl::Status LogOptions::Validate() const {
  auto bad = [](std::string_view field, std::string_view why) {
    return absl::InvalidArgumentError(fmt::format("LogOptions.{} {}", field, why));
  };
  constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << 31;  // index positions are 32-bit
  if (segment_bytes_max < 4096 || segment_bytes_max >= kMaxSegmentBytes) {
    return bad("segment_bytes_max",
               fmt::format("is {}; must be in [4096, 2^31)", segment_bytes_max));
  }
  // Each segment maps its indexes whole: bounded as Kafka's segment.index.bytes (an int).
  if (index_bytes_max < 1024 || index_bytes_max >= kMaxSegmentBytes) {
    return bad("index_bytes_max", fmt::format("is {}; must be in [1024, 2^31)", index_bytes_max));
  }
  if (index_interval_bytes == 0) return bad("index_interval_bytes", "must be positive");
  if (batch_bytes_max < batch_layout::kHeaderSize) {
    return bad("batch_bytes_max", fmt::format("is {}; must be at least {}", batch_bytes_max,
                                              batch_layout::kHeaderSize));
  }
  if (segment_age_max.count() <= 0) return bad("segment_age_max", "must be positive");
  if (flush.records < 0) return bad("flush.records", "must not be negative");
  if (flush.bytes < 0) return bad("flush.bytes", "must not be negative");
  if (flush.interval.count() < 0) return bad("flush.interval", "must not be negative");
  if (wait_spin.count() < 0) return bad("wait_spin", "must not be negative");
  if (!(compaction.min_cleanable_dirty_ratio >= 0 && compaction.min_cleanable_dirty_ratio <= 1)) {
    return bad("compaction.min_cleanable_dirty_ratio", "must be in [0, 1]");
  }
  if (compaction.min_lag.count() < 0) return bad("compaction.min_lag", "must not be negative");
  if (compaction.max_lag.count() < 0) return bad("compaction.max_lag", "must not be negative");
  if (compaction.delete_retention.count() < 0) {
    return bad("compaction.delete_retention", "must not be negative");
  }
  // Allocated whole by each compaction: bounded as Kafka's log.cleaner.dedupe.buffer.size per
  // cleaner thread (2 GiB).
  if (compaction.offset_map_bytes < 1024 || compaction.offset_map_bytes >= kMaxSegmentBytes) {
    return bad("compaction.offset_map_bytes",
               fmt::format("is {}; must be in [1024, 2^31)", compaction.offset_map_bytes));
  }
  if (compaction.io_bytes_per_second < 0) {
    return bad("compaction.io_bytes_per_second", "must not be negative");
  }
  if (producer_id_expiration.count() <= 0) return bad("producer_id_expiration", "must be positive");
  return absl::OkStatus();
}

}  // namespace brook
