// SGPT rows (protocol §9, D13) on real rule × agenda runs of the bundled sample: one row per trainable agent
// call of every successful episode, messages exactly as the agent saw them; few-shot prompts re-rendered
// as zero-shot equal the rows of a zero-shot run byte for byte; formats and bad input.
#include <gtest/gtest.h>

#include "ecpo/run-reader.h"
#include "ecpo/sgpt.h"
#include "ecpo-fixture.h"

namespace ecpo::pref {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

TEST(Sgpt, OneRowPerAgentCallOfEverySuccessfulEpisode) {
  const fs::path run = test::sample_run();
  test::TempDir tmp;
  SgptOptions o;
  o.run = run;
  o.out = tmp / "sft.jsonl";
  SgptSummary s = sgpt_build(o);
  // Independent count from trajectories.jsonl.
  std::vector<json> expect;
  std::size_t ok = 0, all = 0;
  for (const auto& e : test::jsonl_rows(run / "trajectories.jsonl")) {
    all++;
    if (!e["success"].get<bool>()) continue;
    ok++;
    for (const auto& t : e["turns"])
      for (const auto& st : t["steps"]) {
        json m = st["agent_state"]["messages"];
        m.push_back({{"role", "assistant"}, {"content", st["output"]}});
        expect.push_back(m);
      }
  }
  ASSERT_GT(ok, 0u);
  ASSERT_LT(ok, all) << "the sample should hold failed episodes too";
  EXPECT_EQ(s.successful, ok);
  EXPECT_EQ(s.episodes, all);
  auto rows = test::jsonl_rows(o.out);
  ASSERT_EQ(rows.size(), expect.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i]["messages"], expect[i]) << "row " << i;
    EXPECT_EQ(rows[i]["messages"].back()["role"], "assistant");
  }
  // Search steps are rows too.
  std::size_t searches = 0;
  for (const auto& r : rows) searches += r["messages"].back()["content"].get<std::string>().rfind("Search[", 0) == 0;
  EXPECT_GT(searches, 0u);
  // The sidecar says which roles were heuristic.
  json meta = read_json_file(s.meta);
  EXPECT_EQ(meta["heuristic_roles"], json({"agent (rule)", "user_sim (agenda)", "ec_rater (heuristic)", "persona (offline)"}));
}

TEST(Sgpt, FewShotPromptsAreReRenderedAsTheZeroShotTemplateByteForByte) {
  const fs::path zs = test::sample_run("train", 40);
  const fs::path fs_run = test::sample_run("train", 40, {"agent.prompt=few-shot"});
  test::TempDir tmp;
  SgptOptions a;
  a.run = zs;
  a.out = tmp / "zs.jsonl";
  sgpt_build(a);
  SgptOptions b;
  b.run = fs_run;
  b.out = tmp / "fs.jsonl";
  SgptSummary sb = sgpt_build(b);
  EXPECT_EQ(sb.stats.converted, sb.stats.rows);
  EXPECT_EQ(sb.stats.variants_seen, json({{"few-shot", sb.stats.rows}}));
  auto ra = test::jsonl_rows(a.out), rb = test::jsonl_rows(b.out);
  ASSERT_EQ(ra.size(), rb.size());
  for (std::size_t i = 0; i < ra.size(); ++i) ASSERT_EQ(ra[i]["messages"], rb[i]["messages"]) << "row " << i;
  // as-run keeps the few-shot example block.
  SgptOptions c = b;
  c.prompt = "as-run";
  c.out = tmp / "as-run.jsonl";
  sgpt_build(c);
  auto rc = test::jsonl_rows(c.out);
  EXPECT_NE(rc[0]["messages"][1]["content"].get<std::string>().find("(end of example)"), std::string::npos);
  EXPECT_EQ(ra[0]["messages"][1]["content"].get<std::string>().find("(end of example)"), std::string::npos);
}

TEST(Sgpt, CompactPromptsConvertToNothingElse) {
  const fs::path run = test::sample_run("train", 40, {"agent.prompt=compact"});
  test::TempDir tmp;
  SgptOptions o;
  o.run = run;
  o.out = tmp / "sft.jsonl";
  try {
    sgpt_build(o);
    FAIL() << "compact → zero-shot must be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("compact"), std::string::npos);
    EXPECT_NE(e.hint().find("--prompt compact"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(o.out));
  o.prompt = "compact";
  EXPECT_GT(sgpt_build(o).stats.rows, 0u);
}

TEST(Sgpt, FormatsTrlAndLlamaFactory) {
  const fs::path run = test::sample_run();
  test::TempDir tmp;
  SgptOptions o;
  o.run = run;
  o.out = tmp / "ecpo.jsonl";
  sgpt_build(o);
  auto ecpo_rows = test::jsonl_rows(o.out);
  o.format = "trl";
  o.out = tmp / "trl.jsonl";
  sgpt_build(o);
  auto trl = test::jsonl_rows(o.out);
  o.format = "llamafactory";
  o.out = tmp / "lf" / "agent-sft.jsonl";
  SgptSummary s = sgpt_build(o);
  auto lf = test::jsonl_rows(o.out);
  ASSERT_EQ(trl.size(), ecpo_rows.size());
  ASSERT_EQ(lf.size(), ecpo_rows.size());
  for (std::size_t i = 0; i < trl.size(); ++i) {
    const json& m = ecpo_rows[i]["messages"];
    // TRL conversational prompt-completion: prompt ends with the user turn, completion = [assistant].
    ASSERT_EQ(trl[i].size(), 2u);
    EXPECT_EQ(trl[i]["prompt"].size(), m.size() - 1);
    EXPECT_EQ(trl[i]["prompt"].back()["role"], "user");
    EXPECT_EQ(trl[i]["completion"], json::array({m.back()}));
    // alpaca: system, instruction = the user message, input "", output.
    EXPECT_EQ(lf[i]["system"], m[0]["content"]);
    EXPECT_EQ(lf[i]["instruction"], m[1]["content"]);
    EXPECT_EQ(lf[i]["input"], "");
    EXPECT_EQ(lf[i]["output"], m.back()["content"]);
    EXPECT_FALSE(lf[i].contains("history"));
  }
  json info = read_json_file(tmp / "lf" / "dataset_info.json");
  ASSERT_TRUE(info.contains("agent_sft"));
  EXPECT_EQ(info["agent_sft"]["file_name"], "agent-sft.jsonl");
  EXPECT_EQ(info["agent_sft"]["formatting"], "alpaca");
  EXPECT_EQ(info["agent_sft"]["columns"]["prompt"], "instruction");
  EXPECT_EQ(info["agent_sft"]["columns"]["query"], "input");
  EXPECT_EQ(info["agent_sft"]["columns"]["response"], "output");
  EXPECT_FALSE(info["agent_sft"].contains("ranking"));
  EXPECT_EQ(s.dataset_info, tmp / "lf" / "dataset_info.json");
}

TEST(Sgpt, NoSuccessfulEpisodeWritesNothing) {
  test::TempDir tmp;
  fs::path run = test::edited_run(test::sample_run(), tmp / "run", [](json& e) { e["success"] = false; });
  SgptOptions o;
  o.run = run;
  o.out = tmp / "sft.jsonl";
  try {
    sgpt_build(o);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no successful episode"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(o.out));
  EXPECT_FALSE(fs::exists(tmp / "sft.meta.json"));
}

TEST(RunReader, OlderFormatIsRefusedWithAHint) {
  test::TempDir tmp;
  fs::path run = test::edited_run(test::sample_run(), tmp / "run", [](json& e) {
    for (auto& t : e["turns"]) t.erase("steps");
  });
  try {
    load_run(run);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("older format"), std::string::npos) << e.what();
    EXPECT_NE(e.hint().find("simulate export"), std::string::npos);
  }
  EXPECT_THROW(load_run(tmp / "nothing-here"), Error);
}

TEST(RunReader, CostAndHeuristicRolesOfARun) {
  RunData r = load_run(test::sample_run());
  EXPECT_EQ(r.source, "run.db");
  EXPECT_EQ(r.episodes.size(), 40u);
  EXPECT_EQ(r.cost.trajectories, 40.0);
  EXPECT_EQ(r.cost.llm_calls, 0u);
  std::size_t role_calls = 0;
  for (const auto& e : r.episodes) {
    for (const auto& t : e["turns"]) role_calls += t["steps"].size() + 1 + (t["ec"].is_object() ? 1 : 0);
    role_calls += e["end"].is_object() ? 1 : 0;
  }
  EXPECT_EQ(r.cost.role_calls, role_calls);
  EXPECT_EQ(r.heuristic_roles.size(), 4u);
}

}  // namespace
}  // namespace ecpo::pref
