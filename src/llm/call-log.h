// Call records and where they go. Every LLM call (hit, miss or failure) becomes one CallRecord; a CallSink
// stores it: in memory (tests, summaries), as JSONL lines (append, one object a line, flushed per record),
// or as rows of the `llm_calls` table in a SQLite file that a run store can share. Sinks are thread-safe.
// Not here: deciding what to record (accounted-model.h) or aggregating (call-summary.h).
#pragma once
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

struct sqlite3;

namespace ecpo {
class SqliteDb;
class SqliteStmt;
}  // namespace ecpo

namespace ecpo::llm {

// JSONL / SQLite fields, in this order: ts_ms, role, model, endpoint, episode_id, turn, pair_id,
// prompt_tokens, completion_tokens, latency_ms, retries, cache_hit, repair, error, http_status, cost_usd.
struct CallRecord {
  std::int64_t ts_ms = 0;      // wall-clock start, ms since the Unix epoch
  std::string role;
  std::string model;
  std::string endpoint;        // base URL that answered or last failed ("" for cache hits)
  std::string episode_id;      // caller tags (CallContext)
  int turn = -1;
  std::string pair_id;
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double latency_ms = 0;
  int retries = 0;
  bool cache_hit = false;
  bool repair = false;         // the structured-output re-ask
  std::string error;           // "" on success, else failure_kind_name()
  int http_status = 0;
  double cost_usd = 0;         // 0 for cache hits and unpriced models
};

nlohmann::json to_json(const CallRecord& r);
CallRecord call_record_from_json(const nlohmann::json& j, const std::string& where);  // throws ecpo::Error

class CallSink {
 public:
  virtual ~CallSink() = default;
  virtual void record(const CallRecord& r) = 0;  // thread-safe; never throws for I/O (logs a warning)
};

class MemoryCallSink : public CallSink {
 public:
  void record(const CallRecord& r) override;
  std::vector<CallRecord> records() const;
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::vector<CallRecord> records_;
};

// Appends to `path` (created with its directory); each record is one line, flushed at once.
class JsonlCallSink : public CallSink {
 public:
  explicit JsonlCallSink(const std::filesystem::path& path);  // throws ecpo::Error when it cannot open
  ~JsonlCallSink() override;
  void record(const CallRecord& r) override;

 private:
  std::filesystem::path path_;
  std::FILE* f_ = nullptr;
  std::mutex mu_;
};

// Creates table llm_calls (if absent) in an open database; a run store calls this on its own handle.
void llm_calls_create_table(sqlite3* db);

// Inserts rows into llm_calls. Either opens `path` itself (WAL) or borrows a handle the caller owns.
class SqliteCallSink : public CallSink {
 public:
  explicit SqliteCallSink(const std::filesystem::path& path);  // throws ecpo::Error
  explicit SqliteCallSink(sqlite3* borrowed);                  // caller keeps ownership; must outlive the sink
  ~SqliteCallSink() override;
  void record(const CallRecord& r) override;

 private:
  void prepare();
  std::unique_ptr<SqliteDb> db_;     // util/sqlite-db.h: owned, or wrapping the borrowed handle
  std::unique_ptr<SqliteStmt> ins_;  // used under mu_
  std::mutex mu_;
};

// Reads every row of llm_calls from a SQLite file (for summaries and tests).
std::vector<CallRecord> read_llm_calls(const std::filesystem::path& path);
// Reads a JSONL call log.
std::vector<CallRecord> read_call_log_jsonl(const std::filesystem::path& path);

// Sends each record to several sinks.
class TeeCallSink : public CallSink {
 public:
  explicit TeeCallSink(std::vector<std::shared_ptr<CallSink>> sinks) : sinks_(std::move(sinks)) {}
  void record(const CallRecord& r) override {
    for (auto& s : sinks_) s->record(r);
  }

 private:
  std::vector<std::shared_ptr<CallSink>> sinks_;
};

}  // namespace ecpo::llm
