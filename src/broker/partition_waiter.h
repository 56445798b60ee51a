// Wakes a consumer blocked in Poll when any of its partitions gets data (or its group changes),
// without busy-spinning and without a lock on the append path when nobody sleeps.
//
// Notify() bumps a sequence number; Wait(seen, ...) returns once it differs from `seen`. The
// waiter publishes that it sleeps before checking the sequence, and the notifier bumps the
// sequence before checking for sleepers (both sequentially consistent), so a wake-up is never
// lost.
//
// Thread safety: thread-safe.
#ifndef BROOK_BROKER_PARTITION_WAITER_H_
#define BROOK_BROKER_PARTITION_WAITER_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "util/mutex.h"

namespace brook::detail {

class PartitionWaiter {
 public:
  uint64_t sequence() const { return sequence_.load(); }

  void Notify() {
    sequence_.fetch_add(1);
    if (sleepers_.load() > 0) {
      MutexLock l(&mu_);
      cv_.SignalAll();
    }
  }

  // Returns true if the sequence moved past `seen` before `deadline`. Spins for `spin` first.
  bool Wait(uint64_t seen, std::chrono::steady_clock::time_point deadline,
            std::chrono::microseconds spin) {
    if (sequence_.load() != seen) return true;
    if (spin.count() > 0) {
      auto spin_end = std::min(deadline, std::chrono::steady_clock::now() + spin);
      while (std::chrono::steady_clock::now() < spin_end) {
        for (int i = 0; i < 64; ++i) {
          if (sequence_.load(std::memory_order_acquire) != seen) return true;
        }
      }
    }
    MutexLock l(&mu_);
    sleepers_.fetch_add(1);
    while (sequence_.load() == seen) {
      auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      cv_.WaitWithTimeout(&mu_, deadline - now);
    }
    sleepers_.fetch_sub(1);
    return sequence_.load() != seen;
  }

 private:
  std::atomic<uint64_t> sequence_{0};
  std::atomic<int> sleepers_{0};
  Mutex mu_;
  CondVar cv_;
};

}  // namespace brook::detail

#endif  // BROOK_BROKER_PARTITION_WAITER_H_
