// RAII SQLite connection and statements (see sqlite-db.h).
#include "util/sqlite-db.h"

#include <sqlite3.h>

#include "util/error.h"

namespace ecpo {

SqliteDb::SqliteDb(const std::filesystem::path& path, Mode mode, Options options)
    : path_(path.string()), hint_(std::move(options.hint)) {
  if (mode == Mode::create && path.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(path.parent_path(), ec);
  }
  int flags = options.serialized ? SQLITE_OPEN_FULLMUTEX : SQLITE_OPEN_NOMUTEX;
  flags |= mode == Mode::read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("cannot open SQLite database: " + msg, path_, hint_);
  }
  sqlite3_busy_timeout(db_, options.busy_timeout_ms);
  if (options.wal) {
    try {
      exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    } catch (...) {
      sqlite3_close(db_);
      throw;
    }
  }
}

SqliteDb::SqliteDb(sqlite3* borrowed, std::string name, std::string hint)
    : db_(borrowed), owned_(false), path_(std::move(name)), hint_(std::move(hint)) {}

SqliteDb::~SqliteDb() {
  if (owned_) sqlite3_close(db_);
}

std::string SqliteDb::last_error() const { return db_ ? sqlite3_errmsg(db_) : "no connection"; }

void SqliteDb::fail(const std::string& what) const { throw Error(what + ": " + last_error(), path_, hint_); }

bool SqliteDb::last_error_is_constraint() const { return (sqlite3_extended_errcode(db_) & 0xff) == SQLITE_CONSTRAINT; }

void SqliteDb::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw Error("SQL failed: " + msg + " [" + sql.substr(0, 80) + "]", path_, hint_);
  }
}

SqliteStmt SqliteDb::prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) != SQLITE_OK)
    fail("cannot prepare [" + sql.substr(0, 80) + "]");
  return SqliteStmt(*this, stmt);
}

SqliteStmt::~SqliteStmt() { sqlite3_finalize(stmt_); }

SqliteStmt& SqliteStmt::bind(int index, std::string_view text) {
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT) != SQLITE_OK)
    db_->fail("bind failed");
  return *this;
}
SqliteStmt& SqliteStmt::bind(int index, std::int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) db_->fail("bind failed");
  return *this;
}
SqliteStmt& SqliteStmt::bind(int index, double value) {
  if (sqlite3_bind_double(stmt_, index, value) != SQLITE_OK) db_->fail("bind failed");
  return *this;
}

bool SqliteStmt::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  db_->fail("query failed");
}

void SqliteStmt::run() {
  while (step()) {
  }
}

void SqliteStmt::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

std::int64_t SqliteStmt::column_int(int col) const { return sqlite3_column_int64(stmt_, col); }
double SqliteStmt::column_double(int col) const { return sqlite3_column_double(stmt_, col); }
std::string SqliteStmt::column_text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
           : std::string();
}

}  // namespace ecpo
