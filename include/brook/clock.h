// brook/clock.h — the time source brook reads, injectable so tests control time.
//
// Options structs take a non-owning `Clock*`: nullptr means Clock::Real(), and the clock must
// outlive everything opened with it. Implementations are thread-safe.

#ifndef BROOK_CLOCK_H_
#define BROOK_CLOCK_H_

#include <chrono>
#include <cstdint>

namespace brook {

class Clock {
 public:
  virtual ~Clock() = default;
  // The system clock, never null, never destroyed. Its NowMs may lag the system clock by up to
  // ~10 µs: on x86-64 a thread reading it again that soon (measured with the TSC) gets its last
  // reading back, which saves a clock_gettime on every record sent in a burst.
  static Clock* Real();
  // Wall-clock time in milliseconds since the Unix epoch: Kafka's timestamp unit. Used for
  // record timestamps, segment age and time-based retention.
  virtual int64_t NowMs() = 0;
  // A monotonic time for intervals (flush interval, waits).
  virtual std::chrono::steady_clock::time_point Monotonic() = 0;
};

}  // namespace brook

#endif  // BROOK_CLOCK_H_
