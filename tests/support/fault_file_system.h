// A FileSystem that wraps the real one and can misbehave like a disk and a kernel do:
//
// - SimulateCrash(): every call fails from now on, as if the process were gone; Restart() then
//   forgets every write since its file's last Sync — all of them, or (with an Rng) a random
//   prefix of them with the first forgotten write torn at a random byte. Destroy the crashed
//   Log before Restart(): the files change under its mappings.
// - crash_at_sync(n): the n-th Sync/SyncDir from now crashes instead of syncing.
// - fail_syncs(EIO): Sync returns an I/O error (the writes stay unsynced).
// - fail_dir_syncs(n): the next n SyncDir calls return an I/O error.
// - set_disk_full(true): Allocate and writes past a file's end fail with ResourceExhausted.
// - set_space_limit(n): the same once the files in a file's directory would hold over n bytes.
//
// Stores through a MapReadWrite mapping are tracked too: such a file's durable bytes are kept
// whole (at mapping time and at each Sync), and a crash restores them, or with an Rng keeps a
// random prefix of what changed since.
//
// Directory entries follow the rules too: a file created, renamed or removed since its
// directory's last SyncDir is, after a crash, gone again, back under its old name (the replaced
// file restored), or back (with the contents it had when removed; unsynced writes may persist).
// Sync and SyncDir never reach the disk: what is durable is simulated (and real syncs only made
// the crash tests wait). Thread-safe.

#ifndef BROOK_TESTS_SUPPORT_FAULT_FILE_SYSTEM_H_
#define BROOK_TESTS_SUPPORT_FAULT_FILE_SYSTEM_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "brook/file_system.h"
#include "util/mutex.h"

namespace brook::testing {

class FaultFileSystem final : public FileSystem {
 public:
  explicit FaultFileSystem(FileSystem* base = FileSystem::Default()) : base_(base) {}

  // Undoes unsynced writes. With `rng`, a random prefix of each file's unsynced writes survives
  // and the next one is torn; without, all are lost.
  void SimulateCrash(std::mt19937_64* rng = nullptr);
  // Lets calls succeed again (files opened before the crash stay dead).
  void Restart();
  // The n-th (1-based) Sync or SyncDir from now crashes (as SimulateCrash(rng)); 0 disables.
  // `rng` must outlive the crash.
  void crash_at_sync(int64_t n, std::mt19937_64* rng = nullptr);
  void fail_syncs(bool fail);
  // The next `n` SyncDir calls fail with an I/O error, without crashing; renames and creates
  // before them stay visible, as the kernel keeps them.
  void fail_dir_syncs(int n);
  void set_disk_full(bool full);
  // Allocate and writes past a file's end fail with ResourceExhausted when the regular files in
  // that file's directory (their sizes, as the real file system has them) would then exceed
  // `bytes` in all; 0 lifts the limit.
  void set_space_limit(uint64_t bytes);
  int64_t syncs() const;
  bool crashed() const;
  // Called at the start of every File::Sync, outside the file system's lock, with the file's
  // path: lets a test hold a sync open while other threads run. Set before use; not thread-safe.
  void set_before_sync(std::function<void(const std::string&)> hook) {
    before_sync_ = std::move(hook);
  }

  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  absl::Status CreateDirs(const std::string& path) override;
  absl::Status SyncDir(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Remove(const std::string& path) override;
  absl::Status RemoveDir(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override;
  absl::StatusOr<bool> Exists(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<FileLock>> Lock(const std::string& path) override;

 private:
  friend class FaultFile;
  // One change to a file since its last sync, with what it replaced.
  struct Undo {
    uint64_t offset = 0;
    std::string old_bytes;  // bytes at [offset, offset + old_bytes.size()) before the change
    uint64_t new_length = 0;
    uint64_t old_size = 0;  // the file's size before the change
  };
  // A directory change not yet made durable by SyncDir, with what it replaced.
  struct DirUndo {
    enum class Kind { kCreate, kRename, kRemove } kind;
    std::string path;                      // the created, renamed-to or removed file
    std::string from;                      // kRename: the old name
    std::optional<std::string> old_bytes;  // the replaced (kRename) or removed file's bytes
  };
  absl::Status CheckAlive(uint64_t generation) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void RecordDirUndo(DirUndo undo) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<std::string> ReadWhole(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UndoDirectoriesLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The bytes `path` would hold after a crash now: its contents with every unsynced change
  // undone.
  std::string DurableImageLocked(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Called with mu_ held; returns true when this sync must crash.
  bool CountSync() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CrashLocked(std::mt19937_64* rng) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UndoUnsyncedLocked(std::mt19937_64* rng) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  FileSystem* const base_;
  std::function<void(const std::string&)> before_sync_;
  mutable Mutex mu_;
  std::map<std::string, std::vector<Undo>> unsynced_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<DirUndo>> unsynced_dirs_ ABSL_GUARDED_BY(mu_);  // by dir
  // Files mapped read-write: stores into the mapping bypass Write, so their durable state is
  // kept whole (taken at mapping time and at every Sync) and restored whole by a crash.
  std::map<std::string, std::string> durable_images_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  bool crash_pending_ ABSL_GUARDED_BY(mu_) = false;
  std::mt19937_64* pending_rng_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t crash_at_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937_64* crash_rng_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool fail_syncs_ ABSL_GUARDED_BY(mu_) = false;
  int fail_dir_syncs_ ABSL_GUARDED_BY(mu_) = 0;
  bool disk_full_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t space_limit_ ABSL_GUARDED_BY(mu_) = 0;
  // Whether growing `path` from `size` to `new_size` bytes breaks the full disk or space limit.
  bool NoSpaceLocked(const std::string& path, uint64_t size, uint64_t new_size) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
};

}  // namespace brook::testing

#endif  // BROOK_TESTS_SUPPORT_FAULT_FILE_SYSTEM_H_
