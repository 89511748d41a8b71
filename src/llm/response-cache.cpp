// SQLite response cache and the caching ChatModel decorator (see response-cache.h).
#include "llm/response-cache.h"

#include <chrono>
#include <cstdlib>

#include <openssl/evp.h>

#include "llm/openai-client.h"
#include "util/error.h"
#include "util/log.h"
#include "util/sqlite-db.h"

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

}  // namespace

ResponseCache::ResponseCache(const std::filesystem::path& path) : path_(path) {
  SqliteDb::Options o;
  o.hint = "pass --cache PATH or --no-cache (or delete a damaged cache file)";
  o.busy_timeout_ms = 10000;
  o.wal = true;
  db_ = std::make_unique<SqliteDb>(path, SqliteDb::Mode::create, o);
  db_->exec(
      "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, text TEXT NOT NULL, "
      "finish_reason TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, "
      "created_at INTEGER NOT NULL)");
  get_ = std::make_unique<SqliteStmt>(
      db_->prepare("SELECT text, finish_reason, prompt_tokens, completion_tokens FROM responses WHERE key=?"));
  put_ = std::make_unique<SqliteStmt>(db_->prepare("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?)"));
}

ResponseCache::~ResponseCache() = default;

std::optional<CachedReply> ResponseCache::get(const std::string& key) {
  std::lock_guard lk(mu_);
  get_->reset();
  get_->bind(1, key);
  std::optional<CachedReply> out;
  if (get_->step()) {
    CachedReply r;
    r.text = get_->column_text(0);
    r.finish_reason = get_->column_text(1);
    r.usage.prompt_tokens = get_->column_int(2);
    r.usage.completion_tokens = get_->column_int(3);
    out = std::move(r);
  }
  get_->reset();
  return out;
}

void ResponseCache::put(const std::string& key, const std::string& model, const CachedReply& reply) {
  std::lock_guard lk(mu_);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  put_->reset();
  put_->bind(1, key).bind(2, model).bind(3, reply.text).bind(4, reply.finish_reason);
  put_->bind(5, reply.usage.prompt_tokens).bind(6, reply.usage.completion_tokens).bind(7, static_cast<std::int64_t>(now.count()));
  try {
    put_->run();
  } catch (const Error& e) {
    put_->reset();
    throw Error("cannot write the LLM cache: " + e.message(), path_.string(), "check disk space or pass --no-cache");
  }
  put_->reset();
}

std::uint64_t ResponseCache::size() {
  std::lock_guard lk(mu_);
  SqliteStmt st = db_->prepare("SELECT COUNT(*) FROM responses");
  return st.step() ? static_cast<std::uint64_t>(st.column_int(0)) : 0;
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
