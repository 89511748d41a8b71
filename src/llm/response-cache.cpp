// SQLite response cache and the caching ChatModel decorator (see response-cache.h).
#include "llm/response-cache.h"

#include <chrono>
#include <cstdlib>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "llm/openai-client.h"
#include "util/error.h"
#include "util/log.h"

namespace ecpo::llm {
namespace {

std::string sha256_hex(const std::string& s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(s.data(), s.size(), md, &n, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(2 * n);
  for (unsigned int i = 0; i < n; ++i) {
    out.push_back(hex[md[i] >> 4]);
    out.push_back(hex[md[i] & 15]);
  }
  return out;
}

void exec(sqlite3* db, const char* sql, const std::filesystem::path& path) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string m = err ? err : "unknown";
    sqlite3_free(err);
    throw Error("LLM cache: " + m, path.string(), "delete the cache file or pass --no-cache");
  }
}

const char* col_text(sqlite3_stmt* st, int i) {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return p ? p : "";
}

}  // namespace

ResponseCache::ResponseCache(const std::filesystem::path& path) : path_(path) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  if (sqlite3_open_v2(path.string().c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string m = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw Error("cannot open the LLM cache: " + m, path.string(), "pass --cache PATH or --no-cache");
  }
  sqlite3_busy_timeout(db_, 10000);
  try {
    exec(db_, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", path_);
    exec(db_,
         "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL, "
         "finish_reason TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, "
         "created_at INTEGER NOT NULL)",
         path_);
    if (sqlite3_prepare_v2(db_, "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM responses WHERE key=?",
                           -1, &get_, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &put_,
                           nullptr) != SQLITE_OK)
      throw Error(std::string("LLM cache: ") + sqlite3_errmsg(db_), path_.string(), "delete the cache file");
  } catch (...) {
    sqlite3_finalize(get_);
    sqlite3_finalize(put_);
    sqlite3_close(db_);
    throw;
  }
}

ResponseCache::~ResponseCache() {
  sqlite3_finalize(get_);
  sqlite3_finalize(put_);
  sqlite3_close(db_);
}

std::optional<CachedReply> ResponseCache::get(const std::string& key) {
  std::lock_guard lk(mu_);
  sqlite3_reset(get_);
  sqlite3_bind_text(get_, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  std::optional<CachedReply> out;
  if (sqlite3_step(get_) == SQLITE_ROW) {
    CachedReply r;
    r.text = col_text(get_, 0);
    r.finish_reason = col_text(get_, 1);
    r.usage.prompt_tokens = sqlite3_column_int64(get_, 2);
    r.usage.completion_tokens = sqlite3_column_int64(get_, 3);
    out = std::move(r);
  }
  sqlite3_reset(get_);
  return out;
}

void ResponseCache::put(const std::string& key, const std::string& model, const CachedReply& reply) {
  std::lock_guard lk(mu_);
  sqlite3_reset(put_);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  sqlite3_bind_text(put_, 1, key.data(), static_cast<int>(key.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(put_, 2, model.data(), static_cast<int>(model.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(put_, 3, reply.text.data(), static_cast<int>(reply.text.size()), SQLITE_TRANSIENT);
  sqlite3_bind_text(put_, 4, reply.finish_reason.data(), static_cast<int>(reply.finish_reason.size()),
                    SQLITE_TRANSIENT);
  sqlite3_bind_int64(put_, 5, reply.usage.prompt_tokens);
  sqlite3_bind_int64(put_, 6, reply.usage.completion_tokens);
  sqlite3_bind_int64(put_, 7, now.count());
  int rc = sqlite3_step(put_);
  sqlite3_reset(put_);
  if (rc != SQLITE_DONE)
    throw Error(std::string("cannot write the LLM cache: ") + sqlite3_errmsg(db_), path_.string(),
                "check disk space or pass --no-cache");
}

std::uint64_t ResponseCache::size() {
  std::lock_guard lk(mu_);
  sqlite3_stmt* st = nullptr;
  std::uint64_t n = 0;
  if (sqlite3_prepare_v2(db_, "SELECT COUNT(*) FROM responses", -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    n = static_cast<std::uint64_t>(sqlite3_column_int64(st, 0));
  sqlite3_finalize(st);
  return n;
}

std::string ResponseCache::key_for(const std::string& model, const std::vector<Message>& messages,
                                   const ChatParams& params, const nlohmann::json& extra) {
  nlohmann::json k = {{"v", 1},
                      {"model", model},
                      {"messages", to_json(messages)},
                      {"temperature", params.temperature},
                      {"top_p", params.top_p},
                      {"max_tokens", params.max_tokens},
                      {"stop", params.stop},
                      {"seed", params.seed ? nlohmann::json(*params.seed) : nlohmann::json(nullptr)},
                      {"json_schema", params.json_schema},
                      {"schema_name", params.json_schema.is_null() ? std::string() : params.schema_name}};
  // Only when present, so that keys made without extras (every key written before) stay valid.
  if (!extra.is_null() && !(extra.is_object() && extra.empty())) k["extra"] = extra;
  return sha256_hex(k.dump());
}

std::filesystem::path default_cache_path() {
  if (const char* p = std::getenv("ECPO_CACHE"); p && *p) return p;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "ecpo" / "llm.sqlite";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "ecpo" / "llm.sqlite";
  return std::filesystem::path(".ecpo-cache") / "llm.sqlite";
}

CacheMode cache_mode_from_name(const std::string& name, const std::string& where) {
  if (name == "deterministic") return CacheMode::deterministic;
  if (name == "all") return CacheMode::all;
  throw Error("unknown cache mode '" + name + "'", where, "use deterministic (temperature 0 or seeded) or all");
}

CachedChatModel::CachedChatModel(std::shared_ptr<ChatModel> inner, std::shared_ptr<ResponseCache> cache,
                                 CacheMode mode, nlohmann::json extra)
    : inner_(std::move(inner)), cache_(std::move(cache)), mode_(mode), extra_(std::move(extra)) {
  if (extra_.is_null())
    if (const auto* oc = dynamic_cast<const OpenAiClient*>(inner_.get())) extra_ = oc->options().extra_body;
}

bool CachedChatModel::cacheable(const ChatParams& params) const {
  return mode_ == CacheMode::all || params.temperature == 0.0 || params.seed.has_value();
}

ChatResult CachedChatModel::hit_result(CachedReply&& hit, std::chrono::steady_clock::time_point t0,
                                       const ChatParams& params) {
  hits_++;
  ChatResult r;
  r.text = std::move(hit.text);
  r.finish_reason = std::move(hit.finish_reason);
  r.usage = hit.usage;
  r.cache_hit = true;
  r.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  deliver_whole_text(params, r.text);
  return r;
}

ChatResult CachedChatModel::chat(const std::vector<Message>& messages, const ChatParams& params) {
  if (!cache_ || !cacheable(params)) return inner_->chat(messages, params);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string key = ResponseCache::key_for(inner_->model_name(), messages, params, extra_);
  if (auto hit = cache_->get(key)) return hit_result(std::move(*hit), t0, params);

  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard lk(flights_mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) it->second = std::make_shared<Flight>();
    flight = it->second;
    leader = inserted;
  }
  if (!leader) {
    std::unique_lock lk(flight->mu);
    flight->cv.wait(lk, [&] { return flight->done; });
    if (flight->error) std::rethrow_exception(flight->error);
    hits_++;
    coalesced_++;
    ChatResult r = flight->result;
    r.cache_hit = true;
    r.retries = 0;
    r.endpoint.clear();
    r.latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    deliver_whole_text(params, r.text);  // a follower's reply was streamed to the leader's caller only
    return r;
  }

  // The leader. Ends the flight (waking the waiters) however this call ends.
  auto land = [&](const ChatResult* r, std::exception_ptr err) {
    {
      std::lock_guard lk(flights_mu_);
      flights_.erase(key);
    }
    {
      std::lock_guard lk(flight->mu);
      if (r) flight->result = *r;
      flight->error = err;
      flight->done = true;
    }
    flight->cv.notify_all();
  };
  ChatResult r;
  try {
    // A flight for this key may have landed between our lookup and our take-off: it stored its reply
    // before landing, so this second look finds it.
    if (auto hit = cache_->get(key)) {
      r = hit_result(std::move(*hit), t0, params);
      land(&r, nullptr);
      return r;
    }
    misses_++;
    r = inner_->chat(messages, params);
  } catch (...) {
    land(nullptr, std::current_exception());
    throw;
  }
  try {
    cache_->put(key, inner_->model_name(), {r.text, r.finish_reason, r.usage});
  } catch (const Error& e) {
    spdlog::warn("{}", e.what());  // a full disk must not lose the answer we already paid for
  }
  land(&r, nullptr);
  return r;
}

}  // namespace ecpo::llm
