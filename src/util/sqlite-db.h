// The project's one RAII layer over the SQLite C API — the BM25 index (retrieval/), the LLM response cache and
// the call log (llm/), the run store later: a connection (owned, or borrowed from a caller), prepared
// statements with typed binds and reads, and every failure an ecpo::Error naming the database file with the
// caller's hint. Not an ORM and no statement cache. A connection opened with `serialized` may be shared by
// threads (SQLite's own mutex); otherwise one thread at a time.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace ecpo {

class SqliteStmt;

struct SqliteOptions {
  std::string hint;          // appended to every error ("rebuild the index with ...", "pass --no-cache")
  int busy_timeout_ms = 5000;
  bool wal = false;          // journal_mode=WAL, synchronous=NORMAL (many readers, one writer, many processes)
  bool serialized = false;   // SQLITE_OPEN_FULLMUTEX instead of NOMUTEX
};

class SqliteDb {
 public:
  enum class Mode { read_only, create };
  using Options = SqliteOptions;
  // Opens (Mode::create: creates the file and its directory). Throws ecpo::Error naming the path.
  SqliteDb(const std::filesystem::path& path, Mode mode, Options options = {});
  SqliteDb(const std::filesystem::path& path, Mode mode, std::string hint)
      : SqliteDb(path, mode, SqliteOptions{std::move(hint)}) {}
  // Wraps a connection the caller owns (it is not closed here); `name` stands for the file in errors.
  SqliteDb(sqlite3* borrowed, std::string name, std::string hint = {});
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  void exec(const std::string& sql);
  SqliteStmt prepare(const std::string& sql);
  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  [[noreturn]] void fail(const std::string& what) const;  // throws ecpo::Error with sqlite3_errmsg and the hint
  std::string last_error() const;                          // sqlite3_errmsg
  bool last_error_is_constraint() const;                   // the last failure was a UNIQUE/NOT NULL violation

 private:
  sqlite3* db_ = nullptr;
  bool owned_ = true;
  std::string path_, hint_;
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
  SqliteStmt& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  SqliteStmt& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
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

}  // namespace ecpo
