#include "brook/status.h"

#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/cord.h"

namespace brook {
namespace {
constexpr char kErrorCodeUrl[] = "brook.dev/ErrorCode";
}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnknownServerError:
      return "UNKNOWN_SERVER_ERROR";
    case ErrorCode::kNone:
      return "NONE";
    case ErrorCode::kOffsetOutOfRange:
      return "OFFSET_OUT_OF_RANGE";
    case ErrorCode::kCorruptMessage:
      return "CORRUPT_MESSAGE";
    case ErrorCode::kMessageTooLarge:
      return "MESSAGE_TOO_LARGE";
    case ErrorCode::kRecordListTooLarge:
      return "RECORD_LIST_TOO_LARGE";
    case ErrorCode::kInvalidTimestamp:
      return "INVALID_TIMESTAMP";
    case ErrorCode::kInvalidRequest:
      return "INVALID_REQUEST";
    case ErrorCode::kOutOfOrderSequenceNumber:
      return "OUT_OF_ORDER_SEQUENCE_NUMBER";
    case ErrorCode::kDuplicateSequenceNumber:
      return "DUPLICATE_SEQUENCE_NUMBER";
    case ErrorCode::kInvalidProducerEpoch:
      return "INVALID_PRODUCER_EPOCH";
    case ErrorCode::kKafkaStorageError:
      return "KAFKA_STORAGE_ERROR";
    case ErrorCode::kUnknownProducerId:
      return "UNKNOWN_PRODUCER_ID";
    case ErrorCode::kUnsupportedCompressionType:
      return "UNSUPPORTED_COMPRESSION_TYPE";
    case ErrorCode::kInvalidRecord:
      return "INVALID_RECORD";
    case ErrorCode::kProducerFenced:
      return "PRODUCER_FENCED";
    case ErrorCode::kUnknownTopicOrPartition:
      return "UNKNOWN_TOPIC_OR_PARTITION";
    case ErrorCode::kInvalidTopicException:
      return "INVALID_TOPIC_EXCEPTION";
    case ErrorCode::kIllegalGeneration:
      return "ILLEGAL_GENERATION";
    case ErrorCode::kInconsistentGroupProtocol:
      return "INCONSISTENT_GROUP_PROTOCOL";
    case ErrorCode::kInvalidGroupId:
      return "INVALID_GROUP_ID";
    case ErrorCode::kUnknownMemberId:
      return "UNKNOWN_MEMBER_ID";
    case ErrorCode::kInvalidSessionTimeout:
      return "INVALID_SESSION_TIMEOUT";
    case ErrorCode::kRebalanceInProgress:
      return "REBALANCE_IN_PROGRESS";
    case ErrorCode::kTopicAlreadyExists:
      return "TOPIC_ALREADY_EXISTS";
    case ErrorCode::kInvalidPartitions:
      return "INVALID_PARTITIONS";
    case ErrorCode::kInvalidConfig:
      return "INVALID_CONFIG";
    case ErrorCode::kNonEmptyGroup:
      return "NON_EMPTY_GROUP";
    case ErrorCode::kGroupIdNotFound:
      return "GROUP_ID_NOT_FOUND";
    case ErrorCode::kFencedInstanceId:
      return "FENCED_INSTANCE_ID";
  }
  return "UNKNOWN";
}

absl::Status WithErrorCode(absl::Status status, ErrorCode code) {
  if (status.ok()) return status;
  auto value = static_cast<int16_t>(code);
  char bytes[sizeof(value)];
  std::memcpy(bytes, &value, sizeof(value));
  status.SetPayload(kErrorCodeUrl, absl::Cord(absl::string_view(bytes, sizeof(bytes))));
  return status;
}

ErrorCode GetErrorCode(const absl::Status& status) {
  if (status.ok()) return ErrorCode::kNone;
  auto payload = status.GetPayload(kErrorCodeUrl);
  if (!payload || payload->size() != sizeof(int16_t)) return ErrorCode::kUnknownServerError;
  std::string flat(*payload);
  int16_t value;
  std::memcpy(&value, flat.data(), sizeof(value));
  return static_cast<ErrorCode>(value);
}

}  // namespace brook
