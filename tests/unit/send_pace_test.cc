// The Producer's tight-loop rule (detail::SendPace), driven with synthetic times: when a batch
// opening counts as part of a tight loop, and when a record trickling in is appended alone.

#include "client/send_pace.h"

#include <cstdint>

#include "support/catch.h"

namespace brook::detail {
namespace {

constexpr int64_t kTightGap = 2'000;  // ns, as the Producer's kTightGap
constexpr int kStreakMax = 4;

TEST_CASE("A tight loop over many partitions opens batches seldom and still counts as tight",
          "[producer][pace]") {
  // 64 partitions, a record every 170 ns: a partition's batch is sealed by the sender thread
  // after ~30 of its records, so openings come ~5 µs apart with ~30 records sent in between.
  // Judged by the gap between openings alone (the old rule), every opening looked slow and
  // appended a one-record batch inline.
  SendPace pace(kTightGap, kStreakMax);
  int64_t now = 1'000'000'000;
  int streak = 0;
  for (int opening = 0; opening < 20; ++opening) {
    for (int i = 0; i < 30; ++i) {
      pace.Sent();
      now += 170;
    }
    streak = pace.Opened(now);
    if (opening >= kStreakMax) REQUIRE(streak == kStreakMax);
  }
  REQUIRE(streak == kStreakMax);
}

TEST_CASE("Records that trickle in never make a streak", "[producer][pace]") {
  // One record every 100 µs (10k/s), each opening a batch: every one is appended at once.
  SendPace pace(kTightGap, kStreakMax);
  int64_t now = 1'000'000'000;
  for (int i = 0; i < 100; ++i) {
    now += 100'000;
    pace.Sent();
    REQUIRE(pace.Opened(now) == 0);
  }
}

TEST_CASE("A pause ends a streak, and a loop that resumes builds it again", "[producer][pace]") {
  SendPace pace(kTightGap, kStreakMax);
  int64_t now = 1'000'000'000;
  for (int i = 0; i < 10; ++i) {
    pace.Sent();
    now += 500;
    pace.Opened(now);
  }
  pace.Sent();
  now += 5'000'000;  // the loop stops for 5 ms; one record then opens a batch
  REQUIRE(pace.Opened(now) == 0);
  int streak = 0;
  for (int i = 0; i < kStreakMax; ++i) {
    pace.Sent();
    now += 500;
    streak = pace.Opened(now);
    REQUIRE(streak == i + 1);
  }
}

TEST_CASE("The next opening is judged from the end of an inline append", "[producer][pace]") {
  // Each opening is appended inline and the append takes 30 µs (a busy machine): the next
  // record, sent right after it, is tight, though 30 µs passed since the last opening.
  SendPace pace(kTightGap, kStreakMax);
  int64_t now = 1'000'000'000;
  int streak = 0;
  for (int i = 0; i < 8; ++i) {
    pace.Sent();
    now += 300;
    streak = pace.Opened(now);
    now += 30'000;
    pace.AppendEnded(now);
  }
  REQUIRE(streak == kStreakMax);

  // Without AppendEnded, the same sequence looks slow.
  SendPace unmarked(kTightGap, kStreakMax);
  now = 1'000'000'000;
  for (int i = 0; i < 8; ++i) {
    unmarked.Sent();
    now += 30'300;
    REQUIRE(unmarked.Opened(now) == 0);
  }
}

TEST_CASE("SendBatch's records count toward the pace", "[producer][pace]") {
  // A loop of SendBatch calls of 100 records every 50 µs (0.5 µs a record) is tight; the same
  // calls counted as one record each would not be.
  SendPace pace(kTightGap, kStreakMax);
  int64_t now = 1'000'000'000;
  int streak = 0;
  for (int i = 0; i < 8; ++i) {
    pace.Sent(100);
    now += 50'000;
    streak = pace.Opened(now);
  }
  REQUIRE(streak == kStreakMax);

  SendPace single(kTightGap, kStreakMax);
  now = 1'000'000'000;
  for (int i = 0; i < 8; ++i) {
    single.Sent(1);
    now += 50'000;
    REQUIRE(single.Opened(now) == 0);
  }
}

}  // namespace
}  // namespace brook::detail
