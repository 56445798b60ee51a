// A FileSystem that keeps at most `max_open` of the files opened through it open at once, so a
// Broker with more partitions than the process may have descriptors still works.
//
// Each File opened through it holds a descriptor only while in use or while among the
// `max_open` most recently used. When another file needs a descriptor, the least recently used
// idle one is closed; its File reopens its path (read-write, or read-only if so opened) the next
// time it is used. Mappings outlive descriptors (POSIX), so reading a segment through its mapping
// or appending into its mapping never needs one; writes, syncs, resizes and reads do. Linux keeps
// dirty pages with the file, not the descriptor: fdatasync through a reopened descriptor makes
// writes made through the closed one durable, and a write-back error not yet reported to anyone
// is reported to the new descriptor.
//
// Renames and removals made through this FileSystem are followed: a renamed File reopens its new
// name. A removed File's descriptor is closed once no call is using it; after that Sync,
// Truncate and Allocate do nothing (its bytes no longer matter: a sync racing the removal of a
// retired segment must not fail) and the other calls fail with FailedPrecondition. A removed
// file is never recreated. A reopen that finds the process out of descriptors (EMFILE) closes
// more idle ones and tries again.
//
// More than `max_open` descriptors are open only while more files than that are in use at the
// same instant. Locks (Lock) are passed through and not counted.
//
// Thread safety: thread-safe, as FileSystem requires. A File's path() must not be read while
// another thread renames it.

#ifndef BROOK_FS_FD_LIMITED_FILE_SYSTEM_H_
#define BROOK_FS_FD_LIMITED_FILE_SYSTEM_H_

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "brook/file_system.h"
#include "util/mutex.h"

namespace brook::fs {

class LimitedFile;

// Create with std::make_shared: the Files opened through it keep it alive (a Broker's
// partitions may outlive the Broker).
class FdLimitedFileSystem final : public FileSystem,
                                  public std::enable_shared_from_this<FdLimitedFileSystem> {
 public:
  // `base` must outlive this and every File opened through it; max_open >= 1.
  FdLimitedFileSystem(FileSystem* base, size_t max_open);

  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  absl::Status CreateDirs(const std::string& path) override { return base_->CreateDirs(path); }
  absl::Status SyncDir(const std::string& path) override { return base_->SyncDir(path); }
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status RemoveDir(const std::string& path) override { return base_->RemoveDir(path); }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    return base_->ListDir(path);
  }
  absl::StatusOr<bool> Exists(const std::string& path) override { return base_->Exists(path); }
  absl::StatusOr<std::unique_ptr<FileLock>> Lock(const std::string& path) override {
    return base_->Lock(path);
  }

  size_t max_open() const { return max_open_; }
  // Descriptors open now, and how many times a File reopened its path (for tests and
  // benchmarks).
  size_t open_now() const;
  int64_t reopens() const;

 private:
  friend class LimitedFile;

  // Returns f's descriptor, reopening it if it was closed; the caller must Unpin(f) after use.
  absl::StatusOr<File*> Pin(LimitedFile* f);
  void Unpin(LimitedFile* f);
  void Forget(LimitedFile* f);  // from LimitedFile's destructor
  // Takes the least recently used idle descriptor out of its File, if `open_` is at the limit
  // (or in any case).
  std::unique_ptr<File> EvictLocked(bool even_below_limit) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks the Files at `path` removed; idle descriptors among them go to `closing`.
  void MarkRemovedLocked(const std::string& path, std::vector<std::unique_ptr<File>>* closing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  FileSystem* const base_;
  const size_t max_open_;
  mutable Mutex mu_;
  CondVar reopened_;  // a File's reopen finished
  size_t open_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reopens_ ABSL_GUARDED_BY(mu_) = 0;
  std::list<LimitedFile*> idle_ ABSL_GUARDED_BY(mu_);  // open, unpinned; least recent first
  std::unordered_multimap<std::string, LimitedFile*> by_path_ ABSL_GUARDED_BY(mu_);
};

}  // namespace brook::fs

#endif  // BROOK_FS_FD_LIMITED_FILE_SYSTEM_H_
