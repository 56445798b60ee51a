// BROOK_CHECK / BROOK_DCHECK: for programmer errors only (our own broken invariants).
// Bytes from disk or the network are operating errors and are returned as absl::Status.
#ifndef BROOK_DETAIL_CHECK_H_
#define BROOK_DETAIL_CHECK_H_

namespace brook::detail {
[[noreturn]] void CheckFailed(const char* file, int line, const char* condition);
}  // namespace brook::detail

#define BROOK_CHECK(cond)                  \
  (__builtin_expect(!!(cond), 1) ? (void)0 \
                                 : ::brook::detail::CheckFailed(__FILE__, __LINE__, #cond))

#ifdef NDEBUG
#define BROOK_DCHECK(cond) ((void)0)
#else
#define BROOK_DCHECK(cond) BROOK_CHECK(cond)
#endif

#endif  // BROOK_DETAIL_CHECK_H_
