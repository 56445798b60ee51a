// Opening a Log in a test: fails the test (showing why) unless Log::Open succeeds.
#ifndef BROOK_TESTS_SUPPORT_OPEN_LOG_H_
#define BROOK_TESTS_SUPPORT_OPEN_LOG_H_

#include <memory>
#include <string>

#include "brook/log.h"
#include "support/catch.h"

namespace brook::testing {

inline std::unique_ptr<Log> OpenLog(const std::string& dir, const LogOptions& options) {
  absl::StatusOr<std::unique_ptr<Log>> log = Log::Open(dir, options);
  INFO(log.status().ToString());
  REQUIRE(log.ok());
  return std::move(*log);
}

}  // namespace brook::testing

#endif  // BROOK_TESTS_SUPPORT_OPEN_LOG_H_
