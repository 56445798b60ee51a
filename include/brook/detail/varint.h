// Kafka's zig-zag varints (signed LEB128 after zig-zag), as used inside RecordBatch v2 records.
// Decoders are total: they never read past `end` and reject over-long encodings.
#ifndef BROOK_DETAIL_VARINT_H_
#define BROOK_DETAIL_VARINT_H_

#include <cstddef>
#include <cstdint>

namespace brook::detail {

inline constexpr int kMaxVarint32Bytes = 5;
inline constexpr int kMaxVarint64Bytes = 10;

constexpr uint64_t ZigZagEncode64(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
constexpr int64_t ZigZagDecode64(uint64_t v) {
  return static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
}

// Bytes needed to encode `v` as a zig-zag varint.
constexpr int VarintSize(int64_t v) {
  uint64_t u = ZigZagEncode64(v);
  int n = 1;
  while (u >= 0x80) {
    u >>= 7;
    ++n;
  }
  return n;
}

// Writes `v` at `p` (which must have VarintSize(v) bytes) and returns the byte after it.
inline std::byte* EncodeVarint(std::byte* p, int64_t v) {
  uint64_t u = ZigZagEncode64(v);
  while (u >= 0x80) {
    *p++ = static_cast<std::byte>(u | 0x80);
    u >>= 7;
  }
  *p++ = static_cast<std::byte>(u);
  return p;
}

// Decodes a varint of at most `max_bytes` bytes from [p, end). Returns the byte after it, or
// nullptr if the input ends early or the encoding is longer than `max_bytes`.
inline const std::byte* DecodeVarint(const std::byte* p, const std::byte* end, int max_bytes,
                                     int64_t* out) {
  uint64_t result = 0;
  for (int i = 0; i < max_bytes; ++i) {
    if (p == end) return nullptr;
    auto b = static_cast<uint64_t>(*p++);
    result |= (b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      *out = ZigZagDecode64(result);
      return p;
    }
  }
  return nullptr;
}

// A 32-bit varint (at most 5 bytes) whose decoded value must fit int32.
inline const std::byte* DecodeVarint32(const std::byte* p, const std::byte* end, int32_t* out) {
  int64_t v;
  p = DecodeVarint(p, end, kMaxVarint32Bytes, &v);
  if (p == nullptr || v < INT32_MIN || v > INT32_MAX) return nullptr;
  *out = static_cast<int32_t>(v);
  return p;
}

inline const std::byte* DecodeVarint64(const std::byte* p, const std::byte* end, int64_t* out) {
  return DecodeVarint(p, end, kMaxVarint64Bytes, out);
}

}  // namespace brook::detail

#endif  // BROOK_DETAIL_VARINT_H_
