// What a user would otherwise embed, appending the same records as BM_LogAppend/<value_bytes>/1000:
// SQLite (WAL, synchronous=NORMAL, 1000-row transactions) and RocksDB (WriteBatch of 1000 Puts,
// default WriteOptions: WAL on, no sync). Both keep durability at the page cache, like brook's
// default flush policy. Bytes are key + value bytes, so brook's bytes_per_second (which counts
// batch bytes, header and record framing included) is not comparable: compare items_per_second.
// Built only when CMake found the library (BROOK_HAVE_SQLITE / BROOK_HAVE_ROCKSDB).

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bench_util.h"

#ifdef BROOK_HAVE_SQLITE
#include <sqlite3.h>
#endif
#ifdef BROOK_HAVE_ROCKSDB
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#endif

namespace brook::bench {
namespace {

[[maybe_unused]] constexpr int kRowsPerCommit = 1000;
// Records cycle through this many distinct keys and values (as BM_LogAppend's batches).
[[maybe_unused]] constexpr int64_t kDistinctRecords = 4 * kRowsPerCommit;

#ifdef BROOK_HAVE_SQLITE

class Sqlite {
 public:
  explicit Sqlite(const std::string& path) {
    if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) Die("sqlite3_open");
    Exec("PRAGMA journal_mode=WAL");
    Exec("PRAGMA synchronous=NORMAL");
    Exec("CREATE TABLE log (offset INTEGER PRIMARY KEY, key BLOB, value BLOB)");
    if (sqlite3_prepare_v2(db_, "INSERT INTO log (offset, key, value) VALUES (?, ?, ?)", -1,
                           &insert_, nullptr) != SQLITE_OK) {
      Die("prepare");
    }
  }
  ~Sqlite() {
    sqlite3_finalize(insert_);
    sqlite3_close(db_);
  }
  Sqlite(const Sqlite&) = delete;
  Sqlite& operator=(const Sqlite&) = delete;

  // Inserts records[first, first + count) at offsets `offset`, … in one transaction. False on
  // error.
  bool AppendTransaction(const std::vector<Record>& records, size_t first, int count,
                         int64_t offset) {
    if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) return false;
    for (int i = 0; i < count; ++i) {
      const Record& r = records[first + static_cast<size_t>(i)];
      sqlite3_bind_int64(insert_, 1, offset + i);
      sqlite3_bind_blob(insert_, 2, r.key.data(), static_cast<int>(r.key.size()), SQLITE_STATIC);
      sqlite3_bind_blob(insert_, 3, r.value.data(), static_cast<int>(r.value.size()),
                        SQLITE_STATIC);
      if (sqlite3_step(insert_) != SQLITE_DONE) return false;
      sqlite3_reset(insert_);
    }
    return sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  }

 private:
  void Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) Die(sql);
  }
  [[noreturn]] void Die(const char* what) {
    std::fprintf(stderr, "brook_bench: SQLite %s: %s\n", what, sqlite3_errmsg(db_));
    std::abort();
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
};

// BM_SqliteAppend/<value_bytes>: one iteration is one 1000-row transaction.
void BM_SqliteAppend(benchmark::State& state) {
  const auto value_bytes = static_cast<size_t>(state.range(0));
  const std::vector<Record> records = MakeRecords(value_bytes, 0, kDistinctRecords);
  const uint64_t bytes_per_commit = kRowsPerCommit * (kKeyBytes + value_bytes);
  TempDir dir;
  auto db = std::make_unique<Sqlite>(dir.Child("log.db"));
  int64_t offset = 0;
  size_t next = 0;
  RunRestartingLoop(
      state, bytes_per_commit, kRowsPerCommit, kRestartBytes,
      [&] {
        db.reset();
        dir.Clear();
        db = std::make_unique<Sqlite>(dir.Child("log.db"));
      },
      [&] {
        if (!db->AppendTransaction(records, next, kRowsPerCommit, offset)) {
          state.SkipWithError("SQLite insert failed");
          return false;
        }
        offset += kRowsPerCommit;
        next = (next + kRowsPerCommit) % records.size();
        return true;
      });
}
BENCHMARK(BM_SqliteAppend)->Arg(100)->Arg(1024);

#endif  // BROOK_HAVE_SQLITE

#ifdef BROOK_HAVE_ROCKSDB

std::unique_ptr<rocksdb::DB> OpenRocksDb(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
  if (!s.ok()) {
    std::fprintf(stderr, "brook_bench: RocksDB open %s: %s\n", path.c_str(), s.ToString().c_str());
    std::abort();
  }
  return std::unique_ptr<rocksdb::DB>(db);
}

// BM_RocksDbAppend/<value_bytes>: one iteration is one WriteBatch of 1000 Puts. The RocksDB key is
// the record's offset, big-endian (so keys sort by offset), followed by the record's key.
void BM_RocksDbAppend(benchmark::State& state) {
  const auto value_bytes = static_cast<size_t>(state.range(0));
  const std::vector<Record> records = MakeRecords(value_bytes, 0, kDistinctRecords);
  const uint64_t bytes_per_commit = kRowsPerCommit * (kKeyBytes + value_bytes);
  TempDir dir;
  std::unique_ptr<rocksdb::DB> db = OpenRocksDb(dir.Child("rocksdb"));
  const rocksdb::WriteOptions write_options;
  rocksdb::WriteBatch batch;
  std::string key(8 + kKeyBytes, '\0');
  int64_t offset = 0;
  size_t next = 0;
  RunRestartingLoop(
      state, bytes_per_commit, kRowsPerCommit, kRestartBytes,
      [&] {
        db.reset();
        dir.Clear();
        db = OpenRocksDb(dir.Child("rocksdb"));
      },
      [&] {
        batch.Clear();
        for (int i = 0; i < kRowsPerCommit; ++i) {
          const Record& r = records[next + static_cast<size_t>(i)];
          const auto o = static_cast<uint64_t>(offset + i);
          for (int b = 0; b < 8; ++b) {
            key[static_cast<size_t>(b)] = static_cast<char>(o >> (56 - 8 * b));
          }
          std::memcpy(key.data() + 8, r.key.data(), kKeyBytes);
          batch.Put(key, r.value);
        }
        rocksdb::Status s = db->Write(write_options, &batch);
        if (!s.ok()) {
          state.SkipWithError(s.ToString().c_str());
          return false;
        }
        offset += kRowsPerCommit;
        next = (next + kRowsPerCommit) % records.size();
        return true;
      });
}
BENCHMARK(BM_RocksDbAppend)->Arg(100)->Arg(1024);

#endif  // BROOK_HAVE_ROCKSDB

}  // namespace
}  // namespace brook::bench
