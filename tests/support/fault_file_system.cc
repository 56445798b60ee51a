#include "support/fault_file_system.h"

#include <algorithm>
#include <filesystem>

#include "fmt/format.h"
#include "util/status_macros.h"

namespace brook::testing {

class FaultFile final : public File {
 public:
  FaultFile(FaultFileSystem* fs, std::unique_ptr<File> file, uint64_t generation)
      : fs_(fs), file_(std::move(file)), generation_(generation) {}

  const std::string& path() const override { return file_->path(); }

  absl::Status Write(uint64_t offset, std::span<const std::span<const std::byte>> pieces) override {
    MutexLock l(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->CheckAlive(generation_));
    uint64_t length = 0;
    for (auto p : pieces) length += p.size();
    BROOK_ASSIGN_OR_RETURN(uint64_t size, file_->Size());
    if (offset + length > size && fs_->NoSpaceLocked(path(), size, offset + length)) {
      return absl::ResourceExhaustedError(
          fmt::format("write {}: no space left (simulated)", path()));
    }
    BROOK_RETURN_IF_ERROR(Record(offset, length, size));
    return file_->Write(offset, pieces);
  }

  absl::StatusOr<size_t> Read(uint64_t offset, std::span<std::byte> out) override {
    MutexLock l(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->CheckAlive(generation_));
    return file_->Read(offset, out);
  }

  absl::StatusOr<uint64_t> Size() override {
    MutexLock l(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->CheckAlive(generation_));
    return file_->Size();
  }

  absl::Status Truncate(uint64_t new_size) override {
    MutexLock l(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->CheckAlive(generation_));
    BROOK_ASSIGN_OR_RETURN(uint64_t size, file_->Size());
    if (new_size == size) return absl::OkStatus();
    if (new_size < size) {
      BROOK_RETURN_IF_ERROR(Record(new_size, 0, size));
    } else {
      BROOK_RETURN_IF_ERROR(Record(size, 0, size));
    }
    return file_->Truncate(new_size);
  }

  absl::Status Allocate(uint64_t new_size) override {
    MutexLock l(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->CheckAlive(generation_));
    BROOK_ASSIGN_OR_RETURN(uint64_t size, file_->Size());
    if (new_size <= size) return absl::OkStatus();
    if (fs_->NoSpaceLocked(path(), size, new_size)) {
      return absl::ResourceExhaustedError(
          fmt::format("allocate {}: no space left (simulated)", path()));
    }
    BROOK_RETURN_IF_ERROR(Record(size, 0, size));
    return file_->Allocate(new_size);
  }

  absl::Status Sync() override {
    if (fs_->before_sync_) fs_->before_sync_(path());
    MutexLock l(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->CheckAlive(generation_));
    if (fs_->CountSync()) {
      return absl::InternalError(fmt::format("fdatasync {}: simulated crash", path()));
    }
    if (fs_->fail_syncs_) {
      return absl::InternalError(
          fmt::format("fdatasync {}: Input/output error (simulated)", path()));
    }
    // No real fdatasync: durability is what this class simulates, and real syncs made the
    // crash-at-every-sync tests spend most of their time waiting for the disk.
    fs_->unsynced_.erase(path());
    auto image = fs_->durable_images_.find(path());
    if (image != fs_->durable_images_.end()) {
      image->second = fs_->ReadWhole(path()).value_or(std::string());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<MappedRegion>> MapReadWrite(uint64_t size) override {
    MutexLock l(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->CheckAlive(generation_));
    if (!fs_->durable_images_.contains(path())) {
      fs_->durable_images_[path()] = fs_->DurableImageLocked(path());
    }
    return file_->MapReadWrite(size);
  }

  absl::StatusOr<std::unique_ptr<MappedRegion>> MapReadOnly(uint64_t size) override {
    MutexLock l(&fs_->mu_);
    BROOK_RETURN_IF_ERROR(fs_->CheckAlive(generation_));
    return file_->MapReadOnly(size);
  }

 private:
  // Saves what a change of [offset, offset + length) (or a resize from `size`) replaces.
  absl::Status Record(uint64_t offset, uint64_t length, uint64_t size)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(fs_->mu_) {
    FaultFileSystem::Undo undo{.offset = offset, .new_length = length, .old_size = size};
    uint64_t end = length == 0 ? size : std::min(size, offset + length);
    if (end > offset) {
      undo.old_bytes.resize(end - offset);
      BROOK_ASSIGN_OR_RETURN(
          size_t n,
          file_->Read(offset, std::span(reinterpret_cast<std::byte*>(undo.old_bytes.data()),
                                        undo.old_bytes.size())));
      undo.old_bytes.resize(n);
    }
    fs_->unsynced_[path()].push_back(std::move(undo));
    return absl::OkStatus();
  }

  FaultFileSystem* fs_;
  std::unique_ptr<File> file_;
  uint64_t generation_;
};

absl::Status FaultFileSystem::CheckAlive(uint64_t generation) const {
  if (crashed_ || generation != generation_) {
    return absl::InternalError("simulated crash: the file system is gone");
  }
  return absl::OkStatus();
}

bool FaultFileSystem::CountSync() {
  ++syncs_;
  if (crash_at_ > 0 && syncs_ == crash_at_) {
    CrashLocked(crash_rng_);
    return true;
  }
  return false;
}

void FaultFileSystem::SimulateCrash(std::mt19937_64* rng) {
  MutexLock l(&mu_);
  CrashLocked(rng);
}

std::string FaultFileSystem::DurableImageLocked(const std::string& path) {
  std::string bytes = ReadWhole(path).value_or(std::string());
  auto it = unsynced_.find(path);
  if (it == unsynced_.end()) return bytes;
  for (auto u = it->second.rbegin(); u != it->second.rend(); ++u) {
    bytes.resize(u->old_size);
    bytes.replace(u->offset, u->old_bytes.size(), u->old_bytes);
  }
  return bytes;
}

void FaultFileSystem::UndoUnsyncedLocked(std::mt19937_64* rng) {
  for (auto& [path, image] : durable_images_) {
    std::optional<std::string> now = ReadWhole(path);
    if (!now) continue;  // removed since
    unsynced_.erase(path);
    // Keep a random prefix of what changed (torn at a random byte), or nothing.
    size_t first_change = 0;
    while (first_change < std::min(now->size(), image.size()) &&
           (*now)[first_change] == image[first_change]) {
      ++first_change;
    }
    std::string after = image;
    if (rng != nullptr && first_change < now->size()) {
      size_t keep_to = std::uniform_int_distribution<size_t>(first_change, now->size())(*rng);
      if (after.size() < keep_to) after.resize(keep_to);
      after.replace(0, keep_to, now->substr(0, keep_to));
    }
    absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, OpenMode::kReadWrite);
    if (!file.ok()) continue;
    (*file)->Truncate(after.size()).IgnoreError();
    (*file)
        ->Write(0, std::span(reinterpret_cast<const std::byte*>(after.data()), after.size()))
        .IgnoreError();
    (*file)->Sync().IgnoreError();
  }
  durable_images_.clear();
  for (auto& [path, undos] : unsynced_) {
    absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, OpenMode::kReadWrite);
    if (!file.ok()) continue;  // removed since
    size_t keep = rng != nullptr ? std::uniform_int_distribution<size_t>(0, undos.size())(*rng) : 0;
    for (size_t i = undos.size(); i-- > keep;) {
      const Undo& u = undos[i];
      uint64_t torn = 0;  // bytes of this change that survive
      if (i == keep && rng != nullptr && u.new_length > 1) {
        torn = std::uniform_int_distribution<uint64_t>(0, u.new_length - 1)(*rng);
      }
      if (torn == 0) {
        (*file)->Truncate(u.old_size).IgnoreError();
        (*file)
            ->Write(u.offset, std::span(reinterpret_cast<const std::byte*>(u.old_bytes.data()),
                                        u.old_bytes.size()))
            .IgnoreError();
      } else {
        if (torn < u.old_bytes.size()) {
          (*file)
              ->Write(u.offset + torn,
                      std::span(reinterpret_cast<const std::byte*>(u.old_bytes.data()) + torn,
                                u.old_bytes.size() - torn))
              .IgnoreError();
        }
        if (u.offset + u.new_length > u.old_size) {
          (*file)->Truncate(std::max(u.old_size, u.offset + torn)).IgnoreError();
        }
      }
    }
    (*file)->Sync().IgnoreError();
  }
  unsynced_.clear();
}

void FaultFileSystem::CrashLocked(std::mt19937_64* rng) {
  // The files change only at Restart(), after the test has let go of the crashed Log: a real
  // crash takes the process and its mappings with it.
  crashed_ = true;
  crash_pending_ = true;
  pending_rng_ = rng;
  crash_at_ = 0;
}

void FaultFileSystem::Restart() {
  MutexLock l(&mu_);
  if (crash_pending_) {
    UndoUnsyncedLocked(pending_rng_);
    UndoDirectoriesLocked();
  }
  crash_pending_ = false;
  crashed_ = false;
  ++generation_;
  syncs_ = 0;
}

void FaultFileSystem::crash_at_sync(int64_t n, std::mt19937_64* rng) {
  MutexLock l(&mu_);
  crash_at_ = n == 0 ? 0 : syncs_ + n;
  crash_rng_ = rng;
}
void FaultFileSystem::fail_syncs(bool fail) {
  MutexLock l(&mu_);
  fail_syncs_ = fail;
}
void FaultFileSystem::fail_dir_syncs(int n) {
  MutexLock l(&mu_);
  fail_dir_syncs_ = n;
}
void FaultFileSystem::set_disk_full(bool full) {
  MutexLock l(&mu_);
  disk_full_ = full;
}
void FaultFileSystem::set_space_limit(uint64_t bytes) {
  MutexLock l(&mu_);
  space_limit_ = bytes;
}
bool FaultFileSystem::NoSpaceLocked(const std::string& path, uint64_t size,
                                    uint64_t new_size) const {
  if (disk_full_) return true;
  if (space_limit_ == 0) return false;
  uint64_t used = 0;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::filesystem::path(path).parent_path(), ec)) {
    if (entry.is_regular_file(ec)) used += entry.file_size(ec);
  }
  return used - std::min(used, size) + new_size > space_limit_;
}
int64_t FaultFileSystem::syncs() const {
  MutexLock l(&mu_);
  return syncs_;
}
bool FaultFileSystem::crashed() const {
  MutexLock l(&mu_);
  return crashed_;
}

namespace {
std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}
}  // namespace

void FaultFileSystem::RecordDirUndo(DirUndo undo) {
  unsynced_dirs_[DirOf(undo.path)].push_back(std::move(undo));
}

std::optional<std::string> FaultFileSystem::ReadWhole(const std::string& path) {
  absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, OpenMode::kReadOnly);
  if (!file.ok()) return std::nullopt;
  absl::StatusOr<uint64_t> size = (*file)->Size();
  if (!size.ok()) return std::nullopt;
  std::string bytes(*size, '\0');
  absl::StatusOr<size_t> n =
      (*file)->Read(0, std::span(reinterpret_cast<std::byte*>(bytes.data()), bytes.size()));
  if (!n.ok()) return std::nullopt;
  bytes.resize(*n);
  return bytes;
}

void FaultFileSystem::UndoDirectoriesLocked() {
  auto write_file = [&](const std::string& path, const std::string& bytes) {
    absl::StatusOr<std::unique_ptr<File>> file = base_->Open(path, OpenMode::kCreate);
    if (!file.ok()) return;
    (*file)->Truncate(0).IgnoreError();
    (*file)
        ->Write(0, std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()))
        .IgnoreError();
    (*file)->Sync().IgnoreError();
  };
  for (auto& [dir, undos] : unsynced_dirs_) {
    for (auto it = undos.rbegin(); it != undos.rend(); ++it) {
      switch (it->kind) {
        case DirUndo::Kind::kCreate:
          base_->Remove(it->path).IgnoreError();
          break;
        case DirUndo::Kind::kRename:
          base_->Rename(it->path, it->from).IgnoreError();
          if (it->old_bytes) write_file(it->path, *it->old_bytes);
          break;
        case DirUndo::Kind::kRemove:
          if (it->old_bytes) write_file(it->path, *it->old_bytes);
          break;
      }
    }
  }
  unsynced_dirs_.clear();
}

absl::StatusOr<std::unique_ptr<File>> FaultFileSystem::Open(const std::string& path,
                                                            OpenMode mode) {
  MutexLock l(&mu_);
  BROOK_RETURN_IF_ERROR(CheckAlive(generation_));
  bool created = false;
  if (mode == OpenMode::kCreate) {
    BROOK_ASSIGN_OR_RETURN(bool exists, base_->Exists(path));
    created = !exists;
  }
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<File> file, base_->Open(path, mode));
  if (created) RecordDirUndo({.kind = DirUndo::Kind::kCreate, .path = path});
  return std::unique_ptr<File>(new FaultFile(this, std::move(file), generation_));
}

absl::Status FaultFileSystem::CreateDirs(const std::string& path) {
  MutexLock l(&mu_);
  BROOK_RETURN_IF_ERROR(CheckAlive(generation_));
  return base_->CreateDirs(path);
}

absl::Status FaultFileSystem::SyncDir(const std::string& path) {
  MutexLock l(&mu_);
  BROOK_RETURN_IF_ERROR(CheckAlive(generation_));
  if (CountSync()) return absl::InternalError(fmt::format("fsync {}: simulated crash", path));
  if (fail_syncs_ || fail_dir_syncs_ > 0) {
    if (fail_dir_syncs_ > 0) --fail_dir_syncs_;
    return absl::InternalError(fmt::format("fsync {}: I/O error (simulated)", path));
  }
  unsynced_dirs_.erase(path);  // simulated, as File::Sync
  return absl::OkStatus();
}

absl::Status FaultFileSystem::Rename(const std::string& from, const std::string& to) {
  MutexLock l(&mu_);
  BROOK_RETURN_IF_ERROR(CheckAlive(generation_));
  std::optional<std::string> replaced = ReadWhole(to);
  BROOK_RETURN_IF_ERROR(base_->Rename(from, to));
  RecordDirUndo({.kind = DirUndo::Kind::kRename, .path = to, .from = from, .old_bytes = replaced});
  durable_images_.erase(to);
  if (auto image = durable_images_.extract(from)) {
    image.key() = to;
    durable_images_.insert(std::move(image));
  }
  unsynced_.erase(to);
  auto it = unsynced_.find(from);
  if (it != unsynced_.end()) {
    unsynced_[to] = std::move(it->second);
    unsynced_.erase(from);
  }
  return absl::OkStatus();
}

absl::Status FaultFileSystem::Remove(const std::string& path) {
  MutexLock l(&mu_);
  BROOK_RETURN_IF_ERROR(CheckAlive(generation_));
  std::optional<std::string> bytes = ReadWhole(path);
  BROOK_RETURN_IF_ERROR(base_->Remove(path));
  unsynced_.erase(path);
  durable_images_.erase(path);
  RecordDirUndo({.kind = DirUndo::Kind::kRemove, .path = path, .old_bytes = std::move(bytes)});
  return absl::OkStatus();
}

absl::Status FaultFileSystem::RemoveDir(const std::string& path) {
  MutexLock l(&mu_);
  BROOK_RETURN_IF_ERROR(CheckAlive(generation_));
  return base_->RemoveDir(path);
}

absl::StatusOr<std::vector<std::string>> FaultFileSystem::ListDir(const std::string& path) {
  MutexLock l(&mu_);
  BROOK_RETURN_IF_ERROR(CheckAlive(generation_));
  return base_->ListDir(path);
}

absl::StatusOr<bool> FaultFileSystem::Exists(const std::string& path) {
  MutexLock l(&mu_);
  BROOK_RETURN_IF_ERROR(CheckAlive(generation_));
  return base_->Exists(path);
}

absl::StatusOr<std::unique_ptr<FileLock>> FaultFileSystem::Lock(const std::string& path) {
  MutexLock l(&mu_);
  BROOK_RETURN_IF_ERROR(CheckAlive(generation_));
  return base_->Lock(path);
}

}  // namespace brook::testing
