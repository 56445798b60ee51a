// A read-only view of a log directory for tools (`brook log info|dump|verify|read`).
//
// Unlike Log::Open it takes no lock and changes nothing: it can look at a log that another
// process has open, or at one that crashed, without recovering (and so truncating) it. It
// reads with pread, never through a mapping, so a writer trimming or extending files under it
// cannot fault it; batches that are half-written or torn show up as the end of the valid data.
//
// Thread-compatible.

#ifndef BROOK_STORAGE_LOG_INSPECTOR_H_
#define BROOK_STORAGE_LOG_INSPECTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/file_system.h"
#include "brook/record_batch.h"

namespace brook::storage {

struct InspectedSegment {
  int64_t base_offset = 0;
  std::string path;  // the .log file
  uint64_t file_size = 0;
};

// Why a scan of a segment stopped.
enum class ScanStop : uint8_t {
  kEnd,        // reached the end of the file
  kZeros,      // reached preallocated, never-written space
  kTorn,       // a batch runs past the end of the file or its header is cut short
  kCorrupt,    // a batch fails validation (CRC, structure, offsets)
  kCancelled,  // the callback asked to stop
  kGone,       // the file is gone (deleted, say by retention, since the directory was listed)
};

struct ScanResult {
  uint64_t position = 0;    // where the scan stopped
  int64_t next_offset = 0;  // one past the last valid batch (or where the scan started)
  int64_t batches = 0;
  ScanStop stop = ScanStop::kEnd;
  std::string problem;  // for kTorn and kCorrupt
};

class LogInspector {
 public:
  // FailedPrecondition if `dir` is not a brook log.
  static absl::StatusOr<std::unique_ptr<LogInspector>> Open(const std::string& dir,
                                                            FileSystem* fs = nullptr);

  const std::string& dir() const { return dir_; }
  const std::vector<InspectedSegment>& segments() const { return segments_; }
  bool clean_shutdown() const { return clean_shutdown_.has_value(); }
  std::optional<int64_t> clean_end_offset() const { return clean_shutdown_; }
  std::optional<int64_t> recovery_point() const { return recovery_point_; }
  std::optional<int64_t> log_start_offset() const { return log_start_offset_; }
  // Re-lists the directory (new segments, new sizes) for following a live log.
  absl::Status Refresh();

  // Reads the batches of segment `index` from byte `position`, checking them as `verify` says and
  // that offsets increase from `expected_offset` on, calling `fn(position, batch)` for each valid
  // one until it returns false.
  ScanResult Scan(size_t index, uint64_t position, int64_t expected_offset, Verify verify,
                  const std::function<bool(uint64_t, const RecordBatchView&)>& fn);

  // The offset-index and time-index entries of segment `index`: (relative offset, position) and
  // (timestamp, relative offset).
  absl::StatusOr<std::vector<std::pair<uint32_t, uint32_t>>> OffsetIndex(size_t index);
  absl::StatusOr<std::vector<std::pair<int64_t, uint32_t>>> TimeIndex(size_t index);

 private:
  LogInspector(std::string dir, FileSystem* fs) : dir_(std::move(dir)), fs_(fs) {}
  absl::StatusOr<std::string> ReadWholeFile(const std::string& path, uint64_t limit);
  template <typename Entry, typename Decode>
  absl::StatusOr<std::vector<Entry>> ReadIndex(size_t index, std::string_view extension,
                                               size_t entry_size, Decode decode);

  std::string dir_;
  FileSystem* fs_;
  std::vector<InspectedSegment> segments_;
  std::optional<int64_t> clean_shutdown_;
  std::optional<int64_t> recovery_point_;
  std::optional<int64_t> log_start_offset_;
  std::vector<std::byte> buffer_;
};

}  // namespace brook::storage

#endif  // BROOK_STORAGE_LOG_INSPECTOR_H_
