// brook/status.h — how brook reports errors.
//
// Every fallible call returns absl::Status or absl::StatusOr<T>; no exception crosses the API.
// The canonical code says what kind of failure it was:
//
//   InvalidArgument     the caller passed something brook cannot accept (bad option, malformed
//                       batch handed to Append, batch larger than a limit)
//   OutOfRange          an offset outside [start_offset, end_offset]
//   DataLoss            bytes on disk failed a checksum or a length check
//   FailedPrecondition  the object is in a state that forbids the call (closed, failed after an
//                       fsync error, directory locked by another process, not a brook directory)
//   ResourceExhausted   the disk (or a configured bound) is full; nothing was written
//   NotFound            a file, or an offset for a timestamp, does not exist
//   DeadlineExceeded    a wait ran out of time
//   Internal            an I/O error the operating system reported (EIO and friends)
//
// Where a caller must branch on a Kafka-level reason, the status also carries an `ErrorCode`
// payload whose numeric value is Kafka's own error code, so the wire protocol can pass it on.
//
//   absl::Status s = log->Append(batch).status();
//   if (brook::GetErrorCode(s) == brook::ErrorCode::kMessageTooLarge) { ... }

#ifndef BROOK_STATUS_H_
#define BROOK_STATUS_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"

namespace brook {

// Kafka's error codes (org.apache.kafka.common.protocol.Errors), for the reasons brook reports.
// Persistent and wire-visible: never renumber.
enum class ErrorCode : int16_t {
  kUnknownServerError = -1,
  kNone = 0,
  kOffsetOutOfRange = 1,
  kCorruptMessage = 2,
  kUnknownTopicOrPartition = 3,
  kMessageTooLarge = 10,
  kInvalidTopicException = 17,
  kRecordListTooLarge = 18,
  kIllegalGeneration = 22,
  kInconsistentGroupProtocol = 23,
  kInvalidGroupId = 24,
  kUnknownMemberId = 25,
  kInvalidSessionTimeout = 26,
  kRebalanceInProgress = 27,
  kInvalidTimestamp = 32,
  kTopicAlreadyExists = 36,
  kInvalidPartitions = 37,
  kInvalidConfig = 40,
  kInvalidRequest = 42,
  kOutOfOrderSequenceNumber = 45,
  kDuplicateSequenceNumber = 46,
  kInvalidProducerEpoch = 47,
  kKafkaStorageError = 56,
  kUnknownProducerId = 59,
  kNonEmptyGroup = 68,
  kGroupIdNotFound = 69,
  kUnsupportedCompressionType = 76,
  kFencedInstanceId = 82,
  kInvalidRecord = 87,
  kProducerFenced = 90,
};

// The Kafka name of `code`, e.g. "MESSAGE_TOO_LARGE".
std::string_view ErrorCodeName(ErrorCode code);

// Returns `status` with `code` attached as a payload. An OK status is returned unchanged.
absl::Status WithErrorCode(absl::Status status, ErrorCode code);

// The ErrorCode attached to `status`: kNone for OK, kUnknownServerError when none was attached.
ErrorCode GetErrorCode(const absl::Status& status);

}  // namespace brook

#endif  // BROOK_STATUS_H_
