// The default FileSystem: POSIX calls, retried on EINTR, errors mapped to absl::Status.
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "brook/file_system.h"
#include "fmt/format.h"
#include "util/status_macros.h"

namespace brook {
namespace {

absl::Status ErrnoStatus(int error, std::string_view what, std::string_view path) {
  std::string message = fmt::format("{} {}: {}", what, path, std::strerror(error));
  switch (error) {
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
      return absl::ResourceExhaustedError(message);
    case ENOENT:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

class PosixMappedRegion final : public MappedRegion {
 public:
  PosixMappedRegion(std::byte* data, size_t size) : data_(data), size_(size) {}
  ~PosixMappedRegion() override { munmap(data_, size_); }
  std::byte* data() const override { return data_; }
  size_t size() const override { return size_; }

 private:
  std::byte* data_;
  size_t size_;
};

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override { close(fd_); }

  const std::string& path() const override { return path_; }

  absl::Status Write(uint64_t offset, std::span<const std::span<const std::byte>> pieces) override {
    constexpr size_t kMaxIov = 64;
    while (!pieces.empty()) {
      size_t n = std::min(pieces.size(), kMaxIov);
      iovec iov[kMaxIov];
      size_t bytes = 0;
      for (size_t i = 0; i < n; ++i) {
        iov[i].iov_base = const_cast<std::byte*>(pieces[i].data());
        iov[i].iov_len = pieces[i].size();
        bytes += iov[i].iov_len;
      }
      pieces = pieces.subspan(n);
      // Write this group fully, resuming after short writes.
      iovec* first = iov;
      size_t left = n;
      size_t done = 0;
      while (done < bytes) {
        ssize_t r = pwritev(fd_, first, static_cast<int>(left), static_cast<off_t>(offset + done));
        if (r < 0) {
          if (errno == EINTR) continue;
          return ErrnoStatus(errno, "write", path_);
        }
        done += static_cast<size_t>(r);
        auto consumed = static_cast<size_t>(r);
        while (left > 0 && consumed >= first->iov_len) {
          consumed -= first->iov_len;
          ++first;
          --left;
        }
        if (left > 0) {
          first->iov_base = static_cast<char*>(first->iov_base) + consumed;
          first->iov_len -= consumed;
        }
      }
      offset += bytes;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<size_t> Read(uint64_t offset, std::span<std::byte> out) override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t r =
          pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, "read", path_);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }

  absl::StatusOr<uint64_t> Size() override {
    struct stat st;
    if (fstat(fd_, &st) != 0) return ErrnoStatus(errno, "stat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

  absl::Status Truncate(uint64_t size) override {
    while (ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      if (errno != EINTR) return ErrnoStatus(errno, "truncate", path_);
    }
    return absl::OkStatus();
  }

  absl::Status Allocate(uint64_t size) override {
    int r;
    while ((r = posix_fallocate(fd_, 0, static_cast<off_t>(size))) == EINTR) {
    }
    if (r == EOPNOTSUPP || r == EINVAL) return AllocateByWriting(size);
    if (r != 0) return ErrnoStatus(r, "allocate", path_);
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    while (fdatasync(fd_) != 0) {
      if (errno != EINTR) return ErrnoStatus(errno, "fdatasync", path_);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<MappedRegion>> MapReadOnly(uint64_t size) override {
    return Map(size, PROT_READ);
  }

  absl::StatusOr<std::unique_ptr<MappedRegion>> MapReadWrite(uint64_t size) override {
    return Map(size, PROT_READ | PROT_WRITE);
  }

 private:
  absl::StatusOr<std::unique_ptr<MappedRegion>> Map(uint64_t size, int protection) {
    if (size == 0) return absl::InvalidArgumentError(absl::StrCat("map 0 bytes of ", path_));
    void* p = mmap(nullptr, size, protection, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) return ErrnoStatus(errno, "mmap", path_);
    return std::make_unique<PosixMappedRegion>(static_cast<std::byte*>(p), size);
  }

  // For file systems without fallocate: writing zeros is what reserves the blocks, so a later
  // store through a shared mapping cannot fault for lack of space (a sparse file could).
  absl::Status AllocateByWriting(uint64_t size) {
    BROOK_ASSIGN_OR_RETURN(uint64_t at, Size());
    static const std::vector<std::byte> kZeros(size_t{1} << 20);
    while (at < size) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kZeros.size(), size - at));
      BROOK_RETURN_IF_ERROR(File::Write(at, std::span(kZeros.data(), n)));
      at += n;
    }
    return absl::OkStatus();
  }

  std::string path_;
  int fd_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { close(fd_); }  // closing releases the flock

 private:
  int fd_;
};

class PosixFileSystem final : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kReadOnly:
        flags |= O_RDONLY;
        break;
      case OpenMode::kReadWrite:
        flags |= O_RDWR;
        break;
      case OpenMode::kCreate:
        flags |= O_RDWR | O_CREAT;
        break;
    }
    int fd;
    while ((fd = open(path.c_str(), flags, 0644)) < 0) {
      if (errno != EINTR) return ErrnoStatus(errno, "open", path);
    }
    return std::make_unique<PosixFile>(path, fd);
  }

  absl::Status CreateDirs(const std::string& path) override {
    for (size_t i = 1; i <= path.size(); ++i) {
      if (i != path.size() && path[i] != '/') continue;
      std::string prefix = path.substr(0, i);
      if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoStatus(errno, "mkdir", prefix);
      }
    }
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(path, " exists and is not a directory"));
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& path) override {
    int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open directory", path);
    int r = fsync(fd);
    int error = errno;
    close(fd);
    if (r != 0) return ErrnoStatus(error, "fsync directory", path);
    return absl::OkStatus();
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (rename(from.c_str(), to.c_str()) != 0) {
      return ErrnoStatus(errno, "rename", absl::StrCat(from, " to ", to));
    }
    return absl::OkStatus();
  }

  absl::Status Remove(const std::string& path) override {
    if (unlink(path.c_str()) != 0) return ErrnoStatus(errno, "remove", path);
    return absl::OkStatus();
  }

  absl::Status RemoveDir(const std::string& path) override {
    if (rmdir(path.c_str()) != 0) return ErrnoStatus(errno, "remove directory", path);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* dir = opendir(path.c_str());
    if (dir == nullptr) return ErrnoStatus(errno, "list directory", path);
    std::vector<std::string> names;
    errno = 0;
    while (dirent* entry = readdir(dir)) {
      std::string_view name = entry->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    int error = errno;
    closedir(dir);
    if (error != 0) return ErrnoStatus(error, "list directory", path);
    return names;
  }

  absl::StatusOr<bool> Exists(const std::string& path) override {
    struct stat st;
    if (stat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT) return false;
    return ErrnoStatus(errno, "stat", path);
  }

  absl::StatusOr<std::unique_ptr<FileLock>> Lock(const std::string& path) override {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, "open lock file", path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int error = errno;
      close(fd);
      if (error == EWOULDBLOCK) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, " is locked: the directory is open in another process or Log"));
      }
      return ErrnoStatus(error, "lock", path);
    }
    return std::make_unique<PosixFileLock>(fd);
  }
};

}  // namespace

FileSystem* FileSystem::Default() {
  static PosixFileSystem* fs = new PosixFileSystem();
  return fs;
}

}  // namespace brook
