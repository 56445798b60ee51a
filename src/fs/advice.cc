#include "fs/advice.h"

#include <cstdint>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace brook::fs {

void Advise(const void* data, size_t size, Access access) {
#if defined(__unix__) || defined(__APPLE__)
  if (data == nullptr || size == 0) return;
  static const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto start = reinterpret_cast<uintptr_t>(data);
  const uintptr_t aligned = start & ~(page - 1);
  int advice = MADV_NORMAL;
  if (access == Access::kRandom) advice = MADV_RANDOM;
  if (access == Access::kWillNeed) advice = MADV_WILLNEED;
  // A hint: on failure the kernel just reads the file in as it would have.
  (void)::madvise(reinterpret_cast<void*>(aligned), size + (start - aligned), advice);
#else
  (void)data;
  (void)size;
  (void)access;
#endif
}

}  // namespace brook::fs
