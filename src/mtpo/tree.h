// Turn-level baselines by tree sampling (SDPO / SKTO as the ECPO paper uses them; protocol §1 notes the
// definition is ambiguous — this is what the project implements): for every episode of a run and every turn
// t < depth, the source episode's own turn is candidate 0 and k − 1 further candidates are sampled at turn t;
// each is rolled out to the end with the run's simulator (the prefix replays the source). A candidate's value
// is 5·success + the mean EC score of its turns from t on; the best and the worst candidate make one pair
// (none when all values tie or the two differ in no step). The pair's prompt is the messages of the first
// step of turn t where the two differ — identical for both, since everything before it replays.
//   rule agent   candidates are its candidate actions (AgentOptions::choose): k − 1 drawn without
//                replacement, seeded, among those other than its own; turns with none are skipped
//   LLM agents   the first call of turn t is sampled at `temperature` with seed (episode, t, j)
// Pairs have score 0 (tree pairs are not λ-filtered: every λ keeps them); the values are in `extra`.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ecpo/cost.h"
#include "ecpo/pairs.h"
#include "mtpo/rollout.h"

namespace ecpo::mtpo {

struct TreeOptions {
  int k = 3;                  // candidates per branch point, the source's own included
  int depth = 2;              // branch at turns 0 .. depth − 1
  std::uint64_t seed = 0;
  double temperature = 1.0;   // LLM agents: sampling temperature of the branch call
  std::size_t concurrency = 8;
  std::string method = "tree-dpo";  // label written in the pairs
};

struct TreeResult {
  std::vector<pref::Pair> pairs;
  nlohmann::json report;
  pref::Cost cost;  // the rollouts only: trajectories, LLM calls, role calls
};

// A candidate's value: 5·success + mean EC score of the rated turns with index >= t (0 when none).
double rollout_value(const nlohmann::json& episode, int t);

TreeResult tree_sample(const pref::RunData& run, const RolloutContext& ctx, const TreeOptions& opts);

}  // namespace ecpo::mtpo
