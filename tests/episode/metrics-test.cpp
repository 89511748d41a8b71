// Run metrics on hand-made trajectories: denominators are all tasks (failed ones included), EC mean with
// zeros vs without, histogram, turns to success, invalid-action rate, calls and list-price cost.
#include <gtest/gtest.h>

#include "episode/metrics.h"

namespace ecpo::episode {
namespace {

using nlohmann::json;

json turn(int score, bool valid = true, const char* kind = "action") {
  return json{{"ec", {{"score", score}, {"rater", "llm"}}},
              {"steps", json::array({{{"kind", kind}, {"valid", valid}}})},
              {"failed", false}};
}

TEST(Metrics, HandComputed) {
  MetricsBuilder mb;
  // 1: success at turn index 1 (2nd turn), recall; EC 0 and 4; one invalid action.
  mb.add_episode({{"episode_id", "a"}, {"agent", "actcrs"}, {"success", true}, {"success_turn", 1},
                  {"success_substring", true}, {"recall", true}, {"failed", false},
                  {"turns", json::array({turn(0, false), turn(4)})}});
  // 2: no success, recall, EC 5 and unrated.
  json unrated = turn(0);
  unrated["ec"] = nullptr;
  mb.add_episode({{"episode_id", "b"}, {"agent", "actcrs"}, {"success", false}, {"success_substring", true},
                  {"recall", true}, {"failed", false}, {"turns", json::array({turn(5), unrated})}});
  // 3: failed episode (counts in every denominator).
  mb.add_episode({{"episode_id", "c"}, {"agent", "actcrs"}, {"success", false}, {"recall", false}, {"failed", true},
                  {"turns", json::array()}});
  llm::PriceTable prices;
  prices.set("m", {1.0, 2.0});  // USD per million tokens
  std::vector<llm::CallRecord> calls(4);
  for (auto& c : calls) {
    c.model = "m";
    c.prompt_tokens = 1000;
    c.completion_tokens = 500;
    c.cost_usd = 0.002;  // 1000·1e-6 + 500·2e-6
  }
  calls[3].cache_hit = true;
  calls[3].cost_usd = 0;
  RunMetrics m = mb.finish(calls, &prices);
  EXPECT_EQ(m.episodes, 3u);
  EXPECT_EQ(m.failed, 1u);
  EXPECT_DOUBLE_EQ(m.sr, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.sr_substring, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.recall, 2.0 / 3.0);
  EXPECT_EQ(m.rated_turns, 3u);
  EXPECT_DOUBLE_EQ(m.ec_mean, 9.0 / 3.0);          // (0 + 4 + 5) / 3, zeros included (D11)
  EXPECT_DOUBLE_EQ(m.ec_mean_nonzero, 9.0 / 2.0);  // (4 + 5) / 2
  EXPECT_EQ(m.ec_hist, (std::vector<std::size_t>{1, 0, 0, 0, 1, 1}));
  EXPECT_DOUBLE_EQ(m.turns_to_success, 2.0);
  EXPECT_EQ(m.agent_actions, 4u);
  EXPECT_DOUBLE_EQ(m.invalid_action_rate, 0.25);
  EXPECT_EQ(m.turns, 4u);
  EXPECT_DOUBLE_EQ(m.calls_per_turn, 1.0);
  EXPECT_DOUBLE_EQ(m.calls_per_episode, 4.0 / 3.0);
  EXPECT_EQ(m.prompt_tokens, 4000);
  EXPECT_NEAR(m.cost_usd, 0.008, 1e-12);        // list price: the cache hit priced too
  EXPECT_NEAR(m.cost_usd_paid, 0.006, 1e-12);
  EXPECT_EQ(m.failed_episodes, std::vector<std::string>{"c"});
  json j = to_json(m);
  for (const char* k : {"episodes", "failed", "sr", "sr_substring", "recall", "ec_mean", "ec_mean_nonzero", "ec_hist",
                        "turns_to_success", "calls_per_turn", "calls_per_episode", "prompt_tokens", "completion_tokens",
                        "cost_usd", "invalid_action_rate"})
    EXPECT_TRUE(j.contains(k)) << k;
}

TEST(Metrics, FreeTextAgentsHaveNoActionsToCount) {
  MetricsBuilder mb;
  mb.add_episode({{"episode_id", "a"}, {"agent", "chatrec"}, {"turns", json::array({turn(3, false, "generate")})}});
  RunMetrics m = mb.finish({}, nullptr);
  EXPECT_EQ(m.agent_actions, 0u);
  EXPECT_EQ(m.invalid_action_rate, 0.0);
}

}  // namespace
}  // namespace ecpo::episode
