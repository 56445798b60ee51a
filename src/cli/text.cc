#include "cli/text.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "fmt/format.h"

namespace brook::cli {

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

namespace {
int print_errno = 0;  // why the last failed Print failed (stdout is used by one thread)
}  // namespace

void Print(std::string_view text) {
  if (text.empty()) return;
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() && print_errno == 0) {
    print_errno = errno;
  }
}

absl::Status FlushStdout() {
  int error = print_errno;
  if (std::fflush(stdout) != 0 && error == 0) error = errno;
  if (error == 0 && !std::ferror(stdout)) return absl::OkStatus();
  print_errno = 0;
  std::clearerr(stdout);
  return absl::DataLossError(
      fmt::format("writing to stdout: {}", error != 0 ? std::strerror(error) : "write error"));
}

bool TakeLines(std::string& pending, bool final, const LineHandler& handle) {
  size_t start = 0;
  bool ok = true;
  while (ok) {
    size_t nl = pending.find('\n', start);
    if (nl == std::string::npos && !(final && start < pending.size())) break;
    size_t end = nl == std::string::npos ? pending.size() : nl;
    std::string_view line(pending.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos) {
      ok = handle(std::nullopt, line);
    } else {
      ok = handle(line.substr(0, tab), line.substr(tab + 1));
    }
    start = end + 1;
  }
  pending.erase(0, std::min(start, pending.size()));
  return ok;
}

}  // namespace brook::cli
