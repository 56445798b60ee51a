// CRC-32C: reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF.
#include "brook/crc32c.h"

#include <array>
#include <bit>
#include <cstring>

#include "brook/detail/check.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#elif defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

namespace brook {
namespace detail {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78;

// Slicing-by-8 tables: kTables[k][b] is the CRC of byte b followed by k zero bytes.
constexpr std::array<std::array<uint32_t, 256>, 8> MakeTables() {
  std::array<std::array<uint32_t, 256>, 8> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int j = 0; j < 8; ++j) c = (c >> 1) ^ ((c & 1) ? kPolynomial : 0);
    t[0][i] = c;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
  }
  return t;
}

constexpr auto kTables = MakeTables();

inline uint64_t Load64(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t size) {
  auto p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  while (size >= 8) {
    uint64_t v = Load64(p);
    if constexpr (std::endian::native == std::endian::big) v = __builtin_bswap64(v);
    v ^= c;
    c = kTables[7][v & 0xFF] ^ kTables[6][(v >> 8) & 0xFF] ^ kTables[5][(v >> 16) & 0xFF] ^
        kTables[4][(v >> 24) & 0xFF] ^ kTables[3][(v >> 32) & 0xFF] ^ kTables[2][(v >> 40) & 0xFF] ^
        kTables[1][(v >> 48) & 0xFF] ^ kTables[0][v >> 56];
    p += 8;
    size -= 8;
  }
  while (size-- > 0) c = (c >> 8) ^ kTables[0][(c ^ *p++) & 0xFF];
  return ~c;
}

#if defined(__x86_64__)

namespace {

// One CRC32 instruction takes three cycles but a new one can start every cycle, so one stream of
// them runs at a third of the CPU's rate. The hardware version therefore runs three streams over
// three adjacent lanes and joins their registers: a register carried over n zero bytes is a
// linear function of the register (ZeroShift), and running a lane from register r equals running
// it from 0, xor r carried over the lane's length in zeros. Long lanes for long buffers (fewer
// joins), short ones for what is left.
constexpr size_t kLongLane = 512;
constexpr size_t kShortLane = 128;

// The CRC register after n zero bytes, as a function of the register before: tabulated per byte
// of the register, since the function is linear (xor of its value at each set bit).
class ZeroShift {
 public:
  explicit ZeroShift(size_t n) {
    static constexpr std::array<unsigned char, 2 * kLongLane> kZeros{};
    BROOK_CHECK(n <= kZeros.size());
    std::array<uint32_t, 32> bit{};  // the shift of each single-bit register
    for (int i = 0; i < 32; ++i) {
      // Portable's register starts as ~crc and is returned as ~register.
      bit[i] = ~Crc32cExtendPortable(~(uint32_t{1} << i), kZeros.data(), n);
    }
    for (int k = 0; k < 4; ++k) {
      for (uint32_t b = 0; b < 256; ++b) {
        uint32_t v = 0;
        for (int j = 0; j < 8; ++j) {
          if ((b >> j) & 1) v ^= bit[8 * k + j];
        }
        table_[k][b] = v;
      }
    }
  }
  uint32_t operator()(uint32_t c) const {
    return table_[0][c & 0xFF] ^ table_[1][(c >> 8) & 0xFF] ^ table_[2][(c >> 16) & 0xFF] ^
           table_[3][c >> 24];
  }

 private:
  std::array<std::array<uint32_t, 256>, 4> table_{};
};

// Runs whole blocks of three kLane-byte lanes over register c, advancing p and size.
template <size_t kLane>
__attribute__((target("sse4.2"))) inline uint64_t ThreeLanes(uint64_t c, const unsigned char*& p,
                                                             size_t& size) {
  static const ZeroShift over_one_lane(kLane);
  static const ZeroShift over_two_lanes(2 * kLane);
  while (size >= 3 * kLane) {
    uint64_t a = c;
    uint64_t b = 0;
    uint64_t d = 0;
    for (size_t i = 0; i < kLane; i += 8) {
      a = _mm_crc32_u64(a, Load64(p + i));
      b = _mm_crc32_u64(b, Load64(p + kLane + i));
      d = _mm_crc32_u64(d, Load64(p + 2 * kLane + i));
    }
    c = over_two_lanes(static_cast<uint32_t>(a)) ^ over_one_lane(static_cast<uint32_t>(b)) ^
        static_cast<uint32_t>(d);
    p += 3 * kLane;
    size -= 3 * kLane;
  }
  return c;
}

}  // namespace

__attribute__((target("sse4.2"))) uint32_t Crc32cExtendHardware(uint32_t crc, const void* data,
                                                                size_t size) {
  auto p = static_cast<const unsigned char*>(data);
  uint64_t c = ~crc;
  if (size >= 3 * kShortLane) {
    c = ThreeLanes<kLongLane>(c, p, size);
    c = ThreeLanes<kShortLane>(c, p, size);
  }
  while (size >= 8) {
    c = _mm_crc32_u64(c, Load64(p));
    p += 8;
    size -= 8;
  }
  auto c32 = static_cast<uint32_t>(c);
  while (size-- > 0) c32 = _mm_crc32_u8(c32, *p++);
  return ~c32;
}

bool Crc32cHardwareAvailable() {
  static const bool available = __builtin_cpu_supports("sse4.2");
  return available;
}

#elif defined(__aarch64__)

__attribute__((target("+crc"))) uint32_t Crc32cExtendHardware(uint32_t crc, const void* data,
                                                              size_t size) {
  auto p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  while (size >= 8) {
    c = __crc32cd(c, Load64(p));
    p += 8;
    size -= 8;
  }
  while (size-- > 0) c = __crc32cb(c, *p++);
  return ~c;
}

bool Crc32cHardwareAvailable() {
  static const bool available = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
  return available;
}

#else

uint32_t Crc32cExtendHardware(uint32_t crc, const void* data, size_t size) {
  return Crc32cExtendPortable(crc, data, size);
}
bool Crc32cHardwareAvailable() { return false; }

#endif

}  // namespace detail

namespace {
using Crc32cFn = uint32_t (*)(uint32_t, const void*, size_t);
Crc32cFn ChooseCrc32c() {
  return detail::Crc32cHardwareAvailable() ? &detail::Crc32cExtendHardware
                                           : &detail::Crc32cExtendPortable;
}
}  // namespace

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size) {
  static const Crc32cFn fn = ChooseCrc32c();
  return fn(crc, data, size);
}

}  // namespace brook
