#include "storage/checkpoint.h"

#include <charconv>
#include <string_view>

#include "brook/crc32c.h"
#include "fmt/format.h"
#include "util/status_macros.h"

namespace brook::storage {
namespace {
constexpr std::string_view kMagic = "brook-checkpoint 1";
constexpr size_t kMaxCheckpointBytes = 64 << 10;
constexpr int64_t kMaxValues = 1024;
}  // namespace

absl::Status WriteChecksummedText(FileSystem* fs, const std::string& dir,
                                  const std::string& file_name, std::string body) {
  body += fmt::format("crc32c {:08x}\n", Crc32c(body));
  std::string path = dir + "/" + file_name;
  std::string tmp = path + ".tmp";
  {
    BROOK_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(tmp, OpenMode::kCreate));
    BROOK_RETURN_IF_ERROR(file->Truncate(0));
    BROOK_RETURN_IF_ERROR(
        file->Write(0, std::span(reinterpret_cast<const std::byte*>(body.data()), body.size())));
    BROOK_RETURN_IF_ERROR(file->Sync());
  }
  BROOK_RETURN_IF_ERROR(fs->Rename(tmp, path));
  return fs->SyncDir(dir);
}

absl::StatusOr<std::vector<std::string>> ReadChecksummedText(FileSystem* fs, const std::string& dir,
                                                             const std::string& file_name,
                                                             size_t max_bytes) {
  std::string path = dir + "/" + file_name;
  BROOK_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->Open(path, OpenMode::kReadOnly));
  BROOK_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  auto damaged = [&](std::string_view why) {
    return absl::DataLossError(fmt::format("{} is damaged: {}", path, why));
  };
  if (size > max_bytes) return damaged(fmt::format("larger than {} bytes", max_bytes));
  std::string text(size, '\0');
  BROOK_ASSIGN_OR_RETURN(size_t n,
                         file->Read(0, std::span(reinterpret_cast<std::byte*>(text.data()), size)));
  text.resize(n);
  size_t crc_line = text.rfind("crc32c ");
  if (crc_line == std::string::npos || (crc_line > 0 && text[crc_line - 1] != '\n')) {
    return damaged("no checksum line");
  }
  std::string_view crc_text = std::string_view(text).substr(crc_line + 7);
  uint32_t stored = 0;
  auto [end, ec] = std::from_chars(crc_text.data(), crc_text.data() + crc_text.size(), stored, 16);
  if (ec != std::errc() || std::string_view(end, crc_text.data() + crc_text.size()) != "\n") {
    return damaged("bad checksum line");
  }
  if (Crc32c(std::string_view(text).substr(0, crc_line)) != stored) {
    return damaged("checksum mismatch");
  }
  std::vector<std::string> lines;
  std::string_view rest = std::string_view(text).substr(0, crc_line);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) return damaged("unterminated line");
    lines.emplace_back(rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
  return lines;
}

absl::Status WriteCheckpoint(FileSystem* fs, const std::string& dir, const std::string& file_name,
                             const std::string& name, const std::vector<int64_t>& values) {
  std::string body = fmt::format("{}\n{}\n{}\n", kMagic, name, values.size());
  for (int64_t v : values) body += fmt::format("{}\n", v);
  return WriteChecksummedText(fs, dir, file_name, std::move(body));
}

absl::StatusOr<std::vector<int64_t>> ReadCheckpoint(FileSystem* fs, const std::string& dir,
                                                    const std::string& file_name,
                                                    const std::string& name) {
  BROOK_ASSIGN_OR_RETURN(std::vector<std::string> lines,
                         ReadChecksummedText(fs, dir, file_name, kMaxCheckpointBytes));
  auto damaged = [&](std::string_view why) {
    return absl::DataLossError(fmt::format("checkpoint {}/{} is damaged: {}", dir, file_name, why));
  };
  if (lines.size() < 3 || lines[0] != kMagic) return damaged("bad header");
  if (lines[1] != name) return damaged(fmt::format("holds '{}', expected '{}'", lines[1], name));
  auto parse = [](std::string_view s, int64_t* out) {
    auto [p, e] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return e == std::errc() && p == s.data() + s.size();
  };
  int64_t count;
  if (!parse(lines[2], &count) || count < 0 || count > kMaxValues ||
      lines.size() != static_cast<size_t>(3 + count)) {
    return damaged("bad value count");
  }
  std::vector<int64_t> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    if (!parse(lines[static_cast<size_t>(3 + i)], &values[static_cast<size_t>(i)])) {
      return damaged("bad value");
    }
  }
  return values;
}

}  // namespace brook::storage
