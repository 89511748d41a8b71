// Run metrics (see metrics.h).
#include "episode/metrics.h"

#include <algorithm>
#include <cstdio>

namespace ecpo::episode {

using nlohmann::json;

void MetricsBuilder::add_episode(const json& e) {
  m_.episodes++;
  if (e.value("failed", false)) {
    m_.failed++;
    m_.failed_episodes.push_back(e.value("episode_id", std::string()));
  }
  if (e.value("success", false)) {
    m_.successes++;
    tts_sum_ += e.value("success_turn", 0) + 1;
  }
  if (e.value("success_substring", false)) m_.successes_substring++;
  if (e.value("recall", false)) m_.recalls++;
  const bool grammar = e.value("agent", std::string()) == "actcrs" || e.value("agent", std::string()) == "react" ||
                       e.value("agent", std::string()) == "rule";
  auto count_leaks = [&](const json& events) {
    if (!events.is_array()) return;
    for (const auto& ev : events)
      if (ev.value("type", std::string()) == "leak") m_.leaks++;
  };
  if (e.contains("end") && e["end"].is_object() && e["end"].contains("events")) count_leaks(e["end"]["events"]);
  for (const auto& t : e.value("turns", json::array())) {
    m_.turns++;
    if (t.value("failed", false)) m_.failed_turns++;
    if (t.contains("user") && t["user"].contains("events")) count_leaks(t["user"]["events"]);
    if (grammar)
      for (const auto& s : t.value("steps", json::array())) {
        const std::string k = s.value("kind", std::string());
        if (k == "action" || k == "thought_action" || k == "rule") {
          m_.agent_actions++;
          if (!s.value("valid", true)) m_.invalid_actions++;
        }
      }
    if (t.contains("ec") && t["ec"].is_object()) {
      int score = t["ec"].value("score", 0);
      m_.rated_turns++;
      ec_sum_ += score;
      if (score > 0) {
        ec_nonzero_sum_ += score;
        ec_nonzero_++;
      }
      m_.ec_hist[static_cast<std::size_t>(std::clamp(score, 0, 5))]++;
      std::string rater = t["ec"].value("rater", std::string("llm"));
      if (std::find(m_.ec_raters.begin(), m_.ec_raters.end(), rater) == m_.ec_raters.end()) m_.ec_raters.push_back(rater);
    }
  }
}

RunMetrics MetricsBuilder::finish(const std::vector<llm::CallRecord>& calls, const llm::PriceTable* prices) const {
  RunMetrics m = m_;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  m.sr = ratio(static_cast<double>(m.successes), static_cast<double>(m.episodes));
  m.sr_substring = ratio(static_cast<double>(m.successes_substring), static_cast<double>(m.episodes));
  m.recall = ratio(static_cast<double>(m.recalls), static_cast<double>(m.episodes));
  m.ec_mean = ratio(ec_sum_, static_cast<double>(m.rated_turns));
  m.ec_mean_nonzero = ratio(ec_nonzero_sum_, static_cast<double>(ec_nonzero_));
  m.turns_to_success = ratio(tts_sum_, static_cast<double>(m.successes));
  m.invalid_action_rate = ratio(static_cast<double>(m.invalid_actions), static_cast<double>(m.agent_actions));
  std::sort(m.ec_raters.begin(), m.ec_raters.end());
  for (const auto& c : calls) {
    m.calls++;
    m.prompt_tokens += c.prompt_tokens;
    m.completion_tokens += c.completion_tokens;
    m.cost_usd_paid += c.cost_usd;
    if (c.cache_hit) m.cache_hits++;
    if (!c.error.empty()) m.call_failures++;
    double list = c.cost_usd;
    if (c.cache_hit && prices) list = prices->cost(c.model, {c.prompt_tokens, c.completion_tokens}).value_or(0.0);
    m.cost_usd += list;
  }
  m.calls_per_turn = ratio(static_cast<double>(m.calls), static_cast<double>(m.turns));
  m.calls_per_episode = ratio(static_cast<double>(m.calls), static_cast<double>(m.episodes));
  return m;
}

json to_json(const RunMetrics& m) {
  return json{{"episodes", m.episodes},
              {"failed", m.failed},
              {"sr", m.sr},
              {"sr_substring", m.sr_substring},
              {"recall", m.recall},
              {"ec_mean", m.ec_mean},
              {"ec_mean_nonzero", m.ec_mean_nonzero},
              {"ec_hist", m.ec_hist},
              {"turns_to_success", m.turns_to_success},
              {"calls_per_turn", m.calls_per_turn},
              {"calls_per_episode", m.calls_per_episode},
              {"prompt_tokens", m.prompt_tokens},
              {"completion_tokens", m.completion_tokens},
              {"cost_usd", m.cost_usd},
              {"cost_usd_paid", m.cost_usd_paid},
              {"invalid_action_rate", m.invalid_action_rate},
              {"agent_actions", m.agent_actions},
              {"invalid_actions", m.invalid_actions},
              {"successes", m.successes},
              {"turns", m.turns},
              {"rated_turns", m.rated_turns},
              {"failed_turns", m.failed_turns},
              {"calls", m.calls},
              {"cache_hits", m.cache_hits},
              {"call_failures", m.call_failures},
              {"leaks", m.leaks},
              {"ec_raters", m.ec_raters},
              {"failed_episodes", m.failed_episodes}};
}

Table metrics_table(const RunMetrics& m) {
  auto f = [](double v, const char* fmt = "%.3f") {
    char b[64];
    std::snprintf(b, sizeof b, fmt, v);
    return std::string(b);
  };
  std::string hist;
  for (std::size_t i = 0; i < m.ec_hist.size(); ++i) hist += (i ? " " : "") + std::to_string(m.ec_hist[i]);
  std::string raters;
  for (const auto& r : m.ec_raters) raters += (raters.empty() ? "" : ",") + r;
  Table t({"metric", "value"});
  t.row({"episodes", std::to_string(m.episodes)});
  t.row({"failed", std::to_string(m.failed)});
  t.row({"sr", f(m.sr)});
  t.row({"sr_substring", f(m.sr_substring)});
  t.row({"recall", f(m.recall)});
  t.row({"ec_mean", f(m.ec_mean) + (raters.empty() ? "" : " (" + raters + ")")});
  t.row({"ec_mean_nonzero", f(m.ec_mean_nonzero)});
  t.row({"ec_hist[0..5]", hist});
  t.row({"turns_to_success", f(m.turns_to_success, "%.2f")});
  t.row({"invalid_action_rate", f(m.invalid_action_rate)});
  t.row({"calls_per_turn", f(m.calls_per_turn, "%.2f")});
  t.row({"calls_per_episode", f(m.calls_per_episode, "%.2f")});
  t.row({"prompt_tokens", std::to_string(m.prompt_tokens)});
  t.row({"completion_tokens", std::to_string(m.completion_tokens)});
  t.row({"cost_usd", f(m.cost_usd, "%.4f") + " (paid " + f(m.cost_usd_paid, "%.4f") + ")"});
  return t;
}

}  // namespace ecpo::episode
