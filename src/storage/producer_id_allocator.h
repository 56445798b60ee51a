// Hands out producer ids that are never reused, even across crashes: ids are reserved in blocks
// of kProducerIdBlockSize by durably recording the end of the reserved range (a checkpoint file)
// before any id of the block is handed out. After a crash the unused rest of the block is
// skipped, never handed out again. Kafka's controller does the same with blocks of 1000.
//
// Thread safety: thread-safe.

#ifndef BROOK_STORAGE_PRODUCER_ID_ALLOCATOR_H_
#define BROOK_STORAGE_PRODUCER_ID_ALLOCATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "brook/file_system.h"
#include "util/mutex.h"

namespace brook::storage {

inline constexpr int64_t kProducerIdBlockSize = 1000;
inline constexpr char kProducerIdFile[] = "producer-id-block";  // checkpoint {reserved end}

class ProducerIdAllocator {
 public:
  // Reads the reserved end from `dir`/`file_name` (none: start at 0). DataLoss if the file is
  // damaged: handing out ids from a guess could reuse one.
  static absl::StatusOr<std::unique_ptr<ProducerIdAllocator>> Open(
      FileSystem* fs, std::string dir, std::string file_name = kProducerIdFile);

  // A fresh id. Writes (and fsyncs) the checkpoint once per block.
  absl::StatusOr<int64_t> Allocate();

 private:
  ProducerIdAllocator(FileSystem* fs, std::string dir, std::string file_name, int64_t reserved)
      : fs_(fs),
        dir_(std::move(dir)),
        file_name_(std::move(file_name)),
        next_(reserved),
        reserved_end_(reserved) {}

  FileSystem* const fs_;
  const std::string dir_;
  const std::string file_name_;
  Mutex mu_;
  int64_t next_ ABSL_GUARDED_BY(mu_);
  int64_t reserved_end_ ABSL_GUARDED_BY(mu_);
};

}  // namespace brook::storage

#endif  // BROOK_STORAGE_PRODUCER_ID_ALLOCATOR_H_
