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

size_t SegmentFor(const storage::LogInspector& log, int64_t offset) {
  size_t i = 0;
  while (i + 1 < log.segments().size() && log.segments()[i + 1].base_offset <= offset) ++i;
  return i;
}

void LogTail::Reposition() {
  const auto& segments = log_->segments();
  segment_ = SegmentFor(*log_, next_);
  segment_base_ = segments.empty() ? -1 : segments[segment_].base_offset;
  position_ = 0;
}

absl::StatusOr<std::optional<TailProblem>> LogTail::Read(
    const std::function<bool(const RecordView&)>& fn) {
  return ReadBatches(&fn);
}

absl::StatusOr<std::optional<TailProblem>> LogTail::ReadBatches(
    const std::function<bool(const RecordView&)>* fn) {
  bool reread = false;  // a sealed segment already read again from its start
  while (segment_ < log_->segments().size()) {
    const std::string path = log_->segments()[segment_].path;
    const bool resumed = position_ > 0;
    const int64_t expected = resumed ? scanned_to_ : log_->segments()[segment_].base_offset;
    absl::Status unreadable;
    bool stopped = false;
    ScanResult scan = log_->Scan(
        segment_, position_, expected, Verify::kChecksum,
        [&](uint64_t, const RecordBatchView& batch) {
          if (batch.next_offset() <= next_) return true;  // read before (a segment read again)
          if (fn != nullptr) {
            unreadable =
                VisitRecords(batch, kMaxDecompressedRecordsBytes, [&](const RecordView& r) {
                  if (!stopped && r.offset() >= next_ && !(*fn)(r)) stopped = true;
                });
            if (!unreadable.ok()) {
              unreadable = Annotate(
                  unreadable, fmt::format("{}: batch at offset {}", path, batch.base_offset()));
              return false;
            }
          }
          next_ = std::max(next_, batch.next_offset());
          return !stopped;
        });
    BROOK_RETURN_IF_ERROR(unreadable);
    position_ = scan.position;
    scanned_to_ = scan.next_offset;
    if (stopped) break;
    const bool last = segment_ + 1 == log_->segments().size();
    if (scan.stop == ScanStop::kGone) {  // deleted since it was listed: list again
      BROOK_RETURN_IF_ERROR(Refresh());
      continue;
    }
    if (!last && (scan.stop == ScanStop::kEnd || scan.stop == ScanStop::kZeros)) {
      ++segment_;
      segment_base_ = log_->segments()[segment_].base_offset;
      position_ = 0;
      continue;
    }
    if (scan.stop == ScanStop::kCorrupt || scan.stop == ScanStop::kTorn) {
      if (resumed && !last && !reread) {
        // A sealed segment resumed mid-file: compaction may have replaced it under the same base
        // offset, so the position means nothing now. Read it again from its start.
        reread = true;
        position_ = 0;
        continue;
      }
      return TailProblem{.path = path,
                         .position = scan.position,
                         .problem = scan.problem,
                         .last_segment = last,
                         .live_tail = last && !log_->clean_shutdown()};
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
  return ReadBatches(nullptr);
}

absl::Status LogTail::Refresh() {
  BROOK_RETURN_IF_ERROR(log_->Refresh());
  const auto& segments = log_->segments();
  // Found by base offset: retention deleting older segments shifts the indexes.
  auto it = std::find_if(segments.begin(), segments.end(),
                         [&](const auto& s) { return s.base_offset == segment_base_; });
  if (it == segments.end()) {
    Reposition();  // it went, or there was none yet
    return absl::OkStatus();
  }
  segment_ = static_cast<size_t>(it - segments.begin());
  if (it->file_size < position_) position_ = 0;  // cut, or replaced by compaction: read it again
  return absl::OkStatus();
}

}  // namespace brook::cli
