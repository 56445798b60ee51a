#include "brook/crc32c.h"

#include <random>
#include <string>
#include <vector>

#include "support/catch.h"
#include "support/seed.h"

namespace brook {
namespace {

std::string Bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s.push_back(static_cast<char>(v));
  return s;
}

TEST_CASE("CRC-32C matches the RFC 3720 test vectors", "[crc32c]") {
  std::string zeros(32, '\0');
  std::string ones(32, '\xff');
  std::string up, down;
  for (int i = 0; i < 32; ++i) {
    up.push_back(static_cast<char>(i));
    down.push_back(static_cast<char>(31 - i));
  }
  // iSCSI read command PDU, RFC 3720 B.4.
  std::string iscsi =
      Bytes({0x01, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
             0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00,
             0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18, 0x28, 0x00, 0x00, 0x00,
             0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  struct Vector {
    std::string data;
    uint32_t crc;
  };
  std::vector<Vector> vectors = {
      {zeros, 0x8A9136AA},       {ones, 0x62A8AB43},  {up, 0x46DD794E}, {down, 0x113FDB5C},
      {"123456789", 0xE3069283}, {iscsi, 0xD9963A56}, {"", 0x00000000},
  };
  for (const Vector& v : vectors) {
    CAPTURE(v.data.size());
    CHECK(Crc32c(v.data) == v.crc);
    CHECK(detail::Crc32cExtendPortable(0, v.data.data(), v.data.size()) == v.crc);
    if (detail::Crc32cHardwareAvailable()) {
      CHECK(detail::Crc32cExtendHardware(0, v.data.data(), v.data.size()) == v.crc);
    }
  }
}

TEST_CASE("CRC-32C hardware and portable versions agree, and Extend composes", "[crc32c]") {
  std::mt19937_64 rng(testing::TestSeed());
  for (int round = 0; round < 200; ++round) {
    std::string data(std::uniform_int_distribution<size_t>(0, 5000)(rng), '\0');
    for (char& c : data) c = static_cast<char>(rng());
    size_t cut = data.empty() ? 0 : std::uniform_int_distribution<size_t>(0, data.size())(rng);
    uint32_t whole = detail::Crc32cExtendPortable(0, data.data(), data.size());
    uint32_t split = detail::Crc32cExtendPortable(detail::Crc32cExtendPortable(0, data.data(), cut),
                                                  data.data() + cut, data.size() - cut);
    REQUIRE(whole == split);
    REQUIRE(Crc32c(data) == whole);
    if (detail::Crc32cHardwareAvailable()) {
      // Misaligned starts exercise the byte-wise head and tail.
      size_t skew = data.size() > 3 ? 3 : 0;
      REQUIRE(detail::Crc32cExtendHardware(0, data.data() + skew, data.size() - skew) ==
              detail::Crc32cExtendPortable(0, data.data() + skew, data.size() - skew));
    }
  }
}

TEST_CASE("CRC-32C hardware version agrees around and across its three-lane blocks", "[crc32c]") {
  if (!detail::Crc32cHardwareAvailable()) return;
  std::mt19937_64 rng(testing::TestSeed());
  std::string data(64 << 10, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  // Sizes at and around whole blocks of three 128- and 512-byte lanes, many blocks, with a tail.
  for (size_t size : {size_t{383}, size_t{384}, size_t{385}, size_t{1151}, size_t{1535},
                      size_t{1536}, size_t{1537}, size_t{1544}, size_t{1920}, size_t{3072},
                      size_t{3079}, size_t{4608}, size_t{65536 - 3}}) {
    for (size_t skew : {size_t{0}, size_t{1}, size_t{3}}) {
      if (size + skew > data.size()) continue;
      INFO("size " << size << " skew " << skew);
      for (uint32_t seed : {uint32_t{0}, uint32_t{0xDEADBEEF}}) {
        REQUIRE(detail::Crc32cExtendHardware(seed, data.data() + skew, size) ==
                detail::Crc32cExtendPortable(seed, data.data() + skew, size));
      }
    }
  }
  // A run of zeros and of ones, where a wrong lane join would be easy to miss with luck.
  for (char fill : {'\0', '\xff'}) {
    std::string same(10000, fill);
    REQUIRE(detail::Crc32cExtendHardware(7, same.data(), same.size()) ==
            detail::Crc32cExtendPortable(7, same.data(), same.size()));
  }
}

}  // namespace
}  // namespace brook
