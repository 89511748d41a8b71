// Cost accounting (see cost.h).
#include "ecpo/cost.h"

namespace ecpo::pref {

using nlohmann::json;

Cost& Cost::operator+=(const Cost& o) {
  trajectories += o.trajectories;
  llm_calls += o.llm_calls;
  cache_hits += o.cache_hits;
  role_calls += o.role_calls;
  prompt_tokens += o.prompt_tokens;
  completion_tokens += o.completion_tokens;
  cost_usd += o.cost_usd;
  return *this;
}

Cost cost_of_calls(const std::vector<llm::CallRecord>& calls, const llm::PriceTable* prices) {
  Cost c;
  for (const auto& r : calls) {
    c.llm_calls++;
    if (r.cache_hit) c.cache_hits++;
    c.prompt_tokens += r.prompt_tokens;
    c.completion_tokens += r.completion_tokens;
    double usd = r.cost_usd;
    if (r.cache_hit && prices) usd = prices->cost(r.model, {r.prompt_tokens, r.completion_tokens}).value_or(0.0);
    c.cost_usd += usd;
  }
  return c;
}

json to_json(const Cost& c) {
  return {{"trajectories", c.trajectories}, {"llm_calls", c.llm_calls},       {"cache_hits", c.cache_hits},
          {"role_calls", c.role_calls},     {"prompt_tokens", c.prompt_tokens}, {"completion_tokens", c.completion_tokens},
          {"tokens", c.tokens()},           {"cost_usd", c.cost_usd}};
}

Cost cost_from_json(const json& j) {
  Cost c;
  c.trajectories = j.value("trajectories", 0.0);
  c.llm_calls = j.value("llm_calls", std::size_t{0});
  c.cache_hits = j.value("cache_hits", std::size_t{0});
  c.role_calls = j.value("role_calls", std::size_t{0});
  c.prompt_tokens = j.value("prompt_tokens", std::int64_t{0});
  c.completion_tokens = j.value("completion_tokens", std::int64_t{0});
  c.cost_usd = j.value("cost_usd", 0.0);
  return c;
}

json cost_report(const std::string& method, std::size_t pairs, const Cost& source, const Cost& method_cost,
                 const std::vector<std::string>& heuristic_roles, const std::string& note) {
  Cost total = source;
  total += method_cost;
  auto per = [&](double v) -> json {
    if (pairs == 0) return nullptr;
    return v / static_cast<double>(pairs);
  };
  return {{"method", method},
          {"pairs", pairs},
          {"llm_calls_per_pair", per(static_cast<double>(total.llm_calls))},
          {"tokens_per_pair", per(static_cast<double>(total.tokens()))},
          {"trajectories_per_pair", per(total.trajectories)},
          {"cost_usd_per_pair", per(total.cost_usd)},
          {"role_calls_per_pair", per(static_cast<double>(total.role_calls))},
          {"source", to_json(source)},
          {"method_cost", to_json(method_cost)},
          {"total", to_json(total)},
          {"heuristic_roles", heuristic_roles},
          {"note", note}};
}

}  // namespace ecpo::pref
