// brook quick start: append to a log in a temporary directory, read it back, reopen it.
//
// A Log is one directory of segment files in Kafka's RecordBatch v2 format. Appends assign
// offsets; reads return batches straight out of the memory-mapped segments.

#include <brook/brook.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "quickstart: %s\n", status.ToString().c_str());
  return 1;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main() {
  std::string dir =
      (std::filesystem::temp_directory_path() / ("brook-quickstart-" + std::to_string(NowMs())))
          .string();
  std::printf("brook %s quick start, log in %s\n", brook::kVersionString, dir.c_str());

  {
    // Flush every append: Append returns once the batch is on disk.
    absl::StatusOr<std::unique_ptr<brook::Log>> log =
        brook::Log::Open(dir, {.flush = brook::FlushPolicy::EveryAppend()});
    if (!log.ok()) return Fail(log.status());

    brook::RecordBatchBuilder builder;
    for (int i = 0; i < 3; ++i) {
      builder.Reset();
      builder.Append(NowMs(), "user-" + std::to_string(i), "signed up");
      builder.Append(NowMs(), "user-" + std::to_string(i), "logged in");
      absl::StatusOr<brook::AppendResult> appended = (*log)->Append(builder.Finish());
      if (!appended.ok()) return Fail(appended.status());
      std::printf("appended offsets %lld..%lld (flushed up to %lld)\n",
                  static_cast<long long>(appended->base_offset),
                  static_cast<long long>(appended->last_offset),
                  static_cast<long long>((*log)->flushed_offset()));
    }
    if (absl::Status s = (*log)->Close(); !s.ok()) return Fail(s);
  }

  // Reopen: after a clean close no scan is needed, and everything is still there.
  absl::StatusOr<std::unique_ptr<brook::Log>> log = brook::Log::Open(dir, {});
  if (!log.ok()) return Fail(log.status());
  std::printf("reopened: %s\n", (*log)->recovery_summary().message.c_str());
  int64_t count = 0;
  absl::StatusOr<brook::ReadResult> read = (*log)->Read((*log)->start_offset(), 1 << 20);
  if (!read.ok()) return Fail(read.status());
  for (const brook::RecordBatchView& batch : *read) {
    for (const brook::RecordView& record : batch.records()) {
      std::printf("  offset %lld  key %.*s  value %.*s\n", static_cast<long long>(record.offset()),
                  static_cast<int>(record.key().size()), record.key().data(),
                  static_cast<int>(record.value().size()), record.value().data());
      ++count;
    }
  }
  if (count != 6 || (*log)->end_offset() != 6) {
    std::fprintf(stderr, "quickstart: expected 6 records, read %lld\n",
                 static_cast<long long>(count));
    return 1;
  }
  if (absl::Status s = (*log)->Close(); !s.ok()) return Fail(s);
  std::filesystem::remove_all(dir);
  std::printf("read back %lld records; removed %s\n", static_cast<long long>(count), dir.c_str());
  return 0;
}
