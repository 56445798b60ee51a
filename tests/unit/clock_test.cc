// Clock::Real(): its NowMs reuses a thread's recent reading, which must never drift from the
// system clock by more than that reuse window allows.
#include "brook/clock.h"

#include <thread>
#include <vector>

#include "support/catch.h"

namespace brook {
namespace {

int64_t SystemMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST_CASE("Clock::Real().NowMs stays within a millisecond of the system clock", "[clock]") {
  Clock* clock = Clock::Real();
  struct Result {
    int64_t reads = 0;
    int64_t out_of_bounds = 0;  // readings outside [before - 1, after] or going backwards
    int64_t distinct = 0;
  };
  // Catch's assertions are not thread-safe: each thread counts, the test thread checks.
  auto run = [clock](Result* r) {
    int64_t last = 0;
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
    while (std::chrono::steady_clock::now() < end) {
      const int64_t before = SystemMs();
      const int64_t now = clock->NowMs();
      const int64_t after = SystemMs();
      ++r->reads;
      // A reading reused from at most ~10 µs ago can be one millisecond behind `before`, never
      // more, and never ahead of `after` (nor behind the last one, unless the system clock is
      // stepped back during the test).
      if (now < before - 1 || now > after || now < last) ++r->out_of_bounds;
      if (now != last) ++r->distinct;
      last = now;
    }
  };
  std::vector<Result> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 1; i < results.size(); ++i) threads.emplace_back(run, &results[i]);
  run(&results[0]);
  for (auto& t : threads) t.join();
  for (const Result& r : results) {
    INFO(r.reads << " reads");
    CHECK(r.out_of_bounds == 0);
    // The value kept moving over the 30 ms: a reading is not reused for ever.
    CHECK(r.distinct >= 3);
  }
}

TEST_CASE("Clock::Real().NowMs moves on after a sleep", "[clock]") {
  Clock* clock = Clock::Real();
  const int64_t first = clock->NowMs();
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  REQUIRE(clock->NowMs() >= first + 3);
}

}  // namespace
}  // namespace brook
