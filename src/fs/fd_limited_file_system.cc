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
  absl::Status Truncate(uint64_t size) override {
    return With([&](File& f) { return f.Truncate(size); });
  }
  absl::Status Allocate(uint64_t size) override {
    return With([&](File& f) { return f.Allocate(size); });
  }
  absl::Status Sync() override {
    return With([&](File& f) { return f.Sync(); });
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
  template <typename Fn>
  auto With(Fn fn) -> decltype(fn(std::declval<File&>())) {
    absl::StatusOr<File*> file = fs_->Pin(this);
    if (!file.ok()) return file.status();
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
    victim = EvictLocked();
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
  MutexLock l(&mu_);
  MarkRemovedLocked(to);  // the file `to` named before is gone
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
  MutexLock l(&mu_);
  MarkRemovedLocked(path);
  return absl::OkStatus();
}

void FdLimitedFileSystem::MarkRemovedLocked(const std::string& path) {
  auto [begin, end] = by_path_.equal_range(path);
  for (auto it = begin; it != end; ++it) {
    LimitedFile* f = it->second;
    f->removed_ = true;
    if (f->idle_) {  // keep the descriptor: the path no longer leads to this file
      idle_.erase(f->idle_at_);
      f->idle_ = false;
    }
  }
}

std::unique_ptr<File> FdLimitedFileSystem::EvictLocked() {
  if (open_ < max_open_ || idle_.empty()) return nullptr;
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
    victim = EvictLocked();
    ++open_;
    path = f->path_;
  }
  victim.reset();
  absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, f->reopen_mode_);
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
  MutexLock l(&mu_);
  BROOK_CHECK(f->pins_ > 0);
  if (--f->pins_ == 0 && !f->removed_ && f->file_ != nullptr) {
    f->idle_at_ = idle_.insert(idle_.end(), f);
    f->idle_ = true;
  }
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
