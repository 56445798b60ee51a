#include "brook/clock.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

namespace brook {
namespace {

int64_t SystemMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

#if defined(__x86_64__)
// Every record a Producer sends without a timestamp reads the clock, and clock_gettime (~20 ns)
// was a tenth of a Send. On x86-64 with an invariant TSC (one that ticks at a constant rate
// whatever the core's frequency or sleep state), reading the TSC (~8 ns) tells whether this
// thread read the real clock less than kFreshTicks ago; if so that millisecond value is returned
// again. kFreshTicks is 10 µs on a 1-GHz TSC and less on any faster one, so a timestamp is at
// most that much behind the real clock (plus any skew between cores' TSCs, which the kernel only
// uses as its clock source when they are synchronized). Readings from different threads may
// therefore disagree by up to a millisecond at a millisecond boundary, as two clock_gettime
// calls a few microseconds apart would.
constexpr uint64_t kFreshTicks = 10'000;

bool InvariantTsc() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0x80000000, &eax, &ebx, &ecx, &edx) == 0 || eax < 0x80000007) return false;
  if (__get_cpuid(0x80000007, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (edx & (1u << 8)) != 0;
}

int64_t CachedSystemMs() {
  static const bool invariant_tsc = InvariantTsc();
  if (!invariant_tsc) return SystemMs();
  thread_local bool valid = false;
  thread_local uint64_t read_at = 0;  // the TSC just before this thread's last real read
  thread_local int64_t read_ms = 0;
  const uint64_t now = __rdtsc();
  if (valid && now - read_at < kFreshTicks) return read_ms;
  valid = true;
  read_ms = SystemMs();
  read_at = now;
  return read_ms;
}
#else
int64_t CachedSystemMs() { return SystemMs(); }
#endif

class RealClock final : public Clock {
 public:
  int64_t NowMs() override { return CachedSystemMs(); }
  std::chrono::steady_clock::time_point Monotonic() override {
    return std::chrono::steady_clock::now();
  }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock();
  return clock;
}

}  // namespace brook
