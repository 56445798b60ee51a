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
  if (index_bytes_max < 1024) {
    return bad("index_bytes_max", fmt::format("is {}; must be at least 1024", index_bytes_max));
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
  return absl::OkStatus();
}

}  // namespace brook
