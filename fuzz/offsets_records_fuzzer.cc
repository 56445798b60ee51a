// Fuzzes the decoders of __consumer_offsets keys and values (group/offsets_records.h): bytes from
// disk must decode or fail cleanly, never crash or allocate beyond the input, and whatever
// decodes must re-encode and decode to the same thing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "group/offsets_records.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace brook::group;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (absl::StatusOr<OffsetsKey> key = DecodeKey(bytes); key.ok()) {
    if (auto* commit = std::get_if<OffsetCommitKey>(&*key)) {
      absl::StatusOr<OffsetsKey> again = DecodeKey(EncodeKey(*commit));
      if (!again.ok() || std::get<OffsetCommitKey>(*again).group != commit->group ||
          std::get<OffsetCommitKey>(*again).partition != commit->partition) {
        __builtin_trap();
      }
    }
  }
  if (absl::StatusOr<OffsetCommitValue> v = DecodeOffsetCommitValue(bytes); v.ok()) {
    absl::StatusOr<OffsetCommitValue> again = DecodeOffsetCommitValue(EncodeValue(*v));
    if (!again.ok() || again->offset != v->offset || again->metadata != v->metadata) {
      __builtin_trap();
    }
  }
  if (absl::StatusOr<GroupMetadataValue> v = DecodeGroupMetadataValue(bytes); v.ok()) {
    absl::StatusOr<GroupMetadataValue> again = DecodeGroupMetadataValue(EncodeValue(*v));
    if (!again.ok() || again->generation != v->generation ||
        again->members.size() != v->members.size()) {
      __builtin_trap();
    }
  }
  return 0;
}
