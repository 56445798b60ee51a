// Access-pattern hints for memory-mapped files (madvise). They change how the kernel reads the
// file in, never what a mapping holds: errors are ignored, and where madvise is missing they do
// nothing. Thread-safe.

#ifndef BROOK_FS_ADVICE_H_
#define BROOK_FS_ADVICE_H_

#include <cstddef>

namespace brook::fs {

enum class Access {
  kNormal,    // the kernel's default readahead around and after faults
  kRandom,    // no readahead: a fault reads (or zero-fills) only the page it needs
  kWillNeed,  // read the range in now, in the background
};

// Advises [data, data + size), which must lie in one mapping; `data` need not be page-aligned.
void Advise(const void* data, size_t size, Access access);

}  // namespace brook::fs

#endif  // BROOK_FS_ADVICE_H_
