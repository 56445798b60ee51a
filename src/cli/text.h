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

namespace brook::cli {

// The whole of `s` as a decimal integer, or nullopt.
std::optional<int64_t> ParseInt(std::string_view s);

// Bytes as text a terminal and a line-based parser can take: \t \n \\ and \xNN escaped.
std::string Printable(std::string_view s);

// Writes `text` to stdout, buffered: a failure shows at the next FlushStdout.
void Print(std::string_view text);

// Flushes stdout. A failed write since the last flush (a full disk, a closed pipe) comes back as
// an error naming stdout, so that a command stops, and counts nothing written since the last
// successful flush as printed.
absl::Status FlushStdout();

// Called per input line with its key (nullopt for a line without a TAB) and value. Returns
// false to stop.
using LineHandler = std::function<bool(std::optional<std::string_view>, std::string_view)>;

// Hands each complete line at the front of `pending` to `handle` - `key<TAB>value`, or a value
// with no key; a trailing '\r' is dropped - and erases it. With `final`, a last line without
// '\n' goes too. Returns false as soon as `handle` does.
bool TakeLines(std::string& pending, bool final, const LineHandler& handle);

}  // namespace brook::cli

#endif  // BROOK_CLI_TEXT_H_
