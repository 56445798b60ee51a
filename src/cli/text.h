// Text in and out of the `brook` CLI: numbers from arguments, bytes made printable, and stdin
// lines split into key and value. Shared by every command family.
#ifndef BROOK_CLI_TEXT_H_
#define BROOK_CLI_TEXT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "brook/record_batch.h"

namespace brook::cli {

// The whole of `s` as a decimal integer, or nullopt.
std::optional<int64_t> ParseInt(std::string_view s);

// Bytes as text a terminal and a line-based parser can take: \t \n \\ and \xNN escaped.
std::string Printable(std::string_view s);

// The text that stands for a null key or value in output (a tombstone's value, a keyless record's
// key). Unambiguous: Printable writes a backslash in the bytes as \\.
inline constexpr std::string_view kNullField = "\\N";

// A record's key and value as output fields: Printable, or kNullField for null.
std::string KeyField(const RecordView& r);
std::string ValueField(const RecordView& r);

// Writes `text` to stdout, buffered: a failure shows at the next FlushStdout.
void Print(std::string_view text);

// Flushes stdout. A failed write since the last flush (a full disk, a closed pipe) comes back as
// an error naming stdout, so that a command stops, and counts nothing written since the last
// successful flush as printed.
absl::Status FlushStdout();

// One line of input: `key<TAB>value`, or a value with no key (key nullopt); a trailing '\r' is
// dropped. Lines are numbered from 1. A line longer than the splitter's limit comes with
// too_long set and no bytes: it was dropped as it arrived, never held whole.
struct InputLine {
  int64_t number = 0;
  std::optional<std::string_view> key;
  std::string_view value;
  bool too_long = false;
};

// Splits input arriving in chunks into lines. Holds at most one partial line, of at most
// `max_line_bytes` (past that, the rest of the line is skipped as it arrives), so memory stays
// bounded whatever the input.
class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  // Adds `bytes` and hands each line they complete to `handle` (with `final`, a last line without
  // '\n' too). Returns false as soon as `handle` does; the lines after it are dropped then.
  bool Add(std::string_view bytes, bool final, const std::function<bool(const InputLine&)>& handle);

 private:
  const size_t max_line_bytes_;
  std::string pending_;    // the start of the current line
  bool skipping_ = false;  // the current line is too long: dropping bytes up to its '\n'
  int64_t lines_ = 0;      // lines handed out
};

// The input lines a command could not take: each is named on stderr ("line N: why"), the first
// kShown of them, and the rest only counted, so that the command goes on with the other lines and
// what it takes does not depend on how the input was split into reads.
class FailedLines {
 public:
  static constexpr int64_t kShown = 20;

  void Add(int64_t line, std::string_view why);
  int64_t count() const { return count_; }
  // OK if no line failed, else InvalidArgument counting them: "N line(s) not <verb> ...".
  absl::Status Summary(std::string_view verb) const;

 private:
  int64_t count_ = 0;
  int64_t first_ = 0;
};

// Reads up to `size` bytes from `fd`, waiting for input (EINTR retried, a non-blocking fd polled).
// 0 at the end of input; an error names `what` ("stdin").
absl::StatusOr<size_t> ReadInput(int fd, char* buffer, size_t size, std::string_view what);

}  // namespace brook::cli

#endif  // BROOK_CLI_TEXT_H_
