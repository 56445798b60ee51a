#include "brook/log_cleaner.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "brook/detail/check.h"
#include "fmt/format.h"
#include "util/format.h"
#include "util/mutex.h"
#include "util/status_macros.h"

namespace brook {
namespace detail {

class LogCleanerImpl {
 public:
  explicit LogCleanerImpl(LogCleanerOptions options) : options_(std::move(options)) {
    BROOK_CHECK(options_.backoff.count() > 0);
  }
  ~LogCleanerImpl() { Stop(); }

  void Add(Log* log) {
    MutexLock l(&mu_);
    if (std::find(logs_.begin(), logs_.end(), log) == logs_.end()) logs_.push_back(log);
  }

  void Remove(Log* log) {
    MutexLock l(&mu_);
    logs_.erase(std::remove(logs_.begin(), logs_.end(), log), logs_.end());
    skip_until_.erase(log);
    // A step that picked the log before it left the list may still be using it.
    while (pins_.count(log) > 0) cv_.Wait(&mu_);
  }

  absl::StatusOr<bool> RunOnce() {
    absl::StatusOr<Step> step = RunStep();
    if (!step.ok()) return step.status();
    return step->compacted;
  }

  void Start() {
    MutexLock t(&thread_mu_);
    if (thread_.joinable()) return;
    thread_ = std::thread([this] { Loop(); });
  }

  void Stop() {
    MutexLock t(&thread_mu_);
    if (!thread_.joinable()) return;
    {
      MutexLock l(&mu_);
      stop_ = true;
    }
    cv_.SignalAll();
    thread_.join();
    MutexLock l(&mu_);
    stop_ = false;
  }

  void Wake() {
    {
      MutexLock l(&mu_);
      wake_ = true;
    }
    cv_.SignalAll();
  }

 private:
  struct Step {
    bool compacted = false;   // a pass ran and compacted the log
    bool progressed = false;  // ...and moved its first dirty offset on
  };

  // Picks and compacts. Every log it reads is pinned while it does, so Remove waits for it.
  absl::StatusOr<Step> RunStep() {
    std::vector<Log*> candidates;
    {
      MutexLock l(&mu_);
      auto now = std::chrono::steady_clock::now();
      for (Log* log : logs_) {
        auto skip = skip_until_.find(log);
        if (skip != skip_until_.end() && skip->second > now) continue;
        candidates.push_back(log);
        ++pins_[log];
      }
    }
    Log* best = nullptr;
    CompactionState best_state;
    for (Log* log : candidates) {
      // A failed log refuses writes until reopened; compacting it would only fail again.
      if (!log->health().ok()) continue;
      CompactionState state = log->compaction_state();
      if (state.due && (best == nullptr || state.dirty_ratio > best_state.dirty_ratio)) {
        best = log;
        best_state = state;
      }
    }
    {
      MutexLock l(&mu_);
      for (Log* log : candidates) {
        if (log != best) Unpin(log);
      }
    }
    if (best == nullptr) return Step{};

    absl::StatusOr<CompactionResult> result = best->CompactIfDue();
    Step step;
    absl::Status error;
    if (result.ok()) {
      step.compacted = result->passes > 0;
      step.progressed = step.compacted && result->cleaned_to > best_state.first_dirty_offset;
      if (step.compacted) {
        Say(LogLevel::kInfo,
            fmt::format("log cleaner: compacted {} (dirty ratio {:.2f}): {} record(s) removed, "
                        "{} tombstone(s) removed, {} bytes read, {} written, segments {} -> {}, "
                        "clean below offset {}",
                        best->dir(), best_state.dirty_ratio, result->records_removed,
                        result->tombstones_removed, result->bytes_read, result->bytes_written,
                        result->segments_before, result->segments_after, result->cleaned_to));
      }
    } else {
      error = Annotate(result.status(), fmt::format("log cleaner: compacting {}", best->dir()));
    }
    {
      MutexLock l(&mu_);
      if (!error.ok()) {
        skip_until_[best] =
            std::chrono::steady_clock::now() + std::max<std::chrono::steady_clock::duration>(
                                                   10 * options_.backoff, std::chrono::minutes(1));
      } else {
        skip_until_.erase(best);
      }
      Unpin(best);
    }
    if (!error.ok()) return error;
    return step;
  }

  void Loop() {
    while (true) {
      {
        MutexLock l(&mu_);
        if (stop_) return;
        wake_ = false;  // a Wake from now on calls for another look
      }
      absl::StatusOr<Step> step = RunStep();
      if (!step.ok()) Say(LogLevel::kError, std::string(step.status().message()));
      // After a pass that moved on, the same or another log may be due at once. Otherwise (none
      // due, an error, or a pass that found nothing to do) back off rather than spin.
      if (step.ok() && step->progressed) continue;
      MutexLock l(&mu_);
      auto deadline = std::chrono::steady_clock::now() + options_.backoff;
      while (!stop_ && !wake_) {
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) break;
        cv_.WaitWithTimeout(&mu_, deadline - now);
      }
    }
  }

  void Unpin(Log* log) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = pins_.find(log);
    BROOK_DCHECK(it != pins_.end());
    if (--it->second == 0) {
      pins_.erase(it);
      cv_.SignalAll();
    }
  }

  void Say(LogLevel level, const std::string& message) const {
    if (options_.logger) {
      options_.logger(level, message);
    } else if (level != LogLevel::kInfo) {
      std::fprintf(stderr, "brook: %s\n", message.c_str());
    }
  }

  const LogCleanerOptions options_;

  Mutex mu_;
  CondVar cv_;  // signalled when a pin goes, on Wake and on Stop
  std::vector<Log*> logs_ ABSL_GUARDED_BY(mu_);
  std::map<Log*, int> pins_ ABSL_GUARDED_BY(mu_);  // logs a step is using, and by how many
  // Logs whose last pass failed, left alone until then (Kafka marks them uncleanable), so one
  // log that fails every time cannot keep the others from being compacted.
  std::map<Log*, std::chrono::steady_clock::time_point> skip_until_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;

  Mutex thread_mu_;  // serializes Start and Stop
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);
};

}  // namespace detail

LogCleaner::LogCleaner(LogCleanerOptions options)
    : impl_(std::make_unique<detail::LogCleanerImpl>(std::move(options))) {}
LogCleaner::~LogCleaner() = default;
void LogCleaner::Add(Log* log) { impl_->Add(log); }
void LogCleaner::Remove(Log* log) { impl_->Remove(log); }
absl::StatusOr<bool> LogCleaner::RunOnce() { return impl_->RunOnce(); }
void LogCleaner::Start() { impl_->Start(); }
void LogCleaner::Stop() { impl_->Stop(); }
void LogCleaner::Wake() { impl_->Wake(); }

}  // namespace brook
