// brook/file_system.h — the file-system interface every brook file access goes through.
//
// brook never calls open(2), mmap(2) or fsync(2) directly: it asks a FileSystem. The default one
// (FileSystem::Default()) is POSIX; tests pass a fault-injecting one that can crash at any sync,
// drop unsynced writes, tear the last write, fail fsync with EIO or run out of space. Options
// structs take a non-owning `FileSystem*`: nullptr means the default, and the FileSystem must
// outlive everything opened with it.
//
// Implementations are thread-safe. A File may be used by several threads at once for
// non-overlapping writes and reads; a MappedRegion's bytes may be read by any thread.

#ifndef BROOK_FILE_SYSTEM_H_
#define BROOK_FILE_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace brook {

// A region of a file mapped MAP_SHARED. Unmapped when destroyed.
class MappedRegion {
 public:
  virtual ~MappedRegion() = default;
  virtual std::byte* data() const = 0;
  virtual size_t size() const = 0;
};

// An open file. Closed when destroyed.
class File {
 public:
  virtual ~File() = default;

  virtual const std::string& path() const = 0;
  // Writes every byte of `pieces`, one after another, starting at `offset` (pwritev). Returns
  // ResourceExhausted when the disk is full. A failed write may have written a prefix.
  virtual absl::Status Write(uint64_t offset,
                             std::span<const std::span<const std::byte>> pieces) = 0;
  absl::Status Write(uint64_t offset, std::span<const std::byte> data) {
    return Write(offset, std::span<const std::span<const std::byte>>(&data, 1));
  }
  // Reads up to out.size() bytes at `offset`; returns how many were read (0 at end of file).
  virtual absl::StatusOr<size_t> Read(uint64_t offset, std::span<std::byte> out) = 0;
  virtual absl::StatusOr<uint64_t> Size() = 0;
  // Sets the file's size; new bytes read as zeros.
  virtual absl::Status Truncate(uint64_t size) = 0;
  // Grows the file to at least `size` bytes with disk blocks reserved (fallocate), so later
  // writes below `size` cannot fail for lack of space. ResourceExhausted when the disk is full.
  virtual absl::Status Allocate(uint64_t size) = 0;
  // Makes every completed write durable (fdatasync). An error means some writes may be lost.
  virtual absl::Status Sync() = 0;
  // Maps [0, size) read-only and shared; `size` may exceed the file's size (bytes past the end
  // must not be touched). The mapping stays valid after the File is closed or removed.
  virtual absl::StatusOr<std::unique_ptr<MappedRegion>> MapReadOnly(uint64_t size) = 0;
  // Maps [0, size) read-write and shared: stores into it are writes to the file (made durable by
  // Sync, like any other write). Only bytes below a size reserved by Allocate may be written; a
  // store past the file's end faults.
  virtual absl::StatusOr<std::unique_ptr<MappedRegion>> MapReadWrite(uint64_t size) = 0;
};

// An exclusive, advisory, cross-process lock on a file. Released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class OpenMode : uint8_t {
  kReadOnly,   // must exist
  kReadWrite,  // must exist
  kCreate,     // read-write, created if missing
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // The process-wide POSIX file system. Never null; never destroyed.
  static FileSystem* Default();

  virtual absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) = 0;
  // Creates `path` and missing parents; OK if it exists.
  virtual absl::Status CreateDirs(const std::string& path) = 0;
  // Makes the directory's entries (creations, renames, removals) durable.
  virtual absl::Status SyncDir(const std::string& path) = 0;
  // Atomically replaces `to` with `from`.
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a file; NotFound if it does not exist.
  virtual absl::Status Remove(const std::string& path) = 0;
  // Removes an empty directory.
  virtual absl::Status RemoveDir(const std::string& path) = 0;
  // The names (not paths) of the entries of a directory, without "." and "..", unordered.
  virtual absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual absl::StatusOr<bool> Exists(const std::string& path) = 0;
  // Takes an exclusive lock on `path` (created if missing). FailedPrecondition if another
  // process, or another FileLock in this process, holds it.
  virtual absl::StatusOr<std::unique_ptr<FileLock>> Lock(const std::string& path) = 0;
};

}  // namespace brook

#endif  // BROOK_FILE_SYSTEM_H_
