#include "brook/detail/check.h"

#include <cstdio>
#include <cstdlib>

namespace brook::detail {
void CheckFailed(const char* file, int line, const char* condition) {
  std::fprintf(stderr, "%s:%d: BROOK_CHECK failed: %s\n", file, line, condition);
  std::abort();
}
}  // namespace brook::detail
