// Raw limits of this machine, measured in the same binary and run as brook's benchmarks so the
// ratios in docs/benchmarks.md compare like with like: write(2) into the page cache, memcpy into a
// shared file mapping (pre-faulted or faulting), a 4 KiB overwrite plus fdatasync, and reading a
// hot mapping.

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "bench_util.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  // Linux 5.14
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14
#endif

namespace brook::bench {
namespace {

constexpr size_t kChunkBytes = size_t{64} << 10;
// Files are restarted after this much, so the disk does not fill and the page cache stays small.
constexpr size_t kRegionBytes = size_t{256} << 20;
constexpr size_t kPageBytes = 4096;

void Fail(const char* what) {
  std::perror(what);
  std::abort();
}

int OpenFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) Fail("open");
  return fd;
}

void WriteAll(int fd, const char* data, size_t size, off_t offset) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Fail("pwrite");
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
}

std::vector<char> MakeChunk(size_t size) {
  std::string value = MakeValue(size, 7);
  return std::vector<char>(value.begin(), value.end());
}

// kSourceBytes of data, copied out 64 KiB at a time round-robin (as BM_LogAppend cycles through
// its batches).
class Source {
 public:
  Source() : data_(MakeChunk(kSourceBytes)) {}
  const char* Next() {
    const char* chunk = data_.data() + position_;
    position_ = (position_ + kChunkBytes) % data_.size();
    return chunk;
  }

 private:
  std::vector<char> data_;
  size_t position_ = 0;
};

// A read-write MAP_SHARED mapping of a freshly fallocate'd file, as brook maps a new segment.
class FreshMapping {
 public:
  FreshMapping(std::string path, size_t size, bool prefault)
      : fd_(OpenFile(path)), size_(size), prefault_(prefault) {
    Remake();
  }
  ~FreshMapping() {
    if (data_ != nullptr) ::munmap(data_, size_);
    ::close(fd_);
  }
  FreshMapping(const FreshMapping&) = delete;
  FreshMapping& operator=(const FreshMapping&) = delete;

  char* data() const { return data_; }

  // Drops the old pages and maps a new, unwritten file of the same size.
  void Remake() {
    if (data_ != nullptr) ::munmap(data_, size_);
    if (::ftruncate(fd_, 0) != 0) Fail("ftruncate");
    if (::posix_fallocate(fd_, 0, static_cast<off_t>(size_)) != 0) Fail("posix_fallocate");
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) Fail("mmap");
    data_ = static_cast<char*>(p);
    if (prefault_ && ::madvise(data_, size_, MADV_POPULATE_WRITE) != 0) {
      // Kernels before 5.14: touch every page instead.
      for (size_t i = 0; i < size_; i += kPageBytes) data_[i] = 0;
    }
  }

 private:
  int fd_;
  size_t size_;
  bool prefault_;
  char* data_ = nullptr;
};

// 64 KiB write(2) calls appending to a file in the page cache.
void BM_RawWrite(benchmark::State& state) {
  TempDir dir;
  int fd = OpenFile(dir.Child("raw-write"));
  Source source;
  RunRestartingLoop(
      state, kChunkBytes, 1, kRegionBytes,
      [&] {
        if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) Fail("restart");
      },
      [&] {
        if (::write(fd, source.Next(), kChunkBytes) == static_cast<ssize_t>(kChunkBytes)) {
          return true;
        }
        state.SkipWithError("short write");
        return false;
      });
  ::close(fd);
}
BENCHMARK(BM_RawWrite);

// pwrite(2) of 64 KiB chunks into a preallocated (fallocate'd) file: brook's append path.
void BM_RawPwritePreallocated(benchmark::State& state) {
  TempDir dir;
  int fd = OpenFile(dir.Child("raw-pwrite"));
  auto preallocate = [&] {
    if (::ftruncate(fd, 0) != 0 ||
        ::posix_fallocate(fd, 0, static_cast<off_t>(kRegionBytes)) != 0) {
      Fail("preallocate");
    }
  };
  preallocate();
  Source source;
  size_t position = 0;
  RunRestartingLoop(
      state, kChunkBytes, 1, kRegionBytes,
      [&] {
        preallocate();
        position = 0;
      },
      [&] {
        WriteAll(fd, source.Next(), kChunkBytes, static_cast<off_t>(position));
        position += kChunkBytes;
        return true;
      });
  ::close(fd);
}
BENCHMARK(BM_RawPwritePreallocated);

enum class Prefault { kAhead, kNone, kInline };

void RunMmapCopy(benchmark::State& state, Prefault prefault) {
  TempDir dir;
  FreshMapping map(dir.Child("raw-mmap"), kRegionBytes, prefault == Prefault::kAhead);
  constexpr size_t kPopulateBytes = size_t{1} << 20;
  Source source;
  size_t position = 0;
  RunRestartingLoop(
      state, kChunkBytes, 1, kRegionBytes,
      [&] {
        map.Remake();
        position = 0;
      },
      [&] {
        if (prefault == Prefault::kInline && position % kPopulateBytes == 0 &&
            ::madvise(map.data() + position, kPopulateBytes, MADV_POPULATE_WRITE) != 0) {
          for (size_t i = 0; i < kPopulateBytes; i += kPageBytes) map.data()[position + i] = 0;
        }
        std::memcpy(map.data() + position, source.Next(), kChunkBytes);
        benchmark::ClobberMemory();
        position += kChunkBytes;
        return true;
      });
}

// memcpy of 64 KiB chunks into a MAP_SHARED mapping of a fallocate'd file, pre-faulted with
// MADV_POPULATE_WRITE outside the timing: the copy alone.
void BM_RawMmapCopy(benchmark::State& state) { RunMmapCopy(state, Prefault::kAhead); }
BENCHMARK(BM_RawMmapCopy);

// The same without pre-faulting: every first touch of a page faults (and allocates it).
void BM_RawMmapCopyFaulting(benchmark::State& state) { RunMmapCopy(state, Prefault::kNone); }
BENCHMARK(BM_RawMmapCopyFaulting);

// What an mmap-based appender would really pay: MADV_POPULATE_WRITE of each next 1 MiB ahead of
// the copies, inside the timing, then memcpy of 64 KiB chunks.
void BM_RawMmapCopyPrefaultInline(benchmark::State& state) {
  RunMmapCopy(state, Prefault::kInline);
}
BENCHMARK(BM_RawMmapCopyPrefaultInline);

// A 4 KiB overwrite at offset 0 of a file whose blocks are already written, then fdatasync: the
// cheapest durable write this disk offers (no metadata to sync).
void BM_RawFdatasync(benchmark::State& state) {
  TempDir dir;
  int fd = OpenFile(dir.Child("raw-sync"));
  std::vector<char> page = MakeChunk(kPageBytes);
  std::vector<char> prefix = MakeChunk(size_t{1} << 20);
  WriteAll(fd, prefix.data(), prefix.size(), 0);
  if (::fdatasync(fd) != 0) Fail("fdatasync");
  std::vector<int64_t> latencies;
  latencies.reserve(1 << 16);
  WallClock wall;
  for (auto _ : state) {
    int64_t start = NowNanos();
    WriteAll(fd, page.data(), page.size(), 0);
    if (::fdatasync(fd) != 0) {
      state.SkipWithError("fdatasync failed");
      break;
    }
    latencies.push_back(NowNanos() - start);
  }
  SetWallRates(state, wall.seconds(), static_cast<double>(state.iterations()),
               static_cast<double>(state.iterations()) * kPageBytes);
  SetLatencyCounters(state, std::move(latencies), "", /*with_p999=*/false);
  ::close(fd);
}
BENCHMARK(BM_RawFdatasync);

// Summing the 8-byte words of a hot (page-cached, mapped and pre-faulted) MAP_SHARED mapping, 1 MiB
// per iteration across 256 MiB, so the data comes from memory rather than the CPU caches.
void BM_RawMmapRead(benchmark::State& state) {
  constexpr size_t kStepBytes = size_t{1} << 20;
  TempDir dir;
  int fd = OpenFile(dir.Child("raw-read"));
  std::vector<char> chunk = MakeChunk(kChunkBytes);
  for (size_t at = 0; at < kRegionBytes; at += kChunkBytes) {
    WriteAll(fd, chunk.data(), chunk.size(), static_cast<off_t>(at));
  }
  void* p = ::mmap(nullptr, kRegionBytes, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) Fail("mmap");
  const auto* words = static_cast<const uint64_t*>(p);
  if (::madvise(p, kRegionBytes, MADV_POPULATE_READ) != 0) {
    uint64_t touch = 0;
    for (size_t i = 0; i < kRegionBytes / 8; i += kPageBytes / 8) touch += words[i];
    benchmark::DoNotOptimize(touch);
  }
  size_t position = 0;
  int64_t bytes = 0;
  WallClock wall;
  for (auto _ : state) {
    const uint64_t* w = words + position / 8;
    uint64_t sum = 0;
    for (size_t i = 0; i < kStepBytes / 8; ++i) sum += w[i];
    benchmark::DoNotOptimize(sum);
    position = (position + kStepBytes) % kRegionBytes;
    bytes += static_cast<int64_t>(kStepBytes);
  }
  SetWallRates(state, wall.seconds(), static_cast<double>(state.iterations()),
               static_cast<double>(bytes));
  ::munmap(p, kRegionBytes);
  ::close(fd);
}
BENCHMARK(BM_RawMmapRead);

}  // namespace
}  // namespace brook::bench
