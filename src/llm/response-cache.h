// The LLM response cache: a SQLite file (WAL, busy timeout, safe for many threads and processes) mapping
// a SHA-256 key of (model, messages, sampling parameters incl. seed and schema, the backend's extra
// request fields) to the reply, and a ChatModel decorator that consults it. A temperature-0 (or seeded)
// rerun replays exactly at no cost; concurrent identical misses make one backend call (single flight).
// Never stored: the API key, endpoints, or anything not in the key. Not here: accounting (accounted-model.h).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "llm/chat-model.h"

namespace ecpo {
class SqliteDb;
class SqliteStmt;
}  // namespace ecpo

namespace ecpo::llm {

struct CachedReply {
  std::string text;
  std::string finish_reason;
  Usage usage;
};

class ResponseCache {
 public:
  // Opens or creates the file (and its directory). Throws ecpo::Error naming the path on failure.
  explicit ResponseCache(const std::filesystem::path& path);
  ~ResponseCache();
  ResponseCache(const ResponseCache&) = delete;
  ResponseCache& operator=(const ResponseCache&) = delete;

  std::optional<CachedReply> get(const std::string& key);
  void put(const std::string& key, const std::string& model, const CachedReply& reply);
  std::uint64_t size();
  const std::filesystem::path& path() const { return path_; }

  // Hex SHA-256 of the canonical JSON of everything that determines a reply. `extra` is what the backend
  // adds to every request beyond the parameters (an OpenAI role's extra_body, e.g. top_k or
  // chat_template_kwargs); null or {} leaves the key as it was before this component existed.
  static std::string key_for(const std::string& model, const std::vector<Message>& messages,
                             const ChatParams& params, const nlohmann::json& extra = nullptr);

 private:
  std::filesystem::path path_;
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<SqliteStmt> get_, put_;  // used under mu_
  std::mutex mu_;
};

// $ECPO_CACHE, else $XDG_CACHE_HOME/ecpo/llm.sqlite, else ~/.cache/ecpo/llm.sqlite.
std::filesystem::path default_cache_path();

enum class CacheMode {
  deterministic,  // cache calls at temperature 0 or with a seed (default: sampling stays sampling)
  all,            // cache every call
};
CacheMode cache_mode_from_name(const std::string& name, const std::string& where);

// Single flight: while one call for a key is on its way to the backend, identical calls (same key) wait
// for it instead of calling too; they get its reply marked cache_hit (retries 0, endpoint "") and count
// as hits and as coalesced(). If that call fails, its ChatError (or other exception) is rethrown to
// every waiter; a later call tries the backend afresh.
class CachedChatModel : public ChatModel {
 public:
  // The key's backend-extras component is taken from `inner` when it is an OpenAiClient (its
  // options().extra_body); `extra` replaces that when not null.
  CachedChatModel(std::shared_ptr<ChatModel> inner, std::shared_ptr<ResponseCache> cache,
                  CacheMode mode = CacheMode::deterministic, nlohmann::json extra = nullptr);
  ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) override;
  std::string model_name() const override { return inner_->model_name(); }
  bool cacheable(const ChatParams& params) const;
  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  std::uint64_t coalesced() const { return coalesced_; }  // hits that waited for a call in flight
  const nlohmann::json& key_extra() const { return extra_; }
  ChatModel& inner() { return *inner_; }

 private:
  struct Flight {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    ChatResult result;
    std::exception_ptr error;
  };
  // A cache hit as a ChatResult; hands its text to params.on_delta (the ChatModel streaming contract).
  ChatResult hit_result(CachedReply&& hit, std::chrono::steady_clock::time_point t0, const ChatParams& params);

  std::shared_ptr<ChatModel> inner_;
  std::shared_ptr<ResponseCache> cache_;
  CacheMode mode_;
  nlohmann::json extra_;
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, coalesced_{0};
  std::mutex flights_mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
};

}  // namespace ecpo::llm
