#include "cli/text.h"

#include <poll.h>
#include <unistd.h>

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

std::string KeyField(const RecordView& r) {
  return r.has_key() ? Printable(r.key()) : std::string(kNullField);
}

std::string ValueField(const RecordView& r) {
  return r.has_value() ? Printable(r.value()) : std::string(kNullField);
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

void FailedLines::Add(int64_t line, std::string_view why) {
  if (count_++ == 0) first_ = line;
  if (count_ <= kShown) fmt::print(stderr, "brook: line {}: {}\n", line, why);
}

absl::Status FailedLines::Summary(std::string_view verb) const {
  if (count_ == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("{} line(s) not {} (the first: line {}){}", count_, verb, first_,
                  count_ > kShown ? fmt::format(" (the first {} are shown above)", kShown) : ""));
}

bool LineSplitter::Add(std::string_view bytes, bool final,
                       const std::function<bool(const InputLine&)>& handle) {
  auto emit = [&](std::string_view line) {
    InputLine in{.number = ++lines_};
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t tab = line.find('\t');
    if (tab == std::string_view::npos) {
      in.value = line;
    } else {
      in.key = line.substr(0, tab);
      in.value = line.substr(tab + 1);
    }
    return handle(in);
  };
  while (!bytes.empty()) {
    size_t nl = bytes.find('\n');
    std::string_view piece = bytes.substr(0, nl);  // up to the line's end, or all of `bytes`
    bytes.remove_prefix(nl == std::string_view::npos ? bytes.size() : nl + 1);
    if (!skipping_) {
      // A '\r' last may be a CRLF's, which the line does not count (emit drops it); if more of
      // the line follows, the next piece's check counts it.
      size_t length = pending_.size() + piece.size();
      const char last = !piece.empty() ? piece.back() : (!pending_.empty() ? pending_.back() : 0);
      if (last == '\r') --length;
      if (length > max_line_bytes_) {
        // Too long to hold: reported now if it ends here, else once its end arrives.
        pending_.clear();
        skipping_ = true;
      } else if (nl != std::string_view::npos && pending_.empty()) {
        if (!emit(piece)) return false;  // a whole line in `bytes`: no copy
        continue;
      } else {
        pending_.append(piece);
      }
    }
    if (nl == std::string_view::npos) break;
    if (skipping_) {
      skipping_ = false;
      if (!handle(InputLine{.number = ++lines_, .too_long = true})) return false;
      continue;
    }
    std::string line = std::move(pending_);
    pending_.clear();
    if (!emit(line)) return false;
  }
  if (final && (skipping_ || !pending_.empty())) {
    std::string line = std::move(pending_);
    pending_.clear();
    if (skipping_) {
      skipping_ = false;
      return handle(InputLine{.number = ++lines_, .too_long = true});
    }
    return emit(line);
  }
  return true;
}

absl::StatusOr<size_t> ReadInput(int fd, char* buffer, size_t size, std::string_view what) {
  while (true) {
    ssize_t n = read(fd, buffer, size);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {  // a non-blocking fd inherited from a parent
      pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
      if (poll(&pfd, 1, -1) >= 0 || errno == EINTR) continue;
    }
    return absl::UnavailableError(fmt::format("reading {}: {}", what, std::strerror(errno)));
  }
}

}  // namespace brook::cli
