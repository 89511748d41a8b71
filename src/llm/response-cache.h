// The LLM response cache: a SQLite file (WAL, busy timeout, safe for many threads and processes) mapping
// a SHA-256 key of (model, messages, sampling parameters incl. seed and schema) to the reply, and a
// ChatModel decorator that consults it. A temperature-0 (or seeded) rerun replays exactly at no cost.
// Never stored: the API key, endpoints, or anything not in the key. Not here: accounting (accounted-model.h).
#pragma once
#include <atomic>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "llm/chat-model.h"

struct sqlite3;
struct sqlite3_stmt;

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

  // Hex SHA-256 of the canonical JSON of everything that determines a reply.
  static std::string key_for(const std::string& model, const std::vector<Message>& messages,
                             const ChatParams& params);

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  std::mutex mu_;
};

// $ECPO_CACHE, else $XDG_CACHE_HOME/ecpo/llm.sqlite, else ~/.cache/ecpo/llm.sqlite.
std::filesystem::path default_cache_path();

enum class CacheMode {
  deterministic,  // cache calls at temperature 0 or with a seed (default: sampling stays sampling)
  all,            // cache every call
};
CacheMode cache_mode_from_name(const std::string& name, const std::string& where);

class CachedChatModel : public ChatModel {
 public:
  CachedChatModel(std::shared_ptr<ChatModel> inner, std::shared_ptr<ResponseCache> cache,
                  CacheMode mode = CacheMode::deterministic);
  ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) override;
  std::string model_name() const override { return inner_->model_name(); }
  bool cacheable(const ChatParams& params) const;
  std::uint64_t hits() const { return hits_; }
  std::uint64_t misses() const { return misses_; }
  ChatModel& inner() { return *inner_; }

 private:
  std::shared_ptr<ChatModel> inner_;
  std::shared_ptr<ResponseCache> cache_;
  CacheMode mode_;
  std::atomic<std::uint64_t> hits_{0}, misses_{0};
};

}  // namespace ecpo::llm
