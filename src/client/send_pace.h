// src/client/send_pace.h — tells a Producer sent to in a tight loop from one whose records
// trickle in, producer-wide. With linger 0 the Producer appends a record that opens a batch at
// once (the lowest latency) unless records come fast; then it batches them (a burst).
//
// The pace is judged where a batch opens, but over all the records sent since the last batch
// opened, not only over batch openings: with many partitions a tight loop opens batches seldom
// (each partition's batch takes many records before the sender thread seals it), and judging by
// the gap between openings alone took such a loop for a trickle, so every opening appended a
// one-record batch inline, and those appends slowed the loop further.
//
// Thread-safety: any thread may call Sent, Opened and AppendEnded at once. The counters are
// relaxed atomics updated without locked read-modify-writes, so races between threads can lose
// a count or mix two threads' times: that only blurs a heuristic, never breaks an invariant.

#ifndef BROOK_SRC_CLIENT_SEND_PACE_H_
#define BROOK_SRC_CLIENT_SEND_PACE_H_

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace brook::detail {

class SendPace {
 public:
  // `tight_gap_nanos`: the most time per record sent that still counts as a tight loop;
  // `streak_max`: how many tight openings in a row make a burst.
  SendPace(int64_t tight_gap_nanos, int streak_max)
      : tight_gap_nanos_(tight_gap_nanos), streak_max_(streak_max) {}

  // A record was sent (`n` records, for a SendBatch). Cheap: one relaxed load and store.
  void Sent(int64_t n = 1) {
    sent_.store(sent_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  // A record opened a batch at `now_nanos` (steady clock). Returns how many batch openings in a
  // row, up to streak_max, came at a tight pace: at most tight_gap per record sent since the
  // previous opening (or since the end of its inline append, see AppendEnded).
  int Opened(int64_t now_nanos) {
    const int64_t previous = last_nanos_.exchange(now_nanos, std::memory_order_relaxed);
    const int64_t sent = sent_.load(std::memory_order_relaxed);
    const int64_t records =
        std::max<int64_t>(sent - last_sent_.exchange(sent, std::memory_order_relaxed), 1);
    const int streak = now_nanos - previous <= tight_gap_nanos_ * records
                           ? std::min(streak_.load(std::memory_order_relaxed) + 1, streak_max_)
                           : 0;
    streak_.store(streak, std::memory_order_relaxed);
    return streak;
  }

  // The inline append of an opening record ended at `now_nanos`: the next opening is judged
  // from here, so an append slower than tight_gap (a busy machine) does not keep a tight loop
  // out of burst mode for good.
  void AppendEnded(int64_t now_nanos) { last_nanos_.store(now_nanos, std::memory_order_relaxed); }

 private:
  const int64_t tight_gap_nanos_;
  const int streak_max_;
  std::atomic<int64_t> sent_{0};
  std::atomic<int64_t> last_sent_{0};   // sent_ at the last opening
  std::atomic<int64_t> last_nanos_{0};  // the last opening, or the end of its inline append
  std::atomic<int> streak_{0};
};

}  // namespace brook::detail

#endif  // BROOK_SRC_CLIENT_SEND_PACE_H_
