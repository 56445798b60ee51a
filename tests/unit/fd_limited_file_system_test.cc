// FdLimitedFileSystem: at most max_open descriptors, files reopened by path, renames and
// removals followed.
#include "fs/fd_limited_file_system.h"

#include <dirent.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "support/catch.h"
#include "support/seed.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

std::span<const std::byte> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

std::string ReadAll(File& file) {
  absl::StatusOr<uint64_t> size = file.Size();
  REQUIRE(size.ok());
  std::string out(*size, '\0');
  absl::StatusOr<size_t> n = file.Read(0, {reinterpret_cast<std::byte*>(out.data()), out.size()});
  REQUIRE(n.ok());
  out.resize(*n);
  return out;
}

// Descriptors this process has open now.
int OpenDescriptors() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n - 3;  // ".", ".." and the directory's own descriptor
}

TEST_CASE("FdLimitedFileSystem keeps at most max_open descriptors and reopens files by path",
          "[fs]") {
  testing::TempDir dir;
  auto fs = std::make_shared<fs::FdLimitedFileSystem>(FileSystem::Default(), 3);
  const int before = OpenDescriptors();
  std::vector<std::unique_ptr<File>> files;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<std::unique_ptr<File>> f =
        fs->Open(dir.Sub(std::to_string(i)), OpenMode::kCreate);
    REQUIRE(f.ok());
    files.push_back(std::move(*f));
    REQUIRE(fs->open_now() <= 3);
  }
  CHECK(OpenDescriptors() - before <= 3);
  // Every file still works, in any order, each write landing in its own file.
  std::mt19937_64 rng(testing::TestSeed());
  std::vector<std::string> expected(10);
  for (int round = 0; round < 200; ++round) {
    size_t i = rng() % files.size();
    std::string piece = std::to_string(round) + ",";
    REQUIRE(files[i]->Write(expected[i].size(), Bytes(piece)).ok());
    expected[i] += piece;
    if (round % 7 == 0) REQUIRE(files[i]->Sync().ok());
    REQUIRE(fs->open_now() <= 3);
  }
  CHECK(OpenDescriptors() - before <= 3);
  CHECK(fs->reopens() > 0);
  for (size_t i = 0; i < files.size(); ++i) CHECK(ReadAll(*files[i]) == expected[i]);

  // A mapping outlives its file's descriptor.
  REQUIRE(files[0]->Allocate(4096).ok());
  absl::StatusOr<std::unique_ptr<MappedRegion>> map = files[0]->MapReadWrite(4096);
  REQUIRE(map.ok());
  for (size_t i = 1; i < files.size(); ++i) REQUIRE(files[i]->Size().ok());  // evicts files[0]
  std::memcpy((*map)->data() + 100, "mapped", 6);
  REQUIRE(files[0]->Sync().ok());
  std::string whole = ReadAll(*files[0]);
  CHECK(whole.substr(100, 6) == "mapped");

  files.clear();
  CHECK(fs->open_now() == 0);
  CHECK(OpenDescriptors() == before);
}

TEST_CASE("FdLimitedFileSystem follows renames and lets removed files go", "[fs]") {
  testing::TempDir dir;
  auto fs = std::make_shared<fs::FdLimitedFileSystem>(FileSystem::Default(), 1);
  auto a = *fs->Open(dir.Sub("a"), OpenMode::kCreate);
  auto b = *fs->Open(dir.Sub("b"), OpenMode::kCreate);  // closes a's descriptor
  REQUIRE(a->Write(0, Bytes("first")).ok());            // reopens a, closes b's
  REQUIRE(fs->Rename(dir.Sub("a"), dir.Sub("renamed")).ok());
  CHECK(a->path() == dir.Sub("renamed"));
  REQUIRE(b->Size().ok());                      // a's descriptor closed again
  REQUIRE(a->Write(5, Bytes(" second")).ok());  // reopens "renamed", not "a"
  CHECK(ReadAll(*a) == "first second");
  CHECK(!*fs->Exists(dir.Sub("a")));

  // A removed file's descriptor is closed at once (it is idle): syncs, truncations and
  // allocations do nothing, the rest fail, and the file is never recreated.
  REQUIRE(fs->Remove(dir.Sub("renamed")).ok());
  CHECK(fs->open_now() == 0);
  CHECK(a->Sync().ok());
  CHECK(a->Truncate(0).ok());
  CHECK(a->Allocate(4096).ok());
  absl::Status s = a->Write(0, Bytes("x"));
  CHECK(absl::IsFailedPrecondition(s));
  CHECK(absl::StrContains(s.message(), "removed"));
  CHECK(!a->Size().ok());
  CHECK(!*fs->Exists(dir.Sub("renamed")));

  // Renaming over a file removes the file that name led to.
  auto c = *fs->Open(dir.Sub("c"), OpenMode::kCreate);
  REQUIRE(c->Write(0, Bytes("c")).ok());
  REQUIRE(b->Write(0, Bytes("b")).ok());  // c's descriptor closed
  REQUIRE(fs->Rename(dir.Sub("b"), dir.Sub("c")).ok());
  CHECK(b->path() == dir.Sub("c"));
  CHECK(ReadAll(*b) == "b");
  CHECK(absl::IsFailedPrecondition(c->Write(0, Bytes("x"))));
}

TEST_CASE("FdLimitedFileSystem under many threads stays within its limit", "[fs]") {
  testing::TempDir dir;
  auto fs = std::make_shared<fs::FdLimitedFileSystem>(FileSystem::Default(), 4);
  std::vector<std::unique_ptr<File>> files;
  for (int i = 0; i < 16; ++i)
    files.push_back(*fs->Open(dir.Sub(std::to_string(i)), OpenMode::kCreate));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      // Thread t appends its own 8-byte slots to every file: slot (round * 4 + t).
      for (int round = 0; round < 100; ++round) {
        for (size_t i = 0; i < files.size(); ++i) {
          char slot[8] = {};
          std::snprintf(slot, sizeof(slot), "%d:%04d", t, round);
          uint64_t at = static_cast<uint64_t>(round * 4 + t) * 8;
          if (!files[i]->Write(at, std::span(reinterpret_cast<const std::byte*>(slot), 8)).ok()) {
            ++failures;
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK(failures == 0);
  // At most one descriptor per thread in use beyond the limit.
  CHECK(fs->open_now() <= 4 + 4);
  for (auto& f : files) {
    std::string all = ReadAll(*f);
    REQUIRE(all.size() == 100 * 4 * 8);
    for (int k = 0; k < 400; ++k) {
      char slot[8] = {};
      std::snprintf(slot, sizeof(slot), "%d:%04d", k % 4, k / 4);
      CHECK(all.compare(static_cast<size_t>(k) * 8, 8, std::string(slot, 8)) == 0);
    }
  }
}

}  // namespace
}  // namespace brook
