#include "storage/log_inspector.h"

#include <algorithm>

#include "brook/detail/endian.h"
#include "fmt/format.h"
#include "storage/checkpoint.h"
#include "storage/log_files.h"
#include "storage/segment.h"
#include "util/format.h"
#include "util/status_macros.h"

namespace brook::storage {
namespace {
// Index files larger than this are read only this far (a hostile file must not drive the
// allocation); brook's own are at most LogOptions::index_bytes_max.
constexpr uint64_t kIndexFileBytesMax = uint64_t{64} << 20;
}  // namespace

absl::StatusOr<std::unique_ptr<LogInspector>> LogInspector::Open(const std::string& dir,
                                                                 FileSystem* fs) {
  if (fs == nullptr) fs = FileSystem::Default();
  std::unique_ptr<LogInspector> inspector(new LogInspector(dir, fs));
  absl::StatusOr<std::vector<int64_t>> meta = ReadCheckpoint(fs, dir, kMetaFile, "brook-log");
  if (!meta.ok()) {
    return absl::FailedPreconditionError(
        fmt::format("{} is not a brook log: {}", dir, meta.status()));
  }
  auto single = [&](const char* file, const char* name) -> std::optional<int64_t> {
    absl::StatusOr<std::vector<int64_t>> v = ReadCheckpoint(fs, dir, file, name);
    if (v.ok() && v->size() == 1) return (*v)[0];
    return std::nullopt;
  };
  inspector->clean_shutdown_ = single(kCleanShutdownFile, "clean-shutdown");
  inspector->recovery_point_ = single(kRecoveryPointFile, "recovery-point");
  inspector->log_start_offset_ = single(kStartOffsetFile, "log-start-offset");
  BROOK_RETURN_IF_ERROR(inspector->Refresh());
  return inspector;
}

absl::Status LogInspector::Refresh() {
  BROOK_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDir(dir_));
  std::vector<InspectedSegment> segments;
  for (const std::string& name : names) {
    std::optional<int64_t> base = ParseSegmentName(name, ".log");
    if (!base) continue;
    std::string path = dir_ + "/" + name;
    absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(path, OpenMode::kReadOnly);
    if (absl::IsNotFound(file.status())) continue;  // deleted by retention meanwhile
    if (!file.ok()) return file.status();
    BROOK_ASSIGN_OR_RETURN(uint64_t size, (*file)->Size());
    segments.push_back({*base, path, size});
  }
  std::sort(segments.begin(), segments.end(),
            [](const auto& a, const auto& b) { return a.base_offset < b.base_offset; });
  segments_ = std::move(segments);
  return absl::OkStatus();
}

ScanResult LogInspector::Scan(size_t index, uint64_t position, int64_t expected_offset,
                              Verify verify,
                              const std::function<bool(uint64_t, const RecordBatchView&)>& fn) {
  const InspectedSegment& segment = segments_[index];
  ScanResult result{.position = position, .next_offset = expected_offset};
  absl::StatusOr<std::unique_ptr<File>> file = fs_->Open(segment.path, OpenMode::kReadOnly);
  if (!file.ok()) {
    result.stop = absl::IsNotFound(file.status()) ? ScanStop::kGone : ScanStop::kCorrupt;
    result.problem = std::string(file.status().message());
    return result;
  }
  absl::StatusOr<uint64_t> size = (*file)->Size();
  uint64_t file_size = size.ok() ? *size : 0;
  auto stop = [&](ScanStop why, std::string problem) {
    result.stop = why;
    result.problem = std::move(problem);
    return result;
  };
  while (true) {
    result.position = position;
    if (position >= file_size) return stop(ScanStop::kEnd, "");
    std::byte header[batch_layout::kHeaderSize];
    absl::StatusOr<size_t> n = (*file)->Read(position, header);
    if (!n.ok()) return stop(ScanStop::kCorrupt, std::string(n.status().message()));
    std::span<const std::byte> head(header, *n);
    if (std::all_of(head.begin(), head.end(), [](std::byte b) { return b == std::byte{0}; })) {
      return stop(ScanStop::kZeros, "");
    }
    if (*n < batch_layout::kHeaderSize) {
      return stop(ScanStop::kTorn,
                  fmt::format("{} bytes of a batch header at the end of the file", *n));
    }
    std::optional<size_t> batch_size = RecordBatchView::PeekSize(head);
    if (!batch_size || *batch_size < batch_layout::kHeaderSize) {
      return stop(ScanStop::kCorrupt, fmt::format("batch length field is invalid"));
    }
    if (position + *batch_size > file_size) {
      return stop(ScanStop::kTorn, fmt::format("batch of {} bytes runs past the end of the file "
                                               "({} bytes)",
                                               *batch_size, file_size));
    }
    buffer_.resize(*batch_size);
    n = (*file)->Read(position, buffer_);
    if (!n.ok() || *n != *batch_size) return stop(ScanStop::kTorn, "short read");
    absl::StatusOr<RecordBatchView> batch = RecordBatchView::Parse(buffer_, verify);
    if (!batch.ok()) return stop(ScanStop::kCorrupt, std::string(batch.status().message()));
    if (batch->base_offset() < result.next_offset) {
      return stop(ScanStop::kCorrupt,
                  fmt::format("batch offsets {}..{} do not follow offset {}", batch->base_offset(),
                              batch->last_offset(), result.next_offset - 1));
    }
    if (batch->last_offset() - segment.base_offset > INT32_MAX) {
      return stop(ScanStop::kCorrupt, "batch offset does not fit the segment's 32-bit index");
    }
    result.next_offset = batch->next_offset();
    ++result.batches;
    position += *batch_size;
    if (!fn(position - *batch_size, *batch)) {
      result.position = position;
      return stop(ScanStop::kCancelled, "");
    }
  }
}

absl::StatusOr<std::string> LogInspector::ReadWholeFile(const std::string& path, uint64_t limit) {
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs_->Open(path, OpenMode::kReadOnly));
  BROOK_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::string data(std::min(size, limit), '\0');
  BROOK_ASSIGN_OR_RETURN(
      size_t n, file->Read(0, std::span(reinterpret_cast<std::byte*>(data.data()), data.size())));
  data.resize(n);
  return data;
}

template <typename Entry, typename Decode>
absl::StatusOr<std::vector<Entry>> LogInspector::ReadIndex(size_t index, std::string_view extension,
                                                           size_t entry_size, Decode decode) {
  std::string path =
      fmt::format("{}/{}{}", dir_, SegmentFileStem(segments_[index].base_offset), extension);
  BROOK_ASSIGN_OR_RETURN(std::string data, ReadWholeFile(path, kIndexFileBytesMax));
  std::vector<Entry> entries;
  auto p = reinterpret_cast<const std::byte*>(data.data());
  for (size_t at = 0; at + entry_size <= data.size(); at += entry_size) {
    Entry e = decode(p + at);
    // An active segment's index is preallocated: the first all-zero entry starts the unused
    // space (a real offset entry never has position 0; a real time entry has a timestamp).
    if (e == Entry{}) break;
    entries.push_back(e);
  }
  return entries;
}

absl::StatusOr<std::vector<std::pair<uint32_t, uint32_t>>> LogInspector::OffsetIndex(size_t index) {
  return ReadIndex<std::pair<uint32_t, uint32_t>>(
      index, ".index", kOffsetIndexEntrySize, [](const std::byte* e) {
        return std::pair(detail::LoadBig<uint32_t>(e), detail::LoadBig<uint32_t>(e + 4));
      });
}

absl::StatusOr<std::vector<std::pair<int64_t, uint32_t>>> LogInspector::TimeIndex(size_t index) {
  return ReadIndex<std::pair<int64_t, uint32_t>>(
      index, ".timeindex", kTimeIndexEntrySize, [](const std::byte* e) {
        return std::pair(detail::LoadBig<int64_t>(e), detail::LoadBig<uint32_t>(e + 8));
      });
}

}  // namespace brook::storage
