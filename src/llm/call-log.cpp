// CallRecord JSON form and the memory / JSONL / SQLite sinks (see call-log.h).
#include "llm/call-log.h"


#include <limits>

#include "util/error.h"
#include "util/fs.h"
#include "util/json-read.h"
#include "util/jsonl.h"
#include "util/log.h"
#include "util/sqlite-db.h"

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

namespace {

const char* kCreateSql =
    "CREATE TABLE IF NOT EXISTS llm_calls (id INTEGER PRIMARY KEY, ts_ms INTEGER, role TEXT, model TEXT, "
    "endpoint TEXT, episode_id TEXT, turn INTEGER, pair_id TEXT, prompt_tokens INTEGER, completion_tokens "
    "INTEGER, latency_ms REAL, retries INTEGER, cache_hit INTEGER, repair INTEGER, error TEXT, http_status "
    "INTEGER, cost_usd REAL)";

}  // namespace

void llm_calls_create_table(sqlite3* db) { SqliteDb(db, "run store").exec(kCreateSql); }

SqliteCallSink::SqliteCallSink(const std::filesystem::path& path) {
  SqliteDb::Options o;
  o.hint = "check the directory is writable";
  o.busy_timeout_ms = 10000;
  o.wal = true;
  o.serialized = true;
  db_ = std::make_unique<SqliteDb>(path, SqliteDb::Mode::create, o);
  prepare();
}

SqliteCallSink::SqliteCallSink(sqlite3* borrowed) : db_(std::make_unique<SqliteDb>(borrowed, "run store")) { prepare(); }

void SqliteCallSink::prepare() {
  db_->exec(kCreateSql);
  ins_ = std::make_unique<SqliteStmt>(
      db_->prepare("INSERT INTO llm_calls (ts_ms, role, model, endpoint, episode_id, turn, pair_id, "
                   "prompt_tokens, completion_tokens, latency_ms, retries, cache_hit, repair, error, "
                   "http_status, cost_usd) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
}

SqliteCallSink::~SqliteCallSink() = default;

void SqliteCallSink::record(const CallRecord& r) {
  std::lock_guard lk(mu_);
  SqliteStmt& st = *ins_;
  st.reset();
  st.bind(1, r.ts_ms).bind(2, r.role).bind(3, r.model).bind(4, r.endpoint).bind(5, r.episode_id).bind(6, r.turn);
  st.bind(7, r.pair_id).bind(8, r.prompt_tokens).bind(9, r.completion_tokens).bind(10, r.latency_ms);
  st.bind(11, r.retries).bind(12, r.cache_hit ? 1 : 0).bind(13, r.repair ? 1 : 0).bind(14, r.error);
  st.bind(15, r.http_status).bind(16, r.cost_usd);
  try {
    st.run();
  } catch (const Error& e) {
    spdlog::warn("cannot insert into llm_calls: {}", e.what());  // accounting must not fail the call
  }
  st.reset();
}

std::vector<CallRecord> read_llm_calls(const std::filesystem::path& path) {
  require_exists(path, "call database");
  SqliteDb db(path, SqliteDb::Mode::read_only, "is this a run store or a call database?");
  SqliteStmt st = db.prepare(
      "SELECT ts_ms, role, model, endpoint, episode_id, turn, pair_id, prompt_tokens, completion_tokens, "
      "latency_ms, retries, cache_hit, repair, error, http_status, cost_usd FROM llm_calls ORDER BY id");
  std::vector<CallRecord> out;
  while (st.step()) {
    CallRecord r;
    r.ts_ms = st.column_int(0);
    r.role = st.column_text(1);
    r.model = st.column_text(2);
    r.endpoint = st.column_text(3);
    r.episode_id = st.column_text(4);
    r.turn = static_cast<int>(st.column_int(5));
    r.pair_id = st.column_text(6);
    r.prompt_tokens = st.column_int(7);
    r.completion_tokens = st.column_int(8);
    r.latency_ms = st.column_double(9);
    r.retries = static_cast<int>(st.column_int(10));
    r.cache_hit = st.column_int(11) != 0;
    r.repair = st.column_int(12) != 0;
    r.error = st.column_text(13);
    r.http_status = static_cast<int>(st.column_int(14));
    r.cost_usd = st.column_double(15);
    out.push_back(std::move(r));
  }
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
