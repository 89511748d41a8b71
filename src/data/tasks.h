// The task builder: the paper's protocol (docs/protocol.md §2) over imported items.jsonl + users.jsonl.
// Users whose review count lies in [min, max] are selected; their items rated ≥ min_rating are targets
// (one task each); each user's first target by time is the test task, the rest train. The item DB is every
// item the selected users reviewed, de-duplicated by normalised title. No personas or LLM summaries here.
// Memory is bounded whatever the input size: users, items and targets flow through external sorts
// (data/external-sort.h) whose runs spill under the output folder or `tmp` and are removed at the end.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

namespace ecpo::data {

struct TaskBuildOptions {
  std::filesystem::path data;   // folder with items.jsonl and users.jsonl (ecpo data import)
  std::filesystem::path out;    // writes tasks_train.jsonl, tasks_test.jsonl, items.jsonl, users.jsonl,
                                // item_aliases.jsonl, tasks.json (must differ from `data`)
  std::size_t min_reviews = 30;  // official setting: exactly 30 reviews per user
  std::size_t max_reviews = 30;
  double min_rating = 4;         // targets: rating ≥ this
  std::uint64_t seed = 0;        // only used by test_rule "random"
  std::string test_rule = "first";  // "first": earliest target by time → test; "random": a seeded pick
  std::filesystem::path tmp;        // spill folder parent; empty → `out`
  std::size_t memory = 128u << 20;  // bytes for the sort buffers of a pass together
  std::size_t fan_in = 64;          // runs merged at once (tests lower it to force merge passes)
  std::size_t io_buffer = 64u << 10;  // per open run file
};

struct SplitCounts {
  std::uint64_t users = 0, tasks = 0, items = 0;  // items: distinct target items of the split
};

struct TaskBuildStats {
  std::uint64_t users_read = 0, users_selected = 0, users_without_target = 0;
  std::uint64_t item_db = 0;             // items written (after de-duplication)
  std::uint64_t duplicates_merged = 0;   // item ids folded into another with the same normalised title
  std::uint64_t unknown_items = 0;       // selected users' reviews naming an item absent from items.jsonl
  SplitCounts train, test;
  std::uint64_t sort_runs = 0;           // run files written by the external sorts (0: all fitted in memory)
};

// Throws ecpo::Error on missing/bad input files or options; writes nothing on failure.
TaskBuildStats build_tasks(const TaskBuildOptions& options);

// The per-split table the CLI prints (util/table.h) plus one line on the item DB.
std::string tasks_report(const TaskBuildStats& stats);

}  // namespace ecpo::data
