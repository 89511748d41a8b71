// Run metrics over stored episodes (docs/protocol.md §8.3; metrics.json of DESIGN): denominators are all
// tasks attempted (failed episodes count as failures); EC mean over rated turns with zeros included, the
// zero-excluded mean beside it (D11), histogram 0..5; calls, tokens and cost from the episodes' calls;
// invalid_action_rate = grammar outputs that do not parse as one action / all grammar outputs.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/call-log.h"
#include "llm/price-table.h"
#include "util/table.h"

namespace ecpo::episode {

struct RunMetrics {
  std::size_t episodes = 0, failed = 0, successes = 0, successes_substring = 0, recalls = 0;
  double sr = 0, sr_substring = 0, recall = 0;
  std::size_t rated_turns = 0, turns = 0;
  double ec_mean = 0, ec_mean_nonzero = 0;
  std::vector<std::size_t> ec_hist = std::vector<std::size_t>(6, 0);
  double turns_to_success = 0;  // mean 1-based turn of the first success, over successful episodes
  std::size_t calls = 0;
  double calls_per_turn = 0, calls_per_episode = 0;
  std::int64_t prompt_tokens = 0, completion_tokens = 0;
  double cost_usd = 0;       // the episodes' calls at list price (cache hits priced as if paid)
  double cost_usd_paid = 0;  // what these calls actually cost (cache hits free)
  std::size_t cache_hits = 0, call_failures = 0;
  std::size_t agent_actions = 0, invalid_actions = 0;
  double invalid_action_rate = 0;
  std::size_t failed_turns = 0, leaks = 0;
  std::vector<std::string> ec_raters;          // distinct raters seen ("llm", "heuristic", ...)
  std::vector<std::string> failed_episodes;    // episode ids
};

// Accumulates episodes (trajectories.jsonl JSON) and the calls of those episodes.
class MetricsBuilder {
 public:
  void add_episode(const nlohmann::json& episode);
  RunMetrics finish(const std::vector<llm::CallRecord>& calls, const llm::PriceTable* prices) const;

 private:
  RunMetrics m_;
  double ec_sum_ = 0, ec_nonzero_sum_ = 0, tts_sum_ = 0;
  std::size_t ec_nonzero_ = 0;
};

nlohmann::json to_json(const RunMetrics& m);
// The printed summary table (metric, value).
Table metrics_table(const RunMetrics& m);

}  // namespace ecpo::episode
