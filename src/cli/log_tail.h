// Reads a log directory's records in offset order from a given offset on, without opening it as
// a Log or taking its lock (storage::LogInspector: pread, no recovery), so it can follow a log
// that another process is appending to. `brook log read` reads one log with it, and `brook
// consume` the partitions of a broker directory that another process has open.
//
// Thread safety: none (one thread per LogTail).
#ifndef BROOK_CLI_LOG_TAIL_H_
#define BROOK_CLI_LOG_TAIL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "brook/record_batch.h"
#include "storage/log_inspector.h"

namespace brook::cli {

// Where a read stopped before the end of the files: a batch that does not check out.
struct TailProblem {
  std::string path;       // the segment file
  uint64_t position = 0;  // of the batch in it
  std::string problem;
  // In the log's last segment, where a live writer may be copying that batch now.
  bool last_segment = false;
  // In the last segment of a log that was not closed cleanly: a writer may be copying that batch
  // now, or died copying it (the log's next open cuts it off).
  bool live_tail = false;
};

// The index of the segment of `log` holding `offset`: the last one whose base is <= offset (0 when
// there is none).
size_t SegmentFor(const storage::LogInspector& log, int64_t offset);

class LogTail {
 public:
  // Starts at offset `from`: records below it are not read.
  LogTail(std::unique_ptr<storage::LogInspector> log, int64_t from);

  // Calls `fn` for every record from next() on that the files hold as last listed, in offset
  // order, and moves next() past them; `fn` returning false stops it after that record's batch
  // (next() is then past the batch). A segment deleted since it was listed is skipped (see
  // Refresh). Returns the problem that stopped it short of the end, if any. Error: a compressed
  // batch that does not decompress (naming its file and offset).
  absl::StatusOr<std::optional<TailProblem>> Read(const std::function<bool(const RecordView&)>& fn);
  // Skips to the end of the files as last listed, reading only the last segment's batch headers.
  absl::StatusOr<std::optional<TailProblem>> SkipToEnd();
  // Lists the directory again: new segments and sizes. A segment deleted meanwhile (retention)
  // is skipped: reading goes on at the first offset still there. A segment that shrank (cut, or
  // replaced by compaction under the same name) is read again from its start, skipping the
  // records before next().
  absl::Status Refresh();

  // The offset of the next record to read.
  int64_t next() const { return next_; }
  const storage::LogInspector& log() const { return *log_; }

 private:
  // Reading goes on from the start of the segment holding next_.
  void Reposition();
  // Read, decoding the records only when `fn` is not null.
  absl::StatusOr<std::optional<TailProblem>> ReadBatches(
      const std::function<bool(const RecordView&)>* fn);

  std::unique_ptr<storage::LogInspector> log_;
  size_t segment_ = 0;         // index into log_->segments()
  int64_t segment_base_ = -1;  // its base offset, to find it again after a Refresh; -1: none
  uint64_t position_ = 0;      // in it
  int64_t scanned_to_ = 0;     // the offset after the last batch read in it
  int64_t next_;
};

}  // namespace brook::cli

#endif  // BROOK_CLI_LOG_TAIL_H_
