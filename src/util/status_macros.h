// Private helpers for propagating absl::Status (Debian 12's Abseil has no status macros).
#ifndef BROOK_UTIL_STATUS_MACROS_H_
#define BROOK_UTIL_STATUS_MACROS_H_

#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"

namespace brook {
// `status` with "<context>: " before its message, keeping its code and payloads (ErrorCode).
inline absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  std::string message(context);
  message += ": ";
  message.append(status.message().data(), status.message().size());
  absl::Status result(status.code(), message);
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { result.SetPayload(url, payload); });
  return result;
}
}  // namespace brook

#define BROOK_STATUS_CONCAT_INNER_(a, b) a##b
#define BROOK_STATUS_CONCAT_(a, b) BROOK_STATUS_CONCAT_INNER_(a, b)

// Returns from the current function if `expr` (an absl::Status) is not OK.
#define BROOK_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status brook_status_ = (expr);         \
    if (!brook_status_.ok()) return brook_status_; \
  } while (0)

// `lhs = value of expr` (an absl::StatusOr<T>), or returns its status from the current function.
#define BROOK_ASSIGN_OR_RETURN(lhs, expr) \
  BROOK_ASSIGN_OR_RETURN_IMPL_(BROOK_STATUS_CONCAT_(brook_statusor_, __LINE__), lhs, expr)
#define BROOK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()

#endif  // BROOK_UTIL_STATUS_MACROS_H_
