// `ecpo simulate`: runs agent ⇄ user episodes over the first --limit tasks of a split, concurrently, into
// a run directory (RUNDIR/run.db, config.yaml, trajectories.jsonl, metrics.json). Everything that can be
// wrong with the inputs (unknown agent or user, missing index, personas or roles, tasks and index from
// different item databases, missing prompts) is reported before the first LLM call. --resume continues a
// killed run: finished episodes are kept, unfinished ones rerun (each episode is seeded from the run seed
// and its task id, so the result does not depend on what ran before or in parallel).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "episode/metrics.h"
#include "llm/price-table.h"

namespace ecpo::episode {

struct SimulateOptions {
  std::filesystem::path tasks;     // an `ecpo tasks build` output directory
  std::string split = "test";      // test | train
  std::filesystem::path index;     // an `ecpo index build` directory over tasks/items.jsonl
  std::string agent, user;
  std::filesystem::path personas;  // personas.jsonl; empty → built offline for the users that need one
  std::filesystem::path roles;     // roles YAML; empty → llm::default_roles_path() (only when a role is needed)
  std::filesystem::path out;       // RUNDIR
  std::size_t limit = 0;           // first N tasks of the split; 0 = all
  std::size_t offset = 0;          // skip the first N tasks of the split before --limit (disjoint task sets)
  int turns = 5;
  std::size_t top_k = 5;
  std::size_t concurrency = 32;
  std::uint64_t seed = 0;
  bool resume = false;
  bool no_cache = false;
  std::optional<std::filesystem::path> cache;
  // key=value: sim.final_rating, sim.extra_raters, sim.leak_threshold, sim.parallel_ec, agent.prompt,
  // agent.max_search_chain, agent.description_chars, and roles.<...> (forwarded to the roles file).
  std::vector<std::string> overrides;
};

struct SimulateSummary {
  RunMetrics metrics;
  std::size_t ran = 0, skipped = 0;  // episodes run now, episodes kept from before (--resume)
  double wall_s = 0;
  std::filesystem::path trajectories, metrics_file;
  nlohmann::json config;             // the resolved run configuration
};

// Throws ecpo::Error on bad input (before any LLM call). Individual episode failures never throw.
SimulateSummary simulate(const SimulateOptions& options);

// Rebuilds trajectories.jsonl and metrics.json of RUNDIR from run.db (what simulate does at the end);
// `prices` prices cache hits for cost_usd (null: cache hits count 0).
SimulateSummary export_run(const std::filesystem::path& run_dir, const llm::PriceTable* prices = nullptr);

}  // namespace ecpo::episode
