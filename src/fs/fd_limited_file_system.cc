#include "fs/fd_limited_file_system.h"

#include "brook/detail/check.h"
#include "fmt/format.h"
#include "util/format.h"
#include "util/status_macros.h"

namespace brook::fs {

// A File whose descriptor (`file_`) the FdLimitedFileSystem may close while it is idle. Every
// member but fs_ is guarded by fs_->mu_.
class LimitedFile final : public File {
 public:
  LimitedFile(std::shared_ptr<FdLimitedFileSystem> fs, std::string path, OpenMode reopen_mode)
      : fs_(std::move(fs)), path_(std::move(path)), reopen_mode_(reopen_mode) {}
  ~LimitedFile() override { fs_->Forget(this); }

  const std::string& path() const override { return path_; }
  using File::Write;
  absl::Status Write(uint64_t offset, std::span<const std::span<const std::byte>> pieces) override {
    return With([&](File& f) { return f.Write(offset, pieces); });
  }
  absl::StatusOr<size_t> Read(uint64_t offset, std::span<std::byte> out) override {
    return With([&](File& f) { return f.Read(offset, out); });
  }
  absl::StatusOr<uint64_t> Size() override {
    return With([&](File& f) { return f.Size(); });
  }
  // On a removed file whose descriptor is closed these do nothing: its bytes no longer matter
  // (a sync racing the removal of a retired segment must not fail the log).
  absl::Status Truncate(uint64_t size) override {
    return With([&](File& f) { return f.Truncate(size); }, /*removed_ok=*/true);
  }
  absl::Status Allocate(uint64_t size) override {
    return With([&](File& f) { return f.Allocate(size); }, /*removed_ok=*/true);
  }
  absl::Status Sync() override {
    return With([&](File& f) { return f.Sync(); }, /*removed_ok=*/true);
  }
  absl::StatusOr<std::unique_ptr<MappedRegion>> MapReadOnly(uint64_t size) override {
    return With([&](File& f) { return f.MapReadOnly(size); });
  }
  absl::StatusOr<std::unique_ptr<MappedRegion>> MapReadWrite(uint64_t size) override {
    return With([&](File& f) { return f.MapReadWrite(size); });
  }

 private:
  friend class FdLimitedFileSystem;

  // Runs fn on the descriptor, reopened if need be; converts a reopen failure to fn's result.
  // With `removed_ok`, a file removed while closed makes it a no-op.
  template <typename Fn>
  auto With(Fn fn, bool removed_ok = false) -> decltype(fn(std::declval<File&>())) {
    absl::StatusOr<File*> file = fs_->Pin(this);
    if (!file.ok()) {
      if (removed_ok && absl::IsFailedPrecondition(file.status())) return absl::OkStatus();
      return file.status();
    }
    auto result = fn(**file);
    fs_->Unpin(this);
    return result;
  }

  const std::shared_ptr<FdLimitedFileSystem> fs_;
  std::string path_;
  const OpenMode reopen_mode_;
  std::unique_ptr<File> file_;  // null while closed
  int pins_ = 0;                // operations using file_ now
  bool opening_ = false;        // a thread is reopening file_ (outside the lock)
  bool removed_ = false;        // its path was removed: never close file_
  bool idle_ = false;           // in fs_->idle_ at idle_at_
  std::list<LimitedFile*>::iterator idle_at_;
};

FdLimitedFileSystem::FdLimitedFileSystem(FileSystem* base, size_t max_open)
    : base_(base), max_open_(max_open) {
  BROOK_CHECK(base != nullptr && max_open >= 1);
}

size_t FdLimitedFileSystem::open_now() const {
  MutexLock l(&mu_);
  return open_;
}

int64_t FdLimitedFileSystem::reopens() const {
  MutexLock l(&mu_);
  return reopens_;
}

absl::StatusOr<std::unique_ptr<File>> FdLimitedFileSystem::Open(const std::string& path,
                                                                OpenMode mode) {
  std::unique_ptr<File> victim;
  {
    MutexLock l(&mu_);
    victim = EvictLocked(/*even_below_limit=*/false);
    ++open_;  // reserved for this file
  }
  victim.reset();  // closed outside the lock
  absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, mode);
  MutexLock l(&mu_);
  if (!file.ok()) {
    --open_;
    return file.status();
  }
  auto limited = std::make_unique<LimitedFile>(
      shared_from_this(), path,
      mode == OpenMode::kReadOnly ? OpenMode::kReadOnly : OpenMode::kReadWrite);
  limited->file_ = std::move(*file);
  limited->idle_at_ = idle_.insert(idle_.end(), limited.get());
  limited->idle_ = true;
  by_path_.emplace(path, limited.get());
  return std::unique_ptr<File>(std::move(limited));
}

absl::Status FdLimitedFileSystem::Rename(const std::string& from, const std::string& to) {
  BROOK_RETURN_IF_ERROR(base_->Rename(from, to));
  std::vector<std::unique_ptr<File>> closing;  // closed after the lock is released
  MutexLock l(&mu_);
  MarkRemovedLocked(to, &closing);  // the file `to` named before is gone
  auto [begin, end] = by_path_.equal_range(from);
  std::vector<LimitedFile*> moved;
  for (auto it = begin; it != end; ++it) moved.push_back(it->second);
  by_path_.erase(begin, end);
  for (LimitedFile* f : moved) {
    f->path_ = to;
    by_path_.emplace(to, f);
  }
  return absl::OkStatus();
}

absl::Status FdLimitedFileSystem::Remove(const std::string& path) {
  BROOK_RETURN_IF_ERROR(base_->Remove(path));
  std::vector<std::unique_ptr<File>> closing;
  MutexLock l(&mu_);
  MarkRemovedLocked(path, &closing);
  return absl::OkStatus();
}

void FdLimitedFileSystem::MarkRemovedLocked(const std::string& path,
                                            std::vector<std::unique_ptr<File>>* closing) {
  auto [begin, end] = by_path_.equal_range(path);
  for (auto it = begin; it != end; ++it) {
    LimitedFile* f = it->second;
    f->removed_ = true;
    if (f->idle_) {  // its descriptor is of no more use: the path leads elsewhere or nowhere
      idle_.erase(f->idle_at_);
      f->idle_ = false;
      --open_;
      closing->push_back(std::move(f->file_));
    }
  }
}

std::unique_ptr<File> FdLimitedFileSystem::EvictLocked(bool even_below_limit) {
  if ((open_ < max_open_ && !even_below_limit) || idle_.empty()) return nullptr;
  LimitedFile* f = idle_.front();
  idle_.pop_front();
  f->idle_ = false;
  --open_;
  return std::move(f->file_);
}

absl::StatusOr<File*> FdLimitedFileSystem::Pin(LimitedFile* f) {
  std::unique_ptr<File> victim;
  std::string path;
  {
    MutexLock l(&mu_);
    while (f->opening_) reopened_.Wait(&mu_);
    if (f->file_ != nullptr) {
      if (f->idle_) {
        idle_.erase(f->idle_at_);
        f->idle_ = false;
      }
      ++f->pins_;
      return f->file_.get();
    }
    if (f->removed_) {
      return absl::FailedPreconditionError(
          fmt::format("{} was removed while its descriptor was closed (max_open_files {})",
                      f->path_, max_open_));
    }
    f->opening_ = true;
    victim = EvictLocked(/*even_below_limit=*/false);
    ++open_;
    path = f->path_;
  }
  victim.reset();
  absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, f->reopen_mode_);
  // Out of descriptors (the application holds the rest): close idle ones and try again.
  for (int attempt = 0; attempt < 4 && absl::IsResourceExhausted(file.status()); ++attempt) {
    {
      MutexLock l(&mu_);
      victim = EvictLocked(/*even_below_limit=*/true);
    }
    if (victim == nullptr) break;
    victim.reset();
    file = base_->Open(path, f->reopen_mode_);
  }
  MutexLock l(&mu_);
  f->opening_ = false;
  reopened_.SignalAll();
  if (!file.ok()) {
    --open_;
    return absl::Status(file.status().code(),
                        fmt::format("reopening {} (max_open_files {}): {}", path, max_open_,
                                    file.status().message()));
  }
  ++reopens_;
  f->file_ = std::move(*file);
  f->pins_ = 1;
  return f->file_.get();
}

void FdLimitedFileSystem::Unpin(LimitedFile* f) {
  std::unique_ptr<File> closing;
  MutexLock l(&mu_);
  BROOK_CHECK(f->pins_ > 0);
  if (--f->pins_ != 0 || f->file_ == nullptr) return;
  if (f->removed_) {
    --open_;
    closing = std::move(f->file_);  // closed after the lock is released (declared first)
    return;
  }
  f->idle_at_ = idle_.insert(idle_.end(), f);
  f->idle_ = true;
}

void FdLimitedFileSystem::Forget(LimitedFile* f) {
  std::unique_ptr<File> file;
  {
    MutexLock l(&mu_);
    BROOK_CHECK(f->pins_ == 0 && !f->opening_);
    if (f->idle_) idle_.erase(f->idle_at_);
    if (f->file_ != nullptr) --open_;
    file = std::move(f->file_);
    auto [begin, end] = by_path_.equal_range(f->path_);
    for (auto it = begin; it != end; ++it) {
      if (it->second == f) {
        by_path_.erase(it);
        break;
      }
    }
  }
}

}  // namespace brook::fs
