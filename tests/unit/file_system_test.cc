// The POSIX FileSystem and the checkpoint files built on it.
#include "brook/file_system.h"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "storage/checkpoint.h"
#include "storage/index_file.h"
#include "support/catch.h"
#include "support/temp_dir.h"

namespace brook {
namespace {

std::span<const std::byte> Bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST_CASE("PosixFileSystem writes, reads, resizes, maps and lists files", "[fs]") {
  testing::TempDir dir;
  FileSystem* fs = FileSystem::Default();
  std::string path = dir.Sub("a/b/file");
  REQUIRE(fs->CreateDirs(dir.Sub("a/b")).ok());
  CHECK(absl::IsNotFound(fs->Open(path, OpenMode::kReadWrite).status()));
  auto file = fs->Open(path, OpenMode::kCreate);
  REQUIRE(file.ok());
  std::span<const std::byte> pieces[] = {Bytes("hello "), Bytes("gathered "), Bytes("world")};
  REQUIRE((*file)->Write(0, pieces).ok());
  CHECK(*(*file)->Size() == 20);
  std::string back(20, '\0');
  CHECK(*(*file)->Read(0, {reinterpret_cast<std::byte*>(back.data()), back.size()}) == 20);
  CHECK(back == "hello gathered world");
  REQUIRE((*file)->Allocate(1 << 16).ok());
  CHECK(*(*file)->Size() == 1 << 16);
  auto map = (*file)->MapReadOnly(1 << 16);
  REQUIRE(map.ok());
  CHECK(std::memcmp((*map)->data(), "hello", 5) == 0);
  // pwrite'd bytes show through the shared mapping at once.
  REQUIRE((*file)->Write(100, Bytes("late")).ok());
  CHECK(std::memcmp((*map)->data() + 100, "late", 4) == 0);
  REQUIRE((*file)->Truncate(5).ok());
  CHECK(*(*file)->Size() == 5);
  REQUIRE((*file)->Sync().ok());
  REQUIRE(fs->SyncDir(dir.Sub("a/b")).ok());
  REQUIRE(fs->Rename(path, path + "2").ok());
  auto names = fs->ListDir(dir.Sub("a/b"));
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"file2"});
  CHECK(*fs->Exists(path + "2"));
  REQUIRE(fs->Remove(path + "2").ok());
  CHECK_FALSE(*fs->Exists(path + "2"));
  CHECK(absl::IsNotFound(fs->Remove(path + "2")));
}

TEST_CASE("File locks exclude a second holder until released", "[fs]") {
  testing::TempDir dir;
  FileSystem* fs = FileSystem::Default();
  auto first = fs->Lock(dir.Sub(".lock"));
  REQUIRE(first.ok());
  CHECK(absl::IsFailedPrecondition(fs->Lock(dir.Sub(".lock")).status()));
  first->reset();
  CHECK(fs->Lock(dir.Sub(".lock")).ok());
}

TEST_CASE("Checkpoints round-trip and are never trusted when damaged", "[fs][checkpoint]") {
  testing::TempDir dir;
  FileSystem* fs = FileSystem::Default();
  REQUIRE(storage::WriteCheckpoint(fs, dir.path(), "cp", "point", {42, -1, INT64_MAX}).ok());
  auto values = storage::ReadCheckpoint(fs, dir.path(), "cp", "point");
  REQUIRE(values.ok());
  CHECK(*values == std::vector<int64_t>{42, -1, INT64_MAX});
  CHECK(absl::IsDataLoss(storage::ReadCheckpoint(fs, dir.path(), "cp", "other").status()));
  CHECK(absl::IsNotFound(storage::ReadCheckpoint(fs, dir.path(), "nope", "point").status()));
  // Any changed byte is caught by the checksum (or the format).
  auto file = fs->Open(dir.Sub("cp"), OpenMode::kReadWrite);
  REQUIRE(file.ok());
  uint64_t size = *(*file)->Size();
  for (uint64_t at = 0; at < size; ++at) {
    std::byte b;
    REQUIRE(*(*file)->Read(at, {&b, 1}) == 1);
    std::byte flipped = b ^ std::byte{0x04};
    REQUIRE((*file)->Write(at, {&flipped, 1}).ok());
    CAPTURE(at);
    CHECK_FALSE(storage::ReadCheckpoint(fs, dir.path(), "cp", "point").ok());
    REQUIRE((*file)->Write(at, {&b, 1}).ok());
  }
  CHECK(storage::ReadCheckpoint(fs, dir.path(), "cp", "point").ok());
}

TEST_CASE("IndexFile appends, publishes, trims and reopens its entries", "[fs][index]") {
  testing::TempDir dir;
  FileSystem* fs = FileSystem::Default();
  std::string path = dir.Sub("x.index");
  {
    auto index = storage::IndexFile::Open(fs, path, 8, 1024, /*keep_entries=*/false,
                                          /*active=*/true);
    REQUIRE(index.ok());
    CHECK((*index)->max_entries() == 128);
    CHECK(std::filesystem::file_size(path) == 0);  // grows with its entries
    for (int i = 0; i < 10; ++i) {
      std::byte entry[8] = {};
      entry[0] = static_cast<std::byte>(i);
      REQUIRE((*index)->Append(entry).ok());
    }
    CHECK((*index)->entries() == 10);
    CHECK(std::filesystem::file_size(path) == 1024);  // 64 KiB at a time, capped by capacity
    CHECK((*index)->entry(7)[0] == std::byte{7});
    REQUIRE((*index)->Trim().ok());
    CHECK(std::filesystem::file_size(path) == 80);
  }
  // A sealed index keeps its size when reopened: no zero-padded tail to mistake for entries.
  auto reopened = storage::IndexFile::Open(fs, path, 8, 1024, /*keep_entries=*/true,
                                           /*active=*/false);
  REQUIRE(reopened.ok());
  CHECK((*reopened)->entries() == 10);
  CHECK(std::filesystem::file_size(path) == 80);
  CHECK((*reopened)->entry(9)[0] == std::byte{9});
  // After a truncation Trim keeps the entries a reader may still be reading mapped: shrinking
  // the file under them would fault.
  REQUIRE((*reopened)->Extend().ok());
  (*reopened)->TruncateEntries(6);
  CHECK((*reopened)->entries() == 6);
  REQUIRE((*reopened)->Trim().ok());
  CHECK(std::filesystem::file_size(path) == 80);
  // Appends go on after Extend, into the (remapped) read-write mapping, and reach the file.
  REQUIRE((*reopened)->Extend().ok());
  std::byte entry[8] = {std::byte{42}};
  REQUIRE((*reopened)->Append(entry).ok());
  CHECK((*reopened)->entries() == 7);
  REQUIRE((*reopened)->Sync().ok());
  std::ifstream in(path, std::ios::binary);
  in.seekg(6 * 8);
  CHECK(in.get() == 42);
}

TEST_CASE("IndexFile grows its file, blocks reserved, ahead of the entries it stores",
          "[fs][index]") {
  testing::TempDir dir;
  std::string path = dir.Sub("big.index");
  auto index = storage::IndexFile::Open(FileSystem::Default(), path, 8, 1 << 20,
                                        /*keep_entries=*/false, /*active=*/true);
  REQUIRE(index.ok());
  auto allocated = [&] {
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    return static_cast<uint64_t>(st.st_blocks) * 512;
  };
  CHECK(std::filesystem::file_size(path) == 0);
  std::byte entry[8] = {};
  REQUIRE((*index)->Append(entry).ok());
  CHECK(std::filesystem::file_size(path) == 64 << 10);  // the first 64 KiB, before the store
  CHECK(allocated() >= 64 << 10);
  for (int i = 1; i < 8192; ++i) REQUIRE((*index)->Append(entry).ok());
  CHECK(std::filesystem::file_size(path) == 64 << 10);
  REQUIRE((*index)->Append(entry).ok());  // entry 8,193 needs the next 64 KiB
  CHECK(std::filesystem::file_size(path) == 128 << 10);
  CHECK(allocated() >= 128 << 10);
}

}  // namespace
}  // namespace brook
