// brook/crc32c.h — CRC-32C (Castagnoli), the checksum of Kafka's RecordBatch v2.
//
// Uses the CPU's CRC32 instructions (SSE4.2 on x86-64, the ARMv8 CRC extension) when the
// running machine has them, chosen once at run time, and a portable table-driven version
// otherwise. Thread-safe; no allocation.
//
//   uint32_t crc = brook::Crc32c(bytes);
//   crc = brook::Crc32cExtend(crc, more_bytes);  // same as Crc32c(bytes + more_bytes)

#ifndef BROOK_CRC32C_H_
#define BROOK_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace brook {

// Extends `crc` (the CRC-32C of some prefix) with `data`.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t size);

inline uint32_t Crc32c(const void* data, size_t size) { return Crc32cExtend(0, data, size); }
inline uint32_t Crc32c(std::span<const std::byte> data) { return Crc32c(data.data(), data.size()); }
inline uint32_t Crc32c(std::string_view data) { return Crc32c(data.data(), data.size()); }

namespace detail {
// The two implementations, exposed so tests can compare them and benchmarks can pick one.
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t size);
// Requires Crc32cHardwareAvailable().
uint32_t Crc32cExtendHardware(uint32_t crc, const void* data, size_t size);
bool Crc32cHardwareAvailable();
}  // namespace detail

}  // namespace brook

#endif  // BROOK_CRC32C_H_
