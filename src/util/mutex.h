// brook's mutex and condition variable: std::mutex / std::condition_variable_any with Clang
// thread-safety annotations.
//
// Why not absl::Mutex: Debian's Abseil is a prebuilt library without ThreadSanitizer
// instrumentation, so TSan cannot see the happens-before edges inside it and reports false races
// on everything it guards. These wrappers sit on pthreads, which TSan intercepts, so the tsan
// preset checks brook's real synchronization; the annotations keep -Wthread-safety working.

#ifndef BROOK_UTIL_MUTEX_H_
#define BROOK_UTIL_MUTEX_H_

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"

namespace brook {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

  // BasicLockable, for CondVar.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

class CondVar {
 public:
  // Waits until notified or `timeout` passes; `mu` must be held exclusively and is held again on
  // return. Spurious wake-ups happen: re-check the condition.
  void WaitWithTimeout(Mutex* mu, std::chrono::nanoseconds timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    cv_.wait_for(*mu, timeout);
  }
  void Wait(Mutex* mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { cv_.wait(*mu); }
  void SignalAll() { cv_.notify_all(); }

 private:
  std::condition_variable_any cv_;
};

}  // namespace brook

#endif  // BROOK_UTIL_MUTEX_H_
