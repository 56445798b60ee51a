#include "brook/detail/varint.h"

#include <array>
#include <limits>
#include <vector>

#include "support/catch.h"

namespace brook::detail {
namespace {

std::vector<uint8_t> Encode(int64_t v) {
  std::array<std::byte, 10> buf;
  std::byte* end = EncodeVarint(buf.data(), v);
  std::vector<uint8_t> out;
  for (std::byte* p = buf.data(); p != end; ++p) out.push_back(static_cast<uint8_t>(*p));
  return out;
}

TEST_CASE("Varints use Kafka's zig-zag encoding", "[varint]") {
  CHECK(Encode(0) == std::vector<uint8_t>{0x00});
  CHECK(Encode(-1) == std::vector<uint8_t>{0x01});
  CHECK(Encode(1) == std::vector<uint8_t>{0x02});
  CHECK(Encode(63) == std::vector<uint8_t>{0x7E});
  CHECK(Encode(-64) == std::vector<uint8_t>{0x7F});
  CHECK(Encode(64) == std::vector<uint8_t>{0x80, 0x01});
  CHECK(Encode(std::numeric_limits<int64_t>::min()).size() == 10);
}

TEST_CASE("Varints round-trip and VarintSize agrees with the encoder", "[varint]") {
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{300}, int64_t{-300},
                    int64_t{INT32_MAX}, int64_t{INT32_MIN}, std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::min()}) {
    std::array<std::byte, 10> buf;
    std::byte* end = EncodeVarint(buf.data(), v);
    CHECK(end - buf.data() == VarintSize(v));
    int64_t decoded;
    CHECK(DecodeVarint64(buf.data(), end, &decoded) == end);
    CHECK(decoded == v);
  }
}

TEST_CASE("Varint decoding rejects truncated, over-long and out-of-range input", "[varint]") {
  std::array<std::byte, 6> cont;
  cont.fill(std::byte{0x80});
  int64_t v64;
  int32_t v32;
  CHECK(DecodeVarint64(cont.data(), cont.data() + 3, &v64) == nullptr);  // runs off the end
  CHECK(DecodeVarint32(cont.data(), cont.data() + 6, &v32) == nullptr);  // longer than 5 bytes
  std::array<std::byte, 10> big;
  std::byte* end = EncodeVarint(big.data(), int64_t{INT32_MAX} + 1);
  CHECK(DecodeVarint32(big.data(), end, &v32) == nullptr);         // does not fit int32
  CHECK(DecodeVarint64(big.data(), big.data(), &v64) == nullptr);  // empty
}

}  // namespace
}  // namespace brook::detail
