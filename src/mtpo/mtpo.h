// `ecpo mtpo`: the multi-turn preference baselines the ECPO paper compares against, built from one run and
// written in the formats of ECPO's own data, each with the cost accounting of ecpo/cost.h:
//   traj-sft   DIR/sft.jsonl     (SFT rows; --format ecpo|trl|llamafactory)
//   traj-kto   DIR/kto.jsonl     (TRL unpaired rows)
//   tree-dpo   DIR/pairs.jsonl   (pair rows, `ecpo pairs export` reads them) + DIR/dpo.jsonl (trl-dpo rows)
//   tree-kto   DIR/pairs.jsonl   + DIR/kto.jsonl (best desirable, worst undesirable)
// and for every method DIR/cost.json and DIR/mtpo-report.json (what was built, skipped, heuristic roles).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ecpo::mtpo {

struct MtpoOptions {
  std::string method;                 // traj-sft | traj-kto | tree-dpo | tree-kto
  std::filesystem::path run, out;
  std::string format = "ecpo";        // traj-sft rows
  std::string prompt = "zero-shot";   // serving prompt variant of trajectory rows (ecpo/prompt-variant.h)
  int k = 3, depth = 2;               // tree methods
  std::uint64_t seed = 0;
  double temperature = 1.0;           // tree methods with LLM agents
  std::size_t concurrency = 8;
  bool offline = false;               // tree methods: rule × agenda runs only, no roles
  std::filesystem::path roles;
  bool no_cache = false;
  std::optional<std::filesystem::path> cache;
  std::vector<std::string> overrides;
};

struct MtpoSummary {
  nlohmann::json report, cost;
  std::vector<std::filesystem::path> files;
};

// Throws ecpo::Error on bad input (unknown method, k < 2, ...) before any call.
MtpoSummary run_mtpo(const MtpoOptions& opts);

// "traj-sft", "traj-kto", "tree-dpo", "tree-kto".
const std::vector<std::string>& mtpo_methods();

}  // namespace ecpo::mtpo
