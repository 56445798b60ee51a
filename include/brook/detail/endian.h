// Big-endian loads and stores (Kafka's byte order) on unaligned memory.
#ifndef BROOK_DETAIL_ENDIAN_H_
#define BROOK_DETAIL_ENDIAN_H_

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace brook::detail {

template <typename T>
constexpr T ByteSwap(T v) {
  static_assert(std::is_integral_v<T>);
  using U = std::make_unsigned_t<T>;
  auto u = static_cast<U>(v);
  if constexpr (sizeof(T) == 1) {
    return v;
  } else if constexpr (sizeof(T) == 2) {
    return static_cast<T>(__builtin_bswap16(u));
  } else if constexpr (sizeof(T) == 4) {
    return static_cast<T>(__builtin_bswap32(u));
  } else {
    return static_cast<T>(__builtin_bswap64(u));
  }
}

template <typename T>
inline T LoadBig(const std::byte* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::little) v = ByteSwap(v);
  return v;
}

template <typename T>
inline void StoreBig(std::byte* p, T v) {
  if constexpr (std::endian::native == std::endian::little) v = ByteSwap(v);
  std::memcpy(p, &v, sizeof(T));
}

// Two's-complement addition without signed-overflow UB, for sums of untrusted values.
inline int64_t WrappingAdd(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

}  // namespace brook::detail

#endif  // BROOK_DETAIL_ENDIAN_H_
