// A fixed-size-entry index file (.index or .timeindex), read and written through a shared
// mapping of its whole capacity.
//
// An active index is mapped read-write (the whole capacity) and appended by storing into the
// mapping: no system call and no file descriptor per entry. The file grows by File::Allocate in
// kReserveBytes steps ahead of the entries, so a store never lands past its end or on a hole the
// file system might fail to fill (a full disk would otherwise be a SIGBUS); the entries reach
// the disk with the data (fdatasync, Sync). An inactive index is mapped read-only; Extend() maps
// it read-write again.
//
// Thread safety: one writer (the Log's appender) at a time; any number of readers, who see only
// the entries published by entries() (release/acquire). Mappings replaced by Extend() are kept
// until the IndexFile is destroyed, so a reader never touches unmapped memory.

#ifndef BROOK_STORAGE_INDEX_FILE_H_
#define BROOK_STORAGE_INDEX_FILE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/file_system.h"

namespace brook::storage {

class IndexFile {
 public:
  // Opens (creating if missing) the index at `path`. With `keep_entries`, the entries already in
  // the file (size / entry_size) are trusted; otherwise the index starts empty. An `active`
  // index's file grows as entries are appended, up to `bytes_max` (rounded down to whole
  // entries); an inactive one keeps its size (exactly its entries).
  static absl::StatusOr<std::unique_ptr<IndexFile>> Open(FileSystem* fs, std::string path,
                                                         size_t entry_size, uint64_t bytes_max,
                                                         bool keep_entries, bool active);

  int32_t entries() const { return entries_.load(std::memory_order_acquire); }
  int32_t max_entries() const { return max_entries_; }
  bool full() const { return entries() >= max_entries_; }
  // Requires i < entries().
  const std::byte* entry(int32_t i) const {
    return data_.load(std::memory_order_acquire) + static_cast<size_t>(i) * entry_size_;
  }
  const std::string& path() const { return path_; }

  // Stores the entry after the last one and publishes it (an inactive index is extended first).
  // Requires !full(). ResourceExhausted if the disk has no room for the next kReserveBytes.
  absl::Status Append(const std::byte* entry);
  // Forgets entries at and after `n` (they are overwritten by later appends).
  void TruncateEntries(int32_t n);
  // Shrinks the file to exactly the entries it holds (for an inactive segment).
  absl::Status Trim();
  // Makes a trimmed (inactive) index appendable again.
  absl::Status Extend();
  absl::Status Sync() { return file_->Sync(); }
  absl::Status Remove(FileSystem* fs);

 private:
  IndexFile(std::string path, std::unique_ptr<File> file, size_t entry_size, uint64_t bytes_max);
  absl::Status Map(bool writable);

  // Disk space reserved ahead of the entries at a time: 8,192 offset-index entries, ~32 MiB of
  // data at the default index interval.
  static constexpr uint64_t kReserveBytes = 64 << 10;

  std::string path_;
  std::unique_ptr<File> file_;
  size_t entry_size_;
  uint64_t capacity_bytes_;
  int32_t max_entries_;
  std::atomic<int32_t> entries_{0};
  int32_t entries_published_max_ = 0;  // the most entries ever published before a truncation
  std::atomic<const std::byte*> data_{nullptr};
  std::byte* writable_data_ = nullptr;  // data_ when mapped read-write, else null
  uint64_t reserved_bytes_ = 0;         // [0, reserved_bytes_) has disk blocks
  std::unique_ptr<MappedRegion> map_;
  std::vector<std::unique_ptr<MappedRegion>> old_maps_;  // replaced by Extend, kept for readers
};

}  // namespace brook::storage

#endif  // BROOK_STORAGE_INDEX_FILE_H_
