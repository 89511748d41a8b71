// Cost accounting of a data-building method (ECPO's rewrite and every mtpo baseline): what the source run
// and the method's own work cost — trajectories simulated, LLM calls (cache hits included and counted),
// tokens, dollars at list price, role invocations (the offline proxy: agent steps, user turns and ratings,
// rewrites, judgements, whether an LLM or a heuristic served them) — and DIR/cost.json, per preference pair.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/call-log.h"
#include "llm/price-table.h"

namespace ecpo::pref {

struct Cost {
  double trajectories = 0;          // full episodes simulated
  std::size_t llm_calls = 0;        // every call record (hits, misses, failures)
  std::size_t cache_hits = 0;
  std::size_t role_calls = 0;       // role invocations (LLM or heuristic)
  std::int64_t prompt_tokens = 0, completion_tokens = 0;
  double cost_usd = 0;              // list price (cache hits priced as if paid, when a price table is given)
  Cost& operator+=(const Cost& o);
  std::int64_t tokens() const { return prompt_tokens + completion_tokens; }
};

// Sums call records; `prices` prices cache hits at list price (null: as recorded, hits cost 0).
Cost cost_of_calls(const std::vector<llm::CallRecord>& calls, const llm::PriceTable* prices);

nlohmann::json to_json(const Cost& c);
Cost cost_from_json(const nlohmann::json& j);

// DIR/cost.json: {method, pairs, llm_calls_per_pair, tokens_per_pair, trajectories_per_pair,
// cost_usd_per_pair, role_calls_per_pair, source{...}, method_cost{...}, total{...}, heuristic_roles, note}.
// Per-pair values are null when there is no pair. `pairs` counts the method's training units: preference
// pairs (ECPO, tree-dpo, tree-kto) or rows (traj-sft, traj-kto).
nlohmann::json cost_report(const std::string& method, std::size_t pairs, const Cost& source, const Cost& method_cost,
                           const std::vector<std::string>& heuristic_roles, const std::string& note);

}  // namespace ecpo::pref
