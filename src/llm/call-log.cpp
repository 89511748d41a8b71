// CallRecord JSON form and the memory / JSONL / SQLite sinks (see call-log.h).
#include "llm/call-log.h"

#include <sqlite3.h>

#include <limits>

#include "util/error.h"
#include "util/fs.h"
#include "util/json-read.h"
#include "util/jsonl.h"
#include "util/log.h"

namespace ecpo::llm {

nlohmann::json to_json(const CallRecord& r) {
  return {{"ts_ms", r.ts_ms},
          {"role", r.role},
          {"model", r.model},
          {"endpoint", r.endpoint},
          {"episode_id", r.episode_id},
          {"turn", r.turn},
          {"pair_id", r.pair_id},
          {"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"latency_ms", r.latency_ms},
          {"retries", r.retries},
          {"cache_hit", r.cache_hit},
          {"repair", r.repair},
          {"error", r.error},
          {"http_status", r.http_status},
          {"cost_usd", r.cost_usd}};
}

CallRecord call_record_from_json(const nlohmann::json& json, const std::string& where) {
  const JsonSource src{where, "a call log line is what 'ecpo llm ask --calls' writes"};
  const JsonAt j(json, src);
  j.require_object();
  constexpr std::int64_t kInt = std::numeric_limits<int>::max();
  CallRecord r;
  r.ts_ms = j.integer_or("ts_ms", 0);
  r.role = j.str_or("role", "");
  r.model = j.str_or("model", "");
  r.endpoint = j.str_or("endpoint", "");
  r.episode_id = j.str_or("episode_id", "");
  r.turn = static_cast<int>(j.integer_or("turn", -1, -1, kInt));
  r.pair_id = j.str_or("pair_id", "");
  r.prompt_tokens = j.integer_or("prompt_tokens", 0);
  r.completion_tokens = j.integer_or("completion_tokens", 0);
  r.latency_ms = j.number_or("latency_ms", 0.0);
  r.retries = static_cast<int>(j.integer_or("retries", 0, 0, kInt));
  r.cache_hit = j.bool_or("cache_hit", false);
  r.repair = j.bool_or("repair", false);
  r.error = j.str_or("error", "");
  r.http_status = static_cast<int>(j.integer_or("http_status", 0, 0, 999));
  r.cost_usd = j.number_or("cost_usd", 0.0);
  return r;
}

void MemoryCallSink::record(const CallRecord& r) {
  std::lock_guard lk(mu_);
  records_.push_back(r);
}

std::vector<CallRecord> MemoryCallSink::records() const {
  std::lock_guard lk(mu_);
  return records_;
}

std::size_t MemoryCallSink::size() const {
  std::lock_guard lk(mu_);
  return records_.size();
}

JsonlCallSink::JsonlCallSink(const std::filesystem::path& path) : path_(path) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  f_ = std::fopen(path.string().c_str(), "a");
  if (!f_) throw Error("cannot open the call log for appending", path.string(), "check the directory is writable");
}

JsonlCallSink::~JsonlCallSink() {
  if (f_) std::fclose(f_);
}

void JsonlCallSink::record(const CallRecord& r) {
  std::string line = to_json(r).dump() + "\n";
  std::lock_guard lk(mu_);
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
    spdlog::warn("cannot append to the call log {}", path_.string());
}

void llm_calls_create_table(sqlite3* db) {
  char* err = nullptr;
  const char* sql =
      "CREATE TABLE IF NOT EXISTS llm_calls (id INTEGER PRIMARY KEY, ts_ms INTEGER, role TEXT, model TEXT, "
      "endpoint TEXT, episode_id TEXT, turn INTEGER, pair_id TEXT, prompt_tokens INTEGER, completion_tokens "
      "INTEGER, latency_ms REAL, retries INTEGER, cache_hit INTEGER, repair INTEGER, error TEXT, http_status "
      "INTEGER, cost_usd REAL)";
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown";
    sqlite3_free(err);
    throw Error("cannot create table llm_calls: " + m, "run store");
  }
}

SqliteCallSink::SqliteCallSink(const std::filesystem::path& path) : owned_(true) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (sqlite3_open_v2(path.string().c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("cannot open the call database", path.string(), "check the directory is writable");
  }
  sqlite3_busy_timeout(db_, 10000);
  sqlite3_exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", nullptr, nullptr, nullptr);
  try {
    prepare();
  } catch (...) {
    sqlite3_close(db_);
    throw;
  }
}

SqliteCallSink::SqliteCallSink(sqlite3* borrowed) : db_(borrowed), owned_(false) { prepare(); }

void SqliteCallSink::prepare() {
  llm_calls_create_table(db_);
  if (sqlite3_prepare_v2(db_,
                         "INSERT INTO llm_calls (ts_ms, role, model, endpoint, episode_id, turn, pair_id, "
                         "prompt_tokens, completion_tokens, latency_ms, retries, cache_hit, repair, error, "
                         "http_status, cost_usd) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                         -1, &ins_, nullptr) != SQLITE_OK)
    throw Error(std::string("cannot prepare the llm_calls insert: ") + sqlite3_errmsg(db_), "run store");
}

SqliteCallSink::~SqliteCallSink() {
  sqlite3_finalize(ins_);
  if (owned_) sqlite3_close(db_);
}

void SqliteCallSink::record(const CallRecord& r) {
  std::lock_guard lk(mu_);
  sqlite3_reset(ins_);
  auto text = [&](int i, const std::string& s) {
    sqlite3_bind_text(ins_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  };
  sqlite3_bind_int64(ins_, 1, r.ts_ms);
  text(2, r.role);
  text(3, r.model);
  text(4, r.endpoint);
  text(5, r.episode_id);
  sqlite3_bind_int(ins_, 6, r.turn);
  text(7, r.pair_id);
  sqlite3_bind_int64(ins_, 8, r.prompt_tokens);
  sqlite3_bind_int64(ins_, 9, r.completion_tokens);
  sqlite3_bind_double(ins_, 10, r.latency_ms);
  sqlite3_bind_int(ins_, 11, r.retries);
  sqlite3_bind_int(ins_, 12, r.cache_hit ? 1 : 0);
  sqlite3_bind_int(ins_, 13, r.repair ? 1 : 0);
  text(14, r.error);
  sqlite3_bind_int(ins_, 15, r.http_status);
  sqlite3_bind_double(ins_, 16, r.cost_usd);
  if (sqlite3_step(ins_) != SQLITE_DONE) spdlog::warn("cannot insert into llm_calls: {}", sqlite3_errmsg(db_));
  sqlite3_reset(ins_);
}

std::vector<CallRecord> read_llm_calls(const std::filesystem::path& path) {
  require_exists(path, "call database");
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.string().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw Error("cannot open the call database", path.string());
  }
  sqlite3_stmt* st = nullptr;
  std::vector<CallRecord> out;
  if (sqlite3_prepare_v2(db,
                         "SELECT ts_ms, role, model, endpoint, episode_id, turn, pair_id, prompt_tokens, "
                         "completion_tokens, latency_ms, retries, cache_hit, repair, error, http_status, cost_usd "
                         "FROM llm_calls ORDER BY id",
                         -1, &st, nullptr) != SQLITE_OK) {
    std::string m = sqlite3_errmsg(db);
    sqlite3_close(db);
    throw Error("cannot read llm_calls: " + m, path.string());
  }
  auto s = [&](int i) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
    return std::string(p ? p : "");
  };
  while (sqlite3_step(st) == SQLITE_ROW) {
    CallRecord r;
    r.ts_ms = sqlite3_column_int64(st, 0);
    r.role = s(1);
    r.model = s(2);
    r.endpoint = s(3);
    r.episode_id = s(4);
    r.turn = sqlite3_column_int(st, 5);
    r.pair_id = s(6);
    r.prompt_tokens = sqlite3_column_int64(st, 7);
    r.completion_tokens = sqlite3_column_int64(st, 8);
    r.latency_ms = sqlite3_column_double(st, 9);
    r.retries = sqlite3_column_int(st, 10);
    r.cache_hit = sqlite3_column_int(st, 11) != 0;
    r.repair = sqlite3_column_int(st, 12) != 0;
    r.error = s(13);
    r.http_status = sqlite3_column_int(st, 14);
    r.cost_usd = sqlite3_column_double(st, 15);
    out.push_back(std::move(r));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::vector<CallRecord> read_call_log_jsonl(const std::filesystem::path& path) {
  JsonlReader rd(path);
  nlohmann::json j;
  std::vector<CallRecord> out;
  while (rd.next(j)) out.push_back(call_record_from_json(j, rd.where()));
  return out;
}

}  // namespace ecpo::llm
