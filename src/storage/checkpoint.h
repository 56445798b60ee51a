// Small checkpoint files (recovery point, log start offset, clean-shutdown marker, directory
// marker): a few int64 values in checksummed text, replaced atomically.
//
//   brook-checkpoint 1
//   <name>
//   <count>
//   <value>...        (one per line, decimal)
//   crc32c <8 hex digits: CRC-32C of every byte before this line>
//
// Written to `<path>.tmp`, fsynced, renamed over `<path>`, directory fsynced. A file that fails
// to parse or whose checksum does not match reads as DataLoss and is never trusted.

#ifndef BROOK_STORAGE_CHECKPOINT_H_
#define BROOK_STORAGE_CHECKPOINT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "brook/file_system.h"

namespace brook::storage {

// Writes `body` plus a "crc32c <hex>" line atomically (tmp file, fsync, rename, directory fsync).
absl::Status WriteChecksummedText(FileSystem* fs, const std::string& dir,
                                  const std::string& file_name, std::string body);
// Reads a file written by WriteChecksummedText and returns its lines (without the checksum
// line). NotFound if missing; DataLoss (naming the file) if damaged or larger than `max_bytes`.
absl::StatusOr<std::vector<std::string>> ReadChecksummedText(FileSystem* fs, const std::string& dir,
                                                             const std::string& file_name,
                                                             size_t max_bytes);

absl::Status WriteCheckpoint(FileSystem* fs, const std::string& dir, const std::string& file_name,
                             const std::string& name, const std::vector<int64_t>& values);

// NotFound if the file is missing; DataLoss if it is damaged or names something else.
absl::StatusOr<std::vector<int64_t>> ReadCheckpoint(FileSystem* fs, const std::string& dir,
                                                    const std::string& file_name,
                                                    const std::string& name);

}  // namespace brook::storage

#endif  // BROOK_STORAGE_CHECKPOINT_H_
