// A minimal RAII layer over the SQLite C API for the BM25 index: one connection, prepared statements with
// typed binds and reads, and errors turned into ecpo::Error naming the database file.
// It is not a general ORM and keeps no statement cache; each connection is used by one thread at a time.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace ecpo::retrieval {

class SqliteStmt;

class SqliteDb {
 public:
  enum class Mode { read_only, create };
  SqliteDb(const std::filesystem::path& path, Mode mode);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  void exec(const std::string& sql);
  SqliteStmt prepare(const std::string& sql);
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  [[noreturn]] void fail(const std::string& what) const;  // throws ecpo::Error with sqlite3_errmsg
  bool last_error_is_constraint() const;                   // the last failure was a UNIQUE/NOT NULL violation

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

class SqliteStmt {
 public:
  SqliteStmt(SqliteDb& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  ~SqliteStmt();
  SqliteStmt(SqliteStmt&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  SqliteStmt(const SqliteStmt&) = delete;
  SqliteStmt& operator=(const SqliteStmt&) = delete;

  SqliteStmt& bind(int index, std::string_view text);  // 1-based, copied (SQLITE_TRANSIENT)
  SqliteStmt& bind(int index, std::int64_t value);
  SqliteStmt& bind(int index, double value);
  bool step();   // true while a row is available; throws on error
  void run();    // step() to completion for statements without rows
  void reset();  // reset and clear bindings for reuse
  std::int64_t column_int(int col) const;
  double column_double(int col) const;
  std::string column_text(int col) const;

 private:
  SqliteDb* db_;
  sqlite3_stmt* stmt_;
};

}  // namespace ecpo::retrieval
