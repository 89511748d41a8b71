// The run store: RUNDIR/run.db (SQLite, WAL) with tables meta (key → value: the resolved config),
// episodes (one row per finished episode: id, task index, outcome, the episode JSON without turns),
// turns (one row per turn: its JSON) and llm_calls (the llm layer's call table). Every finished episode —
// its calls, turns and episode row — is written in ONE transaction, so a killed run leaves only whole
// episodes; resume skips them. Thread-safe (one writer at a time).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "episode/record.h"

struct sqlite3;

namespace ecpo::episode {

class RunStore {
 public:
  // Opens (creating tables when absent) RUNDIR/run.db.
  explicit RunStore(const std::filesystem::path& run_dir);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  std::optional<std::string> meta(const std::string& key) const;
  void set_meta(const std::string& key, const std::string& value);

  // Task indexes of the episodes already stored.
  std::set<std::size_t> finished_task_indexes() const;
  std::size_t episode_count() const;

  // Stores the episode in one transaction: its call_records into llm_calls (ids written back into the
  // turns' and the end step's `calls`), its turns, its row. Throws ecpo::Error (nothing stored) on failure.
  void commit_episode(EpisodeRecord& e);

  // Visits every stored episode as its trajectories.jsonl JSON (turns included), by task index.
  void for_each_episode(const std::function<void(const nlohmann::json&)>& fn) const;
  // The same episodes as (trajectories.jsonl line text, metrics view): the line is assembled from the stored
  // texts without parsing them; the view is the episode without its large fields (prompts, outputs) —
  // what MetricsBuilder reads. Used by the export, where parsing every prompt again would dominate.
  void for_each_episode_line(const std::function<void(const std::string& line, const nlohmann::json& view)>& fn) const;

  // The call records of the stored episodes (for metrics).
  std::vector<llm::CallRecord> episode_calls() const;

  // Wall-clock milliseconds of every stored episode (for the benchmark and the summary).
  double total_episode_ms() const;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  void exec(const std::string& sql) const;
  mutable std::mutex mu_;
};

}  // namespace ecpo::episode
