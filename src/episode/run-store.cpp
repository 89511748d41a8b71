// The SQLite run store (see run-store.h).
#include "episode/run-store.h"

#include <sqlite3.h>

#include <chrono>

#include "util/error.h"

namespace ecpo::episode {

using nlohmann::json;

namespace {

// A prepared statement that finalises itself; errors name the run database.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql, const std::string& where) : db_(db), where_(where) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK)
      throw Error(std::string("run store: cannot prepare SQL: ") + sqlite3_errmsg(db), where_);
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt& text(int i, const std::string& s) {
    sqlite3_bind_text(st_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& i64(int i, std::int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Stmt& real(int i, double v) {
    sqlite3_bind_double(st_, i, v);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Error(std::string("run store: SQL step failed: ") + sqlite3_errmsg(db_), where_,
                "the disk may be full or run.db damaged");
  }
  void run() {
    step();
    reset();
  }
  void reset() {
    sqlite3_reset(st_);
    sqlite3_clear_bindings(st_);
  }
  std::int64_t col_i64(int c) const { return sqlite3_column_int64(st_, c); }
  double col_real(int c) const { return sqlite3_column_double(st_, c); }
  std::string col_text(int c) const {
    const unsigned char* t = sqlite3_column_text(st_, c);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<std::size_t>(sqlite3_column_bytes(st_, c)))
             : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  std::string where_;
};

}  // namespace

RunStore::RunStore(const std::filesystem::path& run_dir) : path_(run_dir / "run.db") {
  std::error_code ec;
  std::filesystem::create_directories(run_dir, ec);
  if (sqlite3_open_v2(path_.string().c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string m = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("cannot open the run database: " + m, path_.string(), "check that the run directory is writable");
  }
  sqlite3_busy_timeout(db_, 10000);
  exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  exec("CREATE TABLE IF NOT EXISTS episodes (episode_id TEXT PRIMARY KEY, task_index INTEGER NOT NULL UNIQUE, "
       "task_id TEXT NOT NULL, agent TEXT, user TEXT, success INTEGER, success_substring INTEGER, recall INTEGER, "
       "failed INTEGER, error TEXT, n_turns INTEGER, wall_ms REAL, finished_at_ms INTEGER, record TEXT NOT NULL, "
       "view TEXT NOT NULL)");
  exec("CREATE TABLE IF NOT EXISTS turns (episode_id TEXT NOT NULL, turn_index INTEGER NOT NULL, record TEXT NOT NULL, "
       "PRIMARY KEY (episode_id, turn_index))");
  llm::llm_calls_create_table(db_);
}

RunStore::~RunStore() { sqlite3_close(db_); }

void RunStore::exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown error";
    sqlite3_free(err);
    throw Error("run store: " + m + " [" + sql.substr(0, 60) + "]", path_.string(),
                "the disk may be full or run.db damaged");
  }
}

std::optional<std::string> RunStore::meta(const std::string& key) const {
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT value FROM meta WHERE key = ?", path_.string());
  st.text(1, key);
  if (st.step()) return st.col_text(0);
  return std::nullopt;
}

void RunStore::set_meta(const std::string& key, const std::string& value) {
  std::lock_guard lk(mu_);
  Stmt st(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", path_.string());
  st.text(1, key).text(2, value).run();
}

std::set<std::size_t> RunStore::finished_task_indexes() const {
  std::lock_guard lk(mu_);
  std::set<std::size_t> out;
  Stmt st(db_, "SELECT task_index FROM episodes", path_.string());
  while (st.step()) out.insert(static_cast<std::size_t>(st.col_i64(0)));
  return out;
}

std::size_t RunStore::episode_count() const {
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT COUNT(*) FROM episodes", path_.string());
  st.step();
  return static_cast<std::size_t>(st.col_i64(0));
}

void RunStore::commit_episode(EpisodeRecord& e) {
  std::lock_guard lk(mu_);
  exec("BEGIN IMMEDIATE");
  try {
    Stmt call(db_,
              "INSERT INTO llm_calls (ts_ms, role, model, endpoint, episode_id, turn, pair_id, prompt_tokens, "
              "completion_tokens, latency_ms, retries, cache_hit, repair, error, http_status, cost_usd) "
              "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
              path_.string());
    for (auto& t : e.turns) t.calls.clear();
    e.end_calls.clear();
    for (const auto& r : e.call_records) {
      call.i64(1, r.ts_ms).text(2, r.role).text(3, r.model).text(4, r.endpoint).text(5, r.episode_id);
      call.i64(6, r.turn).text(7, r.pair_id).i64(8, r.prompt_tokens).i64(9, r.completion_tokens);
      call.real(10, r.latency_ms).i64(11, r.retries).i64(12, r.cache_hit ? 1 : 0).i64(13, r.repair ? 1 : 0);
      call.text(14, r.error).i64(15, r.http_status).real(16, r.cost_usd);
      call.run();
      std::int64_t id = sqlite3_last_insert_rowid(db_);
      if (r.turn >= 0 && static_cast<std::size_t>(r.turn) < e.turns.size()) e.turns[static_cast<std::size_t>(r.turn)].calls.push_back(id);
      else e.end_calls.push_back(id);
    }
    Stmt turn(db_, "INSERT INTO turns (episode_id, turn_index, record) VALUES (?, ?, ?)", path_.string());
    json view = episode_header_json(e);
    view["turns"] = json::array();
    for (const auto& t : e.turns) {
      json tj = to_json(t);
      view["turns"].push_back(metrics_view_of_turn(tj));
      turn.text(1, e.episode_id).i64(2, t.index).text(3, tj.dump()).run();
    }
    Stmt ep(db_,
            "INSERT INTO episodes (episode_id, task_index, task_id, agent, user, success, success_substring, recall, "
            "failed, error, n_turns, wall_ms, finished_at_ms, record, view) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            path_.string());
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count();
    ep.text(1, e.episode_id).i64(2, static_cast<std::int64_t>(e.task_index)).text(3, e.task_id).text(4, e.agent);
    ep.text(5, e.user).i64(6, e.success).i64(7, e.success_substring).i64(8, e.recall).i64(9, e.failed);
    ep.text(10, e.error).i64(11, static_cast<std::int64_t>(e.turns.size())).real(12, e.wall_ms).i64(13, now_ms);
    ep.text(14, episode_header_json(e).dump()).text(15, view.dump()).run();
    exec("COMMIT");
  } catch (...) {
    char* err = nullptr;
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, &err);
    sqlite3_free(err);
    throw;
  }
}

void RunStore::for_each_episode(const std::function<void(const json&)>& fn) const {
  std::lock_guard lk(mu_);
  Stmt ep(db_, "SELECT episode_id, record FROM episodes ORDER BY task_index", path_.string());
  Stmt tu(db_, "SELECT record FROM turns WHERE episode_id = ? ORDER BY turn_index", path_.string());
  while (ep.step()) {
    json j = json::parse(ep.col_text(1));
    json turns = json::array();
    tu.text(1, ep.col_text(0));
    while (tu.step()) turns.push_back(json::parse(tu.col_text(0)));
    tu.reset();
    j["turns"] = std::move(turns);
    fn(j);
  }
}

void RunStore::for_each_episode_line(const std::function<void(const std::string&, const json&)>& fn) const {
  std::lock_guard lk(mu_);
  Stmt ep(db_, "SELECT episode_id, record, view FROM episodes ORDER BY task_index", path_.string());
  Stmt tu(db_, "SELECT record FROM turns WHERE episode_id = ? ORDER BY turn_index", path_.string());
  std::string line;
  while (ep.step()) {
    line = ep.col_text(1);  // {...} of the header; the turns go in as the last member
    if (line.size() < 2 || line.back() != '}') throw Error("run store: a malformed episode row", path_.string());
    line.pop_back();
    line += line.size() > 1 ? ",\"turns\":[" : "\"turns\":[";
    tu.text(1, ep.col_text(0));
    bool first = true;
    while (tu.step()) {
      if (!first) line += ',';
      first = false;
      line += tu.col_text(0);
    }
    tu.reset();
    line += "]}";
    fn(line, json::parse(ep.col_text(2)));
  }
}

std::vector<llm::CallRecord> RunStore::episode_calls() const {
  std::lock_guard lk(mu_);
  std::vector<llm::CallRecord> out;
  Stmt st(db_,
          "SELECT ts_ms, role, model, endpoint, episode_id, turn, pair_id, prompt_tokens, completion_tokens, "
          "latency_ms, retries, cache_hit, repair, error, http_status, cost_usd FROM llm_calls "
          "WHERE episode_id IN (SELECT episode_id FROM episodes) ORDER BY id",
          path_.string());
  while (st.step()) {
    llm::CallRecord r;
    r.ts_ms = st.col_i64(0);
    r.role = st.col_text(1);
    r.model = st.col_text(2);
    r.endpoint = st.col_text(3);
    r.episode_id = st.col_text(4);
    r.turn = static_cast<int>(st.col_i64(5));
    r.pair_id = st.col_text(6);
    r.prompt_tokens = st.col_i64(7);
    r.completion_tokens = st.col_i64(8);
    r.latency_ms = st.col_real(9);
    r.retries = static_cast<int>(st.col_i64(10));
    r.cache_hit = st.col_i64(11) != 0;
    r.repair = st.col_i64(12) != 0;
    r.error = st.col_text(13);
    r.http_status = static_cast<int>(st.col_i64(14));
    r.cost_usd = st.col_real(15);
    out.push_back(std::move(r));
  }
  return out;
}

double RunStore::total_episode_ms() const {
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT COALESCE(SUM(wall_ms), 0) FROM episodes", path_.string());
  st.step();
  return st.col_real(0);
}

}  // namespace ecpo::episode
