#include "cli/log_tail.h"

#include <algorithm>
#include <utility>

#include "brook/compression.h"
#include "fmt/format.h"
#include "format/compression.h"
#include "util/format.h"
#include "util/status_macros.h"

namespace brook::cli {

using storage::ScanResult;
using storage::ScanStop;

LogTail::LogTail(std::unique_ptr<storage::LogInspector> log, int64_t from)
    : log_(std::move(log)), next_(from) {
  Reposition();
}

void LogTail::Reposition() {
  const auto& segments = log_->segments();
  segment_ = 0;
  while (segment_ + 1 < segments.size() && segments[segment_ + 1].base_offset <= next_) {
    ++segment_;
  }
  segment_base_ = segments.empty() ? -1 : segments[segment_].base_offset;
  position_ = 0;
}

absl::StatusOr<std::optional<TailProblem>> LogTail::Read(
    const std::function<void(const RecordView&)>& fn) {
  const auto& segments = log_->segments();
  while (segment_ < segments.size()) {
    const std::string& path = segments[segment_].path;
    const int64_t expected = position_ == 0 ? segments[segment_].base_offset : scanned_to_;
    absl::Status unreadable;
    ScanResult scan = log_->Scan(
        segment_, position_, expected, Verify::kChecksum,
        [&](uint64_t, const RecordBatchView& batch) {
          unreadable = VisitRecords(batch, kMaxDecompressedRecordsBytes, [&](const RecordView& r) {
            if (r.offset() >= next_) fn(r);
          });
          if (!unreadable.ok()) {
            unreadable = Annotate(unreadable,
                                  fmt::format("{}: batch at offset {}", path, batch.base_offset()));
            return false;
          }
          next_ = std::max(next_, batch.next_offset());
          return true;
        });
    BROOK_RETURN_IF_ERROR(unreadable);
    position_ = scan.position;
    scanned_to_ = scan.next_offset;
    if (segment_ + 1 < segments.size() &&
        (scan.stop == ScanStop::kEnd || scan.stop == ScanStop::kZeros)) {
      ++segment_;
      segment_base_ = segments[segment_].base_offset;
      position_ = 0;
      continue;
    }
    if (scan.stop == ScanStop::kCorrupt || scan.stop == ScanStop::kTorn) {
      return TailProblem{.path = path,
                         .position = scan.position,
                         .problem = scan.problem,
                         .live_tail = segment_ + 1 == segments.size() && !log_->clean_shutdown()};
    }
    break;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<TailProblem>> LogTail::SkipToEnd() {
  const auto& segments = log_->segments();
  if (!segments.empty()) {
    next_ = std::max(next_, segments.back().base_offset);
    Reposition();
  }
  return Read([](const RecordView&) {});
}

absl::Status LogTail::Refresh() {
  BROOK_RETURN_IF_ERROR(log_->Refresh());
  const auto& segments = log_->segments();
  // Found by base offset: retention deleting older segments shifts the indexes.
  auto it = std::find_if(segments.begin(), segments.end(),
                         [&](const auto& s) { return s.base_offset == segment_base_; });
  if (it != segments.end()) {
    segment_ = static_cast<size_t>(it - segments.begin());
  } else {
    Reposition();  // it went, or there was none yet
  }
  return absl::OkStatus();
}

}  // namespace brook::cli
