#include "storage/producer_id_allocator.h"

#include <limits>

#include "fmt/format.h"
#include "storage/checkpoint.h"
#include "util/format.h"
#include "util/status_macros.h"

namespace brook::storage {
namespace {
constexpr char kCheckpointName[] = "producer-id-block";
}  // namespace

absl::StatusOr<std::unique_ptr<ProducerIdAllocator>> ProducerIdAllocator::Open(
    FileSystem* fs, std::string dir, std::string file_name) {
  int64_t reserved = 0;
  absl::StatusOr<std::vector<int64_t>> v = ReadCheckpoint(fs, dir, file_name, kCheckpointName);
  if (v.ok()) {
    if (v->size() != 1 || (*v)[0] < 0) {
      return absl::DataLossError(
          fmt::format("producer id checkpoint {}/{} holds no valid id", dir, file_name));
    }
    reserved = (*v)[0];
  } else if (!absl::IsNotFound(v.status())) {
    return Annotate(v.status(), "cannot tell which producer ids were handed out");
  }
  return std::unique_ptr<ProducerIdAllocator>(
      new ProducerIdAllocator(fs, std::move(dir), std::move(file_name), reserved));
}

absl::StatusOr<int64_t> ProducerIdAllocator::Allocate() {
  MutexLock l(&mu_);
  if (next_ == reserved_end_) {
    if (reserved_end_ > std::numeric_limits<int64_t>::max() - kProducerIdBlockSize) {
      return absl::ResourceExhaustedError(fmt::format("producer ids in {} are used up", dir_));
    }
    int64_t end = reserved_end_ + kProducerIdBlockSize;
    BROOK_RETURN_IF_ERROR(WriteCheckpoint(fs_, dir_, file_name_, kCheckpointName, {end}));
    reserved_end_ = end;
  }
  return next_++;
}

}  // namespace brook::storage
