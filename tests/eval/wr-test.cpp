// The WR judge (protocol §8.3 [D]): both orders mapped to A's side, ties ½, failures retried then counted
// as ties and listed, unmatched tasks, position consistency — checked by hand with a scripted judge, through
// the fake OpenAI server end to end, and the swap invariant WR(A,B) + WR(B,A) = 1. Rewrite judging too.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>

#include "ecpo/ecpo-fixture.h"
#include "eval/wr.h"
#include "llm/fake-server.h"
#include "util/fs.h"

namespace ecpo::eval {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Scripted verdicts: flexibility prefers the dialogue whose first user turn is A's (consistent with A),
// coherence always says "1" (position bias), guidance always "tie", overall fails on the first `fail_first`
// attempts of every call for tasks listed in `failing`.
class ScriptedJudge : public Judge {
 public:
  sim::Dialogue a_marker;  // identifies A's dialogue: dialogues equal to one of A's
  std::set<std::string> a_texts;
  std::set<std::string> failing;  // task ids whose judgement fails every attempt
  int fail_first = 0;             // attempts that fail for every other task
  std::atomic<int> calls{0};

  std::optional<Comparison> compare_dialogues(const sim::Dialogue& first, const sim::Dialogue& second, const JudgeCall& call,
                                              std::string* error) override {
    calls++;
    for (const auto& f : failing)
      if (call.id.find(f) != std::string::npos) {
        *error = "scripted failure";
        return std::nullopt;
      }
    if (call.attempt < fail_first) {
      *error = "transient";
      return std::nullopt;
    }
    Comparison c;
    const bool a_first = a_texts.count(sim::render_dialogue(first)) > 0;
    (void)second;
    c.pick["flexibility"] = a_first ? "1" : "2";
    c.pick["coherence"] = "1";
    c.pick["guidance"] = "tie";
    c.pick["overall"] = a_first ? "1" : "2";
    c.reason = "scripted";
    return c;
  }
  std::optional<Comparison> compare_steps(const StepView& v, const JudgeCall&, std::string*) override {
    Comparison c;
    // The rewrite (shown first in order 0) is recognisable by its trailing marker.
    const bool rewrite_first = v.first.find("REWRITE") != std::string::npos;
    c.pick["better"] = rewrite_first ? "1" : "2";
    c.pick["information_fidelity"] = "tie";
    c.pick["coherence"] = "1";
    return c;
  }
  std::string label() const override { return "scripted"; }
  bool heuristic() const override { return false; }
};

pref::RunData run_a() { return pref::load_run(test::sample_run("test", 12)); }

// B: the same tasks, a different seed of the agenda user (the dialogues differ).
pref::RunData run_b() { return pref::load_run(test::sample_run("test", 12, {"seed=3"})); }

TEST(Wr, ByHandWithAScriptedJudge) {
  pref::RunData a = run_a(), b = run_b();
  ScriptedJudge j;
  for (const auto& e : a.episodes) j.a_texts.insert(sim::render_dialogue(episode_dialogue(e)));
  const std::string failing_task = a.episodes[3]["task_id"];
  j.failing = {failing_task};
  json r = judge_runs(a, b, j, 4, /*retries=*/2);
  const double n = 12;
  ASSERT_EQ(r["n"], 12);
  // flexibility/overall: A wins both orders on 11 tasks; the failing task is 2 ties → (22 + 0.5·2) / 24.
  EXPECT_DOUBLE_EQ(r["wr"]["flexibility"].get<double>(), (22 + 0.5 * 2) / (2 * n));
  EXPECT_DOUBLE_EQ(r["wr"]["overall"].get<double>(), (22 + 0.5 * 2) / (2 * n));
  // coherence: "1" always → A wins when first, loses when second: 11 wins, 11 losses, 2 ties.
  EXPECT_DOUBLE_EQ(r["wr"]["coherence"].get<double>(), (11 + 0.5 * 2) / (2 * n));
  EXPECT_EQ(r["counts"]["coherence"]["loss"], 11);
  EXPECT_DOUBLE_EQ(r["wr"]["guidance"].get<double>(), 0.5);
  // Failures: both orders of the failing task, each after 1 + 2 attempts.
  ASSERT_EQ(r["failures"].size(), 2u);
  for (const auto& f : r["failures"]) {
    EXPECT_EQ(f["task_id"], failing_task);
    EXPECT_EQ(f["attempts"], 3);
  }
  EXPECT_EQ(j.calls.load(), 2 * 11 + 2 * 3);
  // Position consistency over (task, criterion) judged in both orders: flexibility, guidance, overall agree,
  // coherence never does → 33 / 44.
  EXPECT_DOUBLE_EQ(r["position_consistency"].get<double>(), 33.0 / 44.0);
  EXPECT_DOUBLE_EQ(r["position_consistency_by_criterion"]["coherence"].get<double>(), 0.0);
  EXPECT_TRUE(r["unmatched"].empty());
  // The contract fields.
  for (const char* k : {"wr", "judgements", "failures", "unmatched", "position_consistency"}) EXPECT_TRUE(r.contains(k)) << k;
  for (const char* k : {"flexibility", "coherence", "guidance", "overall"}) EXPECT_TRUE(r["wr"].contains(k)) << k;
}

TEST(Wr, TransientFailuresAreRetriedAndNotListed) {
  pref::RunData a = run_a(), b = run_b();
  ScriptedJudge j;
  for (const auto& e : a.episodes) j.a_texts.insert(sim::render_dialogue(episode_dialogue(e)));
  j.fail_first = 1;
  json r = judge_runs(a, b, j, 4, 2);
  EXPECT_TRUE(r["failures"].empty());
  EXPECT_EQ(j.calls.load(), 2 * 2 * 12);
  EXPECT_DOUBLE_EQ(r["wr"]["flexibility"].get<double>(), 1.0);
  EXPECT_EQ(r["judgements"][0]["ab"]["attempts"], 2);
}

TEST(Wr, SwappingAAndBGivesOneMinusWr) {
  pref::RunData a = run_a(), b = run_b();
  auto h = make_heuristic_judge("book");
  json ab = judge_runs(a, b, *h, 4), ba = judge_runs(b, a, *h, 4);
  for (const auto& k : wr_criteria())
    EXPECT_NEAR(ab["wr"][k].get<double>() + ba["wr"][k].get<double>(), 1.0, 1e-12) << k;
  EXPECT_DOUBLE_EQ(ab["position_consistency"].get<double>(), 1.0) << "the heuristic judge ignores order";
  EXPECT_EQ(ab["heuristic_roles"].back(), "judge (heuristic)");
  // A run against itself: every verdict a tie.
  json self = judge_runs(a, a, *h, 4);
  for (const auto& k : wr_criteria()) EXPECT_DOUBLE_EQ(self["wr"][k].get<double>(), 0.5) << k;
}

TEST(Wr, UnmatchedTasksAreListedAndDisjointTaskSetsRefused) {
  test::TempDir tmp;
  int k = 0;
  fs::path b_dir = test::edited_run(test::sample_run("test", 12), tmp / "b", [&](json& e) {
    if (k++ == 0) e["task_id"] = "only-in-b";
  });
  pref::RunData a = run_a(), b = pref::load_run(b_dir);
  auto h = make_heuristic_judge("book");
  json r = judge_runs(a, b, *h, 4);
  EXPECT_EQ(r["n"], 11);
  ASSERT_EQ(r["unmatched"].size(), 2u);
  std::set<std::string> sides;
  for (const auto& u : r["unmatched"]) sides.insert(u["only_in"].get<std::string>() + ":" + u["task_id"].get<std::string>());
  EXPECT_TRUE(sides.count("b:only-in-b"));
  EXPECT_TRUE(sides.count("a:" + a.episodes[0]["task_id"].get<std::string>()));

  fs::path c_dir = test::edited_run(test::sample_run("test", 12), tmp / "c", [&](json& e) { e["task_id"] = "x" + e["task_id"].get<std::string>(); });
  try {
    judge_runs(a, pref::load_run(c_dir), *h, 4);
    FAIL() << "disjoint task sets";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("different task sets"), std::string::npos);
  }
  fs::path d_dir = test::edited_run(test::sample_run("test", 12), tmp / "d", [&](json& e) { e["target_item_id"] = "other"; });
  EXPECT_THROW(judge_runs(a, pref::load_run(d_dir), *h, 4), Error);
}

TEST(LlmJudge, FakeServerEndToEndWithABiasedJudgeAndOneBrokenTask) {
  pref::RunData a = run_a(), b = run_b();
  // An utterance that occurs in exactly one task's dialogues (A or B): its judgements get unusable replies.
  std::map<std::string, std::set<std::string>> where;
  for (const auto* r : {&a, &b})
    for (const auto& e : r->episodes)
      for (const auto& u : episode_dialogue(e))
        if (u.speaker == "user") where[u.text].insert(e["task_id"].get<std::string>());
  std::string marker, marker_task;
  for (const auto& [text, tasks] : where)
    if (tasks.size() == 1 && text.size() > 20) {
      marker = text;
      marker_task = *tasks.begin();
      break;
    }
  ASSERT_FALSE(marker.empty());
  llm::FakeServerOptions so;
  std::string lower = marker;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  so.script.rules = {{lower, json("not a verdict")},
                     {"=== conversation 1 ===",
                      json(R"({"reason": "first looks better", "flexibility": "1", "coherence": "2", "guidance": "tie", "overall": "1"})")}};
  so.script.fallback = json("still not JSON");
  llm::FakeServer server(so);
  server.start();
  test::TempDir tmp;
  fs::path roles = test::write_text(
      tmp / "roles.yaml", "defaults:\n  backend: openai\n  base_url: " + server.base_url() +
                              "\n  api_key_env: \"\"\n  timeout_ms: 5000\n  retry: {max_attempts: 2, base_ms: 1, max_ms: 5, jitter: 0}\n"
                              "roles:\n  judge: {model: fake-model, params: {temperature: 0.0, max_tokens: 256}}\ncache: {enabled: false}\n");
  JudgeOptions o;
  o.a = a.dir;
  o.b = b.dir;
  o.roles = roles;
  o.out = tmp / "judge";
  o.retries = 1;
  JudgeSummary s = judge_command(o);
  json r = read_json_file(tmp / "judge" / "wr.json");
  EXPECT_EQ(r, s.result);
  EXPECT_EQ(r["judge"], "llm:fake-model");
  // 11 good tasks: "1" always → A wins first, loses second → every criterion 0.5 (guidance: ties); the broken
  // task's two orders are ties too.
  for (const auto& k : wr_criteria()) EXPECT_DOUBLE_EQ(r["wr"][k].get<double>(), 0.5) << k;
  // Consistency: only guidance agrees (tie, tie) on the 11 tasks judged in both orders → 11 / 44.
  EXPECT_DOUBLE_EQ(r["position_consistency"].get<double>(), 11.0 / 44.0);
  ASSERT_EQ(r["failures"].size(), 2u);
  EXPECT_EQ(r["failures"][0]["task_id"], marker_task);
  EXPECT_EQ(r["failures"][0]["attempts"], 2);
  EXPECT_EQ(r["counts"]["flexibility"]["tie"], 2);
  server.stop();
}

TEST(JudgePairs, WinTieLoseAndBiasByHand) {
  std::vector<pref::Pair> pairs;
  for (int i = 0; i < 5; ++i) {
    pref::Pair p;
    p.pair_id = "p" + std::to_string(i);
    p.prompt = {{"system", "s"}, {"user", "u"}};
    p.chosen = "Ask[Which genre? REWRITE]";
    p.rejected = "Ask[Which genre?]";
    p.kind = "rule";
    p.action_type = "ask";
    pairs.push_back(p);
  }
  ScriptedJudge j;
  json r = judge_pairs(pairs, "book", j, 2);
  EXPECT_EQ(r["n"], 5);
  EXPECT_DOUBLE_EQ(r["win"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["tie"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(r["lose"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(r["bias"]["information_fidelity"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(r["bias"]["coherence"].get<double>(), 0.5);  // position bias cancels out
  EXPECT_DOUBLE_EQ(r["position_consistency_by_criterion"]["better"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["position_consistency_by_criterion"]["coherence"].get<double>(), 0.0);
}

TEST(JudgePrompts, OrderAndContent) {
  sim::Dialogue a = {{"user", "I like dragons", ""}, {"assistant", "Try A", "recommend"}};
  sim::Dialogue b = {{"user", "I like dragons", ""}, {"assistant", "Try B", "recommend"}};
  auto m = judge_messages("book", a, b);
  ASSERT_EQ(m.size(), 2u);
  const std::string& u = m[1].content;
  EXPECT_LT(u.find("Try A"), u.find("=== Conversation 2 ==="));
  EXPECT_GT(u.find("Try B"), u.find("=== Conversation 2 ==="));
  for (const auto& k : wr_criteria()) EXPECT_NE(u.find(k), std::string::npos) << k;
  EXPECT_EQ(judge_schema()["properties"]["overall"]["enum"], json({"1", "2", "tie"}));
}

}  // namespace
}  // namespace ecpo::eval
