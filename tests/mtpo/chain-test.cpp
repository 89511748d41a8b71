// The whole chain on the bundled sample: offline through the ecpo binary (simulate → sgpt → rewrite →
// pairs export → every mtpo baseline → judge → judge --pairs → report), and with LLM roles on the fake
// OpenAI server (tests/assets/ecpo/fake-ecpo-script.yaml): every stage's cost.json / wr.json call counts
// equal the requests the server saw, and the rewriter's rejections are the ones the script provokes.
#include <gtest/gtest.h>

#include "ecpo/ecpo-fixture.h"
#include "ecpo/rewrite.h"
#include "eval/wr.h"
#include "llm/fake-server.h"
#include "mtpo/mtpo.h"
#include "util/fs.h"

namespace ecpo::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

TEST(Chain, OfflineThroughTheBinary) {
  const fs::path train = sample_run("train", 30), a = sample_run("test", 12), b = sample_run("test", 12, {"seed=3"});
  TempDir tmp;
  auto ok = [](const CommandResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r.out;
    return r.out;
  };
  ok(run_ecpo("sgpt --run " + train.string() + " --out " + (tmp / "sgpt" / "sft.jsonl").string()));
  ok(run_ecpo("rewrite --run " + train.string() + " --lambda 1,2,3,4,5 --out " + (tmp / "rewrite").string() + " --offline"));
  ok(run_ecpo("pairs export --pairs " + (tmp / "rewrite" / "pairs.jsonl").string() + " --lambda 5 --format trl-dpo --out " +
              (tmp / "pairs" / "dpo.jsonl").string()));
  for (const char* m : {"traj-sft", "traj-kto", "tree-dpo", "tree-kto"})
    ok(run_ecpo(std::string("mtpo --method ") + m + " --run " + train.string() + " --out " + (tmp / m).string() +
                " --offline --k 3 --depth 2"));
  ok(run_ecpo("judge --a " + a.string() + " --b " + b.string() + " --out " + (tmp / "judge" / "student").string() + " --offline"));
  const std::string pj = ok(run_ecpo("judge --pairs " + (tmp / "rewrite" / "pairs.jsonl").string() + " --out " +
                                     (tmp / "pairs-judge").string() + " --offline"));
  EXPECT_NE(pj.find("judge (heuristic)"), std::string::npos) << pj;
  std::string args;
  for (const auto& p : {a, b, train, tmp / "judge", tmp / "rewrite", tmp / "pairs-judge", tmp / "traj-sft", tmp / "traj-kto",
                        tmp / "tree-dpo", tmp / "tree-kto"})
    args += " " + p.string();
  ok(run_ecpo("report" + args + " --out " + (tmp / "report.html").string()));
  const std::string html = read_text(tmp / "report.html");
  for (const char* m : {"ecpo (rewrite)", "traj-sft (traj-sft)", "traj-kto (traj-kto)", "tree-dpo (tree-dpo)", "tree-kto (tree-kto)"})
    EXPECT_NE(html.find(m), std::string::npos) << m;
  // Cost per pair: ECPO simulates nothing beyond the forward run; the tree methods roll out.
  json ecpo = read_json_file(tmp / "rewrite" / "cost.json"), tree = read_json_file(tmp / "tree-dpo" / "cost.json");
  EXPECT_EQ(ecpo["method_cost"]["trajectories"], 0.0);
  EXPECT_GT(tree["trajectories_per_pair"].get<double>(), ecpo["trajectories_per_pair"].get<double>());
}

struct Counts {
  std::size_t ask = 0, search = 0, recommend = 0;
};

TEST(Chain, FakeServerRolesAreCountedCallForCall) {
  llm::FakeServerOptions so;
  so.script = llm::load_fake_script(fs::path(ECPO_TEST_ASSETS) / "ecpo" / "fake-ecpo-script.yaml");
  llm::FakeServer server(so);
  server.start();
  TempDir tmp;
  const fs::path roles = write_text(
      tmp / "roles.yaml",
      "defaults:\n  backend: openai\n  base_url: " + server.base_url() +
          "\n  api_key_env: \"\"\n  timeout_ms: 10000\n  max_concurrency: 32\n"
          "  retry: {max_attempts: 2, base_ms: 1, max_ms: 5, jitter: 0}\n"
          "roles:\n"
          "  user_sim: {model: gpt-4o-mini, params: {temperature: 0.0, max_tokens: 256}}\n"
          "  ec_rater: {model: gpt-4o-mini, params: {temperature: 0.0, max_tokens: 256}}\n"
          "  rewriter: {model: gpt-4o-mini, params: {temperature: 1.0, max_tokens: 512}}\n"
          "  judge: {model: gpt-4o, params: {temperature: 0.0, max_tokens: 512}}\n"
          "cache: {enabled: false}\n");
  auto requests = [&] { return server.stats().chat_requests; };
  // Forward run: rule agent × AILO user on the fake server.
  const Sample& sm = book_sample();
  episode::SimulateOptions o;
  o.tasks = sm.tasks;
  o.split = "train";
  o.index = sm.index;
  o.agent = "rule";
  o.user = "ailo";
  o.roles = roles;
  o.limit = 12;
  o.concurrency = 4;
  o.out = tmp / "run";
  auto r0 = requests();
  episode::SimulateSummary sim = episode::simulate(o);
  EXPECT_EQ(sim.metrics.calls, requests() - r0);
  // Candidates by kind, from the trajectories: turns scored < 5.
  Counts c;
  for (const auto& e : jsonl_rows(o.out / "trajectories.jsonl"))
    for (const auto& t : e["turns"])
      if (t["ec"].is_object() && t["ec"]["score"].get<int>() < 5)
        for (const auto& s : t["steps"]) {
          const std::string out = s["output"];
          if (out.rfind("Ask[", 0) == 0) c.ask++;
          else if (out.rfind("Search[", 0) == 0) c.search++;
          else c.recommend++;
        }
  ASSERT_GT(c.ask, 0u);
  // Rewrite with the rewriter role.
  pref::RewriteOptions ro;
  ro.run = o.out;
  ro.roles = roles;
  ro.out = tmp / "rewrite";
  r0 = requests();
  pref::RewriteSummary rw = pref::rewrite_run(ro);
  EXPECT_EQ(rw.report["rewriter_cost"]["llm_calls"], requests() - r0);
  EXPECT_EQ(rw.report["candidates"], c.ask + c.search + c.recommend);
  EXPECT_EQ(rw.report["accepted"], c.ask);
  EXPECT_EQ(rw.report["rejected"]["not_one_action"], c.search);
  EXPECT_EQ(rw.report["rejected"]["type_changed"], c.recommend);
  EXPECT_GT(c.recommend, 0u);
  EXPECT_GT(c.search, 0u);
  json ecpo_cost = read_json_file(tmp / "rewrite" / "cost.json");
  EXPECT_EQ(ecpo_cost["total"]["llm_calls"], sim.metrics.calls + (requests() - r0));
  EXPECT_EQ(ecpo_cost["heuristic_roles"], json({"agent (rule)", "persona (offline)"}));
  // Tree baseline: its rollouts' calls.
  mtpo::MtpoOptions mo;
  mo.method = "tree-dpo";
  mo.run = o.out;
  mo.roles = roles;
  mo.out = tmp / "tree";
  r0 = requests();
  mtpo::MtpoSummary tree = mtpo::run_mtpo(mo);
  EXPECT_EQ(tree.cost["method_cost"]["llm_calls"], requests() - r0);
  EXPECT_GT(tree.cost["method_cost"]["llm_calls"].get<std::size_t>(), 0u);
  EXPECT_GT(tree.cost["method_cost"]["prompt_tokens"].get<long>(), 0);
  // Judge: two calls per matched task; the script's judge prefers the dialogue shown first.
  eval::JudgeOptions jo;
  jo.a = o.out;
  jo.b = o.out;
  jo.roles = roles;
  jo.out = tmp / "judge";
  r0 = requests();
  eval::JudgeSummary j = eval::judge_command(jo);
  EXPECT_EQ(requests() - r0, 2 * 12u);
  EXPECT_DOUBLE_EQ(j.result["wr"]["overall"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j.result["position_consistency_by_criterion"]["coherence"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(j.result["position_consistency_by_criterion"]["overall"].get<double>(), 0.0);
  server.stop();
}

TEST(Chain, TreeWithAnLlmAgentSamplesTheBranchCallOnTheFakeServer) {
  // An ActCRS agent on the fake server (a constant action) with the offline agenda user: the samples of a
  // branch call all read the same, so the rollouts replay the source and every branch point is skipped (equal
  // values), but every rollout runs and its calls are counted.
  llm::FakeServerOptions so;
  so.script.rules = {{"observations and your actions", json("Ask[What do you like to read?]")}};
  llm::FakeServer server(so);
  server.start();
  TempDir tmp;
  const fs::path roles = write_text(
      tmp / "roles.yaml", "defaults:\n  backend: openai\n  base_url: " + server.base_url() +
                              "\n  api_key_env: \"\"\n  timeout_ms: 10000\n  retry: {max_attempts: 2, base_ms: 1, max_ms: 5, jitter: 0}\n"
                              "roles:\n  agent: {model: fake-model, params: {temperature: 0.0, max_tokens: 64}}\n"
                              "cache: {enabled: false}\n");
  const Sample& sm = book_sample();
  episode::SimulateOptions o;
  o.tasks = sm.tasks;
  o.split = "train";
  o.index = sm.index;
  o.agent = "actcrs";
  o.user = "agenda";
  o.roles = roles;
  o.limit = 4;
  o.concurrency = 2;
  o.out = tmp / "run";
  episode::simulate(o);
  mtpo::MtpoOptions mo;
  mo.method = "tree-dpo";
  mo.run = o.out;
  mo.out = tmp / "tree";
  mo.k = 3;
  mo.depth = 2;
  auto r0 = server.stats().chat_requests;
  mtpo::MtpoSummary s = mtpo::run_mtpo(mo);
  const auto& rep = s.report;
  EXPECT_EQ(rep["sampling"].get<std::string>().rfind("llm temperature", 0), 0u);
  EXPECT_EQ(rep["rollouts"], 2 * rep["branch_points"].get<std::size_t>());
  EXPECT_EQ(rep["skipped"]["equal_values"], rep["branch_points"]) << rep["skipped"].dump();
  EXPECT_EQ(rep["pairs"], 0);
  EXPECT_EQ(rep["prefix_divergent_rollouts"], 0);
  EXPECT_EQ(s.cost["method_cost"]["llm_calls"], server.stats().chat_requests - r0);
  EXPECT_GT(s.cost["method_cost"]["llm_calls"].get<std::size_t>(), 0u);
  EXPECT_TRUE(s.cost["llm_calls_per_pair"].is_null()) << "no pair: no per-pair figure";
  server.stop();
}

}  // namespace
}  // namespace ecpo::test
