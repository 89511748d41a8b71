// Group-by over call records (see call-summary.h).
#include "llm/call-summary.h"

#include <cstdio>
#include <map>

#include "util/error.h"

namespace ecpo::llm {

CallGroup call_group_from_name(const std::string& name, const std::string& where) {
  if (name == "role") return CallGroup::role;
  if (name == "model") return CallGroup::model;
  if (name == "episode") return CallGroup::episode;
  if (name == "turn") return CallGroup::turn;
  if (name == "pair") return CallGroup::pair;
  if (name == "all") return CallGroup::all;
  throw Error("unknown grouping '" + name + "'", where, "use role, model, episode, turn, pair or all");
}

std::vector<CallTotals> summarize_calls(const std::vector<CallRecord>& records, CallGroup by) {
  std::map<std::string, CallTotals> groups;
  for (const auto& r : records) {
    std::string key;
    switch (by) {
      case CallGroup::role: key = r.role; break;
      case CallGroup::model: key = r.model; break;
      case CallGroup::episode: key = r.episode_id; break;
      case CallGroup::turn: key = r.episode_id + "#" + std::to_string(r.turn); break;
      case CallGroup::pair: key = r.pair_id; break;
      case CallGroup::all: key = "all"; break;
    }
    auto& t = groups[key];
    t.key = key;
    t.calls++;
    t.cache_hits += r.cache_hit ? 1 : 0;
    t.failures += r.error.empty() ? 0 : 1;
    t.retries += static_cast<std::uint64_t>(std::max(0, r.retries));
    t.repairs += r.repair ? 1 : 0;
    t.prompt_tokens += r.prompt_tokens;
    t.completion_tokens += r.completion_tokens;
    t.cost_usd += r.cost_usd;
    t.latency_ms_sum += r.latency_ms;
  }
  std::vector<CallTotals> out;
  for (auto& [k, v] : groups) out.push_back(v);
  return out;
}

Table call_totals_table(const std::vector<CallTotals>& rows, const std::string& key_header) {
  Table t({key_header, "calls", "cache hits", "failures", "retries", "repairs", "prompt tok", "completion tok",
           "cost $", "mean ms"});
  CallTotals all;
  auto row = [&](const CallTotals& r, const std::string& key) {
    char cost[32], ms[32];
    std::snprintf(cost, sizeof cost, "%.4f", r.cost_usd);
    std::snprintf(ms, sizeof ms, "%.1f", r.mean_latency_ms());
    t.row({key, std::to_string(r.calls), std::to_string(r.cache_hits), std::to_string(r.failures),
           std::to_string(r.retries), std::to_string(r.repairs), std::to_string(r.prompt_tokens),
           std::to_string(r.completion_tokens), cost, ms});
  };
  for (const auto& r : rows) {
    row(r, r.key.empty() ? "(untagged)" : r.key);
    all.calls += r.calls, all.cache_hits += r.cache_hits, all.failures += r.failures, all.retries += r.retries;
    all.repairs += r.repairs, all.prompt_tokens += r.prompt_tokens, all.completion_tokens += r.completion_tokens;
    all.cost_usd += r.cost_usd, all.latency_ms_sum += r.latency_ms_sum;
  }
  if (rows.size() > 1) row(all, "total");
  return t;
}

}  // namespace ecpo::llm
