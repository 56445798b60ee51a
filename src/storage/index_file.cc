#include "storage/index_file.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "brook/detail/check.h"
#include "util/status_macros.h"

namespace brook::storage {

IndexFile::IndexFile(std::string path, std::unique_ptr<File> file, size_t entry_size,
                     uint64_t bytes_max)
    : path_(std::move(path)), file_(std::move(file)), entry_size_(entry_size) {
  uint64_t entries = bytes_max / entry_size;
  if (entries > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    entries = static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
  }
  max_entries_ = static_cast<int32_t>(entries);
  capacity_bytes_ = entries * entry_size;
}

absl::StatusOr<std::unique_ptr<IndexFile>> IndexFile::Open(FileSystem* fs, std::string path,
                                                           size_t entry_size, uint64_t bytes_max,
                                                           bool keep_entries, bool active) {
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, OpenMode::kCreate));
  std::unique_ptr<IndexFile> index(new IndexFile(path, std::move(file), entry_size, bytes_max));
  int32_t entries = 0;
  if (keep_entries) {
    BROOK_ASSIGN_OR_RETURN(uint64_t size, index->file_->Size());
    entries = static_cast<int32_t>(std::min<uint64_t>(size / entry_size, index->max_entries_));
  } else {
    BROOK_RETURN_IF_ERROR(index->file_->Truncate(0));
  }
  index->entries_.store(entries, std::memory_order_relaxed);
  // One mapping of the whole capacity serves while the index stays active or inactive: the file
  // only ever shrinks to its entries (Trim) and grows back to the capacity (Extend), and readers
  // stay below entries().
  if (active) {
    BROOK_RETURN_IF_ERROR(index->Extend());
  } else {
    BROOK_RETURN_IF_ERROR(index->Map(/*writable=*/false));
  }
  return index;
}

absl::Status IndexFile::Map(bool writable) {
  if (capacity_bytes_ == 0) return absl::OkStatus();
  BROOK_ASSIGN_OR_RETURN(
      std::unique_ptr<MappedRegion> map,
      writable ? file_->MapReadWrite(capacity_bytes_) : file_->MapReadOnly(capacity_bytes_));
  writable_data_ = writable ? map->data() : nullptr;
  data_.store(map->data(), std::memory_order_release);
  if (map_ != nullptr) old_maps_.push_back(std::move(map_));
  map_ = std::move(map);
  return absl::OkStatus();
}

absl::Status IndexFile::Append(const std::byte* entry) {
  int32_t n = entries_.load(std::memory_order_relaxed);
  BROOK_CHECK(n < max_entries_);
  // An inactive index is appended to when a segment's indexes are rebuilt (recovery); it is
  // trimmed again when the segment is sealed.
  if (writable_data_ == nullptr) BROOK_RETURN_IF_ERROR(Extend());
  const uint64_t at = static_cast<uint64_t>(n) * entry_size_;
  if (at + entry_size_ > reserved_bytes_) {
    const uint64_t target = std::min(
        capacity_bytes_, (at + entry_size_ + kReserveBytes - 1) / kReserveBytes * kReserveBytes);
    BROOK_RETURN_IF_ERROR(file_->Allocate(target));
    reserved_bytes_ = target;
  }
  std::memcpy(writable_data_ + at, entry, entry_size_);
  entries_.store(n + 1, std::memory_order_release);
  return absl::OkStatus();
}

void IndexFile::TruncateEntries(int32_t n) {
  int32_t current = entries_.load(std::memory_order_relaxed);
  if (n >= current) return;
  entries_published_max_ = std::max(entries_published_max_, current);
  entries_.store(n, std::memory_order_release);
}

absl::Status IndexFile::Trim() {
  // Not below what a reader may still be looking at (see TruncateEntries): a mapped page past
  // the end of the file would fault. The stale entries left fail the sanity check on reopen.
  int32_t keep = std::max(entries(), entries_published_max_);
  const uint64_t bytes = static_cast<uint64_t>(keep) * entry_size_;
  reserved_bytes_ = std::min(reserved_bytes_, bytes);
  return file_->Truncate(bytes);
}

absl::Status IndexFile::Extend() {
  // The file is not grown here: Append grows it with Allocate, which reserves the blocks (a
  // file system without fallocate gets zeros written), so the mapping past its end is never
  // stored into. What the file holds now was written, so its blocks exist.
  BROOK_ASSIGN_OR_RETURN(uint64_t size, file_->Size());
  reserved_bytes_ = std::min(size, capacity_bytes_);
  return writable_data_ != nullptr ? absl::OkStatus() : Map(/*writable=*/true);
}

absl::Status IndexFile::Remove(FileSystem* fs) {
  absl::Status s = fs->Remove(path_);
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

}  // namespace brook::storage
