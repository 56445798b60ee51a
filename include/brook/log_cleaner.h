// brook/log_cleaner.h — background compaction for compacting logs (Kafka's LogCleaner).
//
// A LogCleaner watches the logs registered with it and, one pass at a time, compacts the one
// whose dirty ratio is highest among those due (Log::compaction_state().due, decided by each
// log's CompactionOptions). Start() runs that step on a thread of its own; RunOnce() is the same
// step for callers that drive their own loop, or for tests.
//
//   brook::LogCleaner cleaner({.backoff = std::chrono::seconds(5)});
//   cleaner.Add(log.get());
//   cleaner.Start();
//   ...                          // appends; optionally cleaner.Wake() after a burst of them
//   cleaner.Remove(log.get());   // before the log is closed and destroyed
//
// Ownership: the cleaner does not own the logs. Remove() a log before closing or destroying it;
// Remove waits for a pass running on it. Logs whose cleanup_policy does not compact are never
// due, so registering them does nothing.
//
// Thread safety: thread-safe. Passes run on the thread that calls RunOnce (Start's thread, or
// the caller's); the logger runs on that thread too and must not call Remove or Stop.

#ifndef BROOK_LOG_CLEANER_H_
#define BROOK_LOG_CLEANER_H_

#include <chrono>
#include <memory>

#include "absl/status/statusor.h"
#include "brook/log.h"
#include "brook/log_options.h"

namespace brook {

namespace detail {
class LogCleanerImpl;
}  // namespace detail

struct LogCleanerOptions {
  // How long Start's thread sleeps when no registered log is due, unless woken by Wake() or
  // Stop() (log.cleaner.backoff.ms). Must be positive. Default: 15 s.
  std::chrono::milliseconds backoff = std::chrono::seconds(15);
  // Receives each pass's summary (kInfo) and the errors of background passes (kError).
  // Default: warnings and errors to stderr.
  Logger logger;
};

class LogCleaner {
 public:
  // Checks (BROOK_CHECK) that options.backoff is positive. Starts no thread.
  explicit LogCleaner(LogCleanerOptions options = {});
  // Stop()s. Registered logs are left as they are.
  ~LogCleaner();
  LogCleaner(const LogCleaner&) = delete;
  LogCleaner& operator=(const LogCleaner&) = delete;

  // Registers `log` (non-owning; adding it twice registers it once). It must be Remove()d before
  // it is closed or destroyed.
  void Add(Log* log);
  // Unregisters `log`, waiting while a pass on it runs. Afterwards the cleaner no longer touches
  // it. A no-op for a log that is not registered.
  void Remove(Log* log);

  // One step: among the registered logs that are due and healthy (Log::health() ok), runs one
  // CompactIfDue pass on the one with the highest dirty ratio. Returns true if a pass compacted
  // it, false if no log was due (or the pass found nothing to do after all), or the pass's error.
  // A log that failed (see Log::health()) is skipped from then on; a log whose pass returned an
  // error is skipped for max(10 × backoff, 1 minute), so it cannot starve the others.
  absl::StatusOr<bool> RunOnce();

  // Starts a thread that calls RunOnce until Stop(): again at once after a pass that made
  // progress, otherwise after sleeping `backoff` (or until Wake()). Errors go to the logger.
  // A no-op while the thread runs.
  void Start();
  // Stops the thread and joins it, after the pass it may be running. Idempotent; Start() may be
  // called again afterwards.
  void Stop();
  // Makes the thread look for due logs now instead of at the end of its backoff, e.g. after a
  // burst of appends. Cheap; a no-op without a thread.
  void Wake();

 private:
  std::unique_ptr<detail::LogCleanerImpl> impl_;
};

}  // namespace brook

#endif  // BROOK_LOG_CLEANER_H_
