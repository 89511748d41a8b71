// The mtpo baselines on rule × agenda runs of the bundled sample: trajectory rows against the SGPT rules,
// the rule agent's choose hook (choosing its own candidate reproduces the run exactly), tree sampling —
// prefixes replay the source, pairs share the branch step's prompt, chosen beats rejected, counts add up,
// the seed fixes the result — the LLM branch model's sampling, and the cost accounting.
#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "ecpo/ecpo-fixture.h"
#include "ecpo/sgpt.h"
#include "llm/call-context.h"
#include "mtpo/mtpo.h"
#include "mtpo/rollout.h"
#include "mtpo/traj.h"
#include "mtpo/tree.h"
#include "util/config.h"
#include "util/fs.h"

namespace ecpo::mtpo {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

RolloutSetup offline_setup() {
  RolloutSetup s;
  s.offline = true;
  return s;
}

TEST(Traj, SftRowsAreTheSgptRowsAndKtoLabelsFollowSuccess) {
  const fs::path run = test::sample_run();
  test::TempDir tmp;
  pref::SgptOptions so;
  so.run = run;
  so.out = tmp / "sgpt.jsonl";
  pref::sgpt_build(so);
  pref::RunData data = pref::load_run(run);
  TrajResult t = traj_sft(data, tmp / "sft.jsonl", "ecpo", "zero-shot");
  EXPECT_EQ(test::jsonl_rows(tmp / "sft.jsonl"), test::jsonl_rows(so.out));
  TrajResult k = traj_kto(data, tmp / "kto.jsonl", "zero-shot");
  auto rows = test::jsonl_rows(tmp / "kto.jsonl");
  // Independent count: steps of successful / unsuccessful episodes.
  std::size_t good = 0, bad = 0;
  for (const auto& e : data.episodes)
    for (const auto& tt : e["turns"]) (e["success"].get<bool>() ? good : bad) += tt["steps"].size();
  ASSERT_GT(bad, 0u);
  EXPECT_EQ(k.desirable, good);
  EXPECT_EQ(k.undesirable, bad);
  ASSERT_EQ(rows.size(), good + bad);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["label"], i < good) << i;
    EXPECT_EQ(rows[i]["completion"][0]["role"], "assistant");
  }
  EXPECT_EQ(t.rows, good);
}

TEST(RuleAgentHook, ChoosingItsOwnCandidateReproducesTheRun) {
  const fs::path run = test::sample_run("train", 12);
  pref::RunData data = pref::load_run(run);
  RolloutContext ctx(data, {});
  std::size_t calls = 0;
  for (const auto& e : data.episodes) {
    agent::AgentDeps deps = ctx.base_deps();
    deps.options.choose = [&](int, const std::vector<agent::Action>& c) {
      calls++;
      EXPECT_FALSE(c.empty());
      return std::size_t{0};
    };
    json r = ctx.run(e, e["episode_id"].get<std::string>(), deps);
    ASSERT_EQ(r["turns"].size(), e["turns"].size()) << e["episode_id"];
    for (std::size_t t = 0; t < e["turns"].size(); ++t) {
      EXPECT_EQ(r["turns"][t]["steps"], e["turns"][t]["steps"]) << e["episode_id"] << " turn " << t;
      EXPECT_EQ(r["turns"][t]["ec"], e["turns"][t]["ec"]);
    }
    EXPECT_EQ(r["success"], e["success"]);
  }
  EXPECT_GT(calls, 0u);
}

TEST(Tree, OfflinePairsReplayTheSourcePrefixAndChosenBeatsRejected) {
  const fs::path run = test::sample_run("train", 20);
  pref::RunData data = pref::load_run(run);
  RolloutContext ctx(data, offline_setup());
  TreeOptions o;
  o.k = 3;
  o.depth = 3;
  o.seed = 11;
  TreeResult r = tree_sample(data, ctx, o);
  // Branch points: min(turns, depth) per episode.
  std::size_t points = 0;
  for (const auto& e : data.episodes) points += std::min<std::size_t>(e["turns"].size(), 3);
  EXPECT_EQ(r.report["branch_points"], points);
  EXPECT_EQ(r.report["prefix_divergent_rollouts"], 0);
  ASSERT_GT(r.pairs.size(), 0u);
  std::map<std::string, const json*> src;
  for (const auto& e : data.episodes) src[e["episode_id"].get<std::string>()] = &e;
  for (const auto& p : r.pairs) {
    const json& e = *src.at(p.episode_id);
    const json& turn = e["turns"][static_cast<std::size_t>(p.turn)];
    ASSERT_LT(static_cast<std::size_t>(p.step), turn["steps"].size());
    // The prompt is the source's own state at the branch step (the rule agent branches after its Search).
    EXPECT_EQ(llm::to_json(p.prompt), turn["steps"][static_cast<std::size_t>(p.step)]["agent_state"]["messages"]);
    EXPECT_NE(p.chosen, p.rejected);
    const auto& v = p.extra["values"];
    const double best = *std::max_element(v.begin(), v.end()), worst = *std::min_element(v.begin(), v.end());
    EXPECT_GT(best, worst);
    // Both sides are candidate actions of the rule agent: a hit of this turn's search, or asking for more.
    for (const auto* side : {&p.chosen, &p.rejected}) {
      auto a = agent::parse_action(*side);
      ASSERT_TRUE(a) << *side;
      EXPECT_TRUE(a->type == agent::ActionType::recommend || a->type == agent::ActionType::ask) << *side;
    }
    EXPECT_EQ(p.score, 0);
    EXPECT_EQ(p.method, "tree-dpo");
  }
  // Turn 0 offers one ask only: those branch points have no alternative.
  EXPECT_GE(r.report["skipped"]["no_alternatives"].get<std::size_t>(), data.episodes.size());
  // Rollouts: complete ones are trajectories; role calls counted for every rollout.
  EXPECT_EQ(r.cost.trajectories, static_cast<double>(r.report["rollouts"].get<std::size_t>() -
                                                     r.report["rollouts_aborted_no_alternative"].get<std::size_t>()));
  EXPECT_GT(r.cost.role_calls, 0u);
  EXPECT_EQ(r.cost.llm_calls, 0u);
  // The same seed gives the same pairs; another seed may differ but keeps the counts' shape.
  TreeResult again = tree_sample(data, ctx, o);
  ASSERT_EQ(again.pairs.size(), r.pairs.size());
  for (std::size_t i = 0; i < r.pairs.size(); ++i) EXPECT_EQ(pref::to_json(again.pairs[i]), pref::to_json(r.pairs[i]));
}

TEST(Tree, KTwoDrawsOneAlternativeAndDepthOneBranchesNowhereOffline) {
  pref::RunData data = pref::load_run(test::sample_run("train", 12));
  RolloutContext ctx(data, offline_setup());
  TreeOptions o;
  o.k = 2;
  o.depth = 2;
  TreeResult r = tree_sample(data, ctx, o);
  // One rollout per branch point (turn 0's aborts, turn 1's completes).
  EXPECT_EQ(r.report["rollouts"], r.report["branch_points"]);
  o.depth = 1;
  TreeResult none = tree_sample(data, ctx, o);
  EXPECT_EQ(none.pairs.size(), 0u);
  EXPECT_EQ(none.report["rollouts_aborted_no_alternative"], data.episodes.size());
  o.k = 1;
  EXPECT_THROW(tree_sample(data, ctx, o), Error);
}

TEST(Tree, OfflineRefusesRunsWithLlmRoles) {
  test::TempDir tmp;
  fs::path run = test::edited_run(test::sample_run("train", 12), tmp / "run", [](json&) {});
  Config c = Config::load(run / "config.yaml");
  c.root()["user"] = "ailo";
  c.save(run / "config.yaml");
  pref::RunData data = pref::load_run(run);
  try {
    RolloutContext ctx(data, offline_setup());
    FAIL() << "offline with an LLM user";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--offline"), std::string::npos);
  }
}

// Records the parameters of every call.
class ParamModel : public llm::ChatModel {
 public:
  llm::ChatResult chat(const std::vector<llm::Message>&, const llm::ChatParams& p) override {
    std::lock_guard lk(mu);
    seen.push_back(p);
    return {"Ask[x]", "stop", {}, 0, 0, false, ""};
  }
  std::string model_name() const override { return "param"; }
  std::vector<llm::ChatParams> seen;
  std::mutex mu;
};

TEST(BranchModel, SamplesOnlyTheFirstCallOfTheBranchTurn) {
  auto inner = std::make_shared<ParamModel>();
  BranchModel m(inner, 2, 0.9, 77);
  llm::ChatParams base;
  base.temperature = 0;
  for (int turn : {0, 1, 2, 2, 3}) {
    llm::CallContextScope s({"ep", turn, "", false});
    m.chat({{"user", "x"}}, base);
  }
  ASSERT_EQ(inner->seen.size(), 5u);
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    EXPECT_EQ(inner->seen[i].temperature, 0.0) << i;
    EXPECT_FALSE(inner->seen[i].seed.has_value()) << i;
  }
  EXPECT_EQ(inner->seen[2].temperature, 0.9);
  EXPECT_EQ(inner->seen[2].seed, 77u);
  EXPECT_TRUE(m.sampled());
}

TEST(Mtpo, EveryMethodWritesItsFilesAndCostPerPair) {
  const fs::path run = test::sample_run("train", 20);
  pref::RunData data = pref::load_run(run);
  test::TempDir tmp;
  for (const std::string m : {"traj-sft", "traj-kto", "tree-dpo", "tree-kto"}) {
    MtpoOptions o;
    o.method = m;
    o.run = run;
    o.out = tmp / m;
    o.offline = true;
    MtpoSummary s = run_mtpo(o);
    json cost = read_json_file(tmp / m / "cost.json");
    for (const char* k : {"pairs", "llm_calls_per_pair", "tokens_per_pair", "trajectories_per_pair", "cost_usd_per_pair"})
      EXPECT_TRUE(cost.contains(k)) << m << " " << k;
    const double pairs = cost["pairs"].get<double>();
    ASSERT_GT(pairs, 0) << m;
    const double traj = data.cost.trajectories + cost["method_cost"]["trajectories"].get<double>();
    EXPECT_DOUBLE_EQ(cost["trajectories_per_pair"].get<double>(), traj / pairs) << m;
    EXPECT_EQ(cost["method"], m);
    EXPECT_FALSE(cost["heuristic_roles"].empty());
    if (m.rfind("tree", 0) == 0) {
      auto pairs_rows = test::jsonl_rows(tmp / m / "pairs.jsonl");
      EXPECT_EQ(pairs_rows.size(), static_cast<std::size_t>(pairs));
      auto rows = test::jsonl_rows(tmp / m / (m == "tree-dpo" ? "dpo.jsonl" : "kto.jsonl"));
      EXPECT_EQ(rows.size(), m == "tree-dpo" ? pairs_rows.size() : 2 * pairs_rows.size());
      EXPECT_GT(cost["method_cost"]["trajectories"].get<double>(), 0);
    } else {
      EXPECT_EQ(cost["method_cost"]["trajectories"], 0.0);
    }
  }
  MtpoOptions bad;
  bad.method = "tree-ppo";
  bad.run = run;
  bad.out = tmp / "bad";
  EXPECT_THROW(run_mtpo(bad), Error);
}

}  // namespace
}  // namespace ecpo::mtpo
