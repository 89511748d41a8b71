// The rewriter role and the rewrite pass: what the LLM rewriter's prompt holds, how its reply is parsed,
// how each rejected rewrite is counted (fake OpenAI server with scripted replies, end to end through the
// roles file), the offline heuristic rewriter's edits, and nested λ subsets.
#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include "ecpo/rewrite.h"
#include "ecpo-fixture.h"
#include "llm/fake-server.h"
#include "util/fs.h"

namespace ecpo::pref {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Replies in order (the last repeats) and records what it was sent.
class RecordingModel : public llm::ChatModel {
 public:
  explicit RecordingModel(std::vector<std::string> replies) : replies_(std::move(replies)) {}
  llm::ChatResult chat(const std::vector<llm::Message>& m, const llm::ChatParams& p) override {
    std::lock_guard lk(mu_);
    seen.push_back(m);
    params.push_back(p);
    llm::ChatResult r;
    r.text = replies_[std::min(n_++, replies_.size() - 1)];
    r.finish_reason = "stop";
    return r;
  }
  std::string model_name() const override { return "recording"; }
  std::vector<std::vector<llm::Message>> seen;
  std::vector<llm::ChatParams> params;

 private:
  std::vector<std::string> replies_;
  std::size_t n_ = 0;
  std::mutex mu_;
};

Candidate sample_candidate() {
  RunData run = load_run(test::sample_run());
  CandidateStats cs;
  for (const auto& e : run.episodes)
    for (auto& c : episode_candidates(e, 5, cs))
      if (c.action && c.action->type == agent::ActionType::recommend) return c;
  ADD_FAILURE() << "no Recommend candidate in the sample";
  return {};
}

TEST(LlmRewriter, PromptHoldsStateOriginalFeedbackAndTheActionTypeRule) {
  Candidate c = sample_candidate();
  auto model = std::make_shared<RecordingModel>(std::vector<std::string>{
      R"({"reason": "name options", "refinement": "Recommend[x]"})"});
  auto rw = make_llm_rewriter(model, {}, "book");
  RewriteOutcome out = rw->rewrite(c);
  ASSERT_EQ(model->seen.size(), 1u);
  const auto& m = model->seen[0];
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].role, "system");
  const std::string& u = m[1].content;
  // The agent's state: its scratchpad (the last observation is the search results of this turn).
  EXPECT_NE(u.find("Observation 1: [User]"), std::string::npos);
  EXPECT_NE(u.find("[Search results]"), std::string::npos);
  // Not the agent's own instructions: only the scratchpad part of its prompt.
  EXPECT_EQ(u.find("At each step write exactly one action"), std::string::npos);
  EXPECT_NE(u.find("The step to improve:\n" + agent::format_action(*c.action)), std::string::npos);
  EXPECT_NE(u.find(c.ec.reason), std::string::npos);
  EXPECT_NE(u.find(std::to_string(c.ec.score) + " of 5"), std::string::npos);
  EXPECT_NE(u.find("must stay exactly one Recommend[...] action"), std::string::npos);
  // Structured output with the reason first; a per-pair seed so a rerun hits the cache.
  ASSERT_TRUE(model->params[0].json_schema.is_object());
  EXPECT_EQ(model->params[0].json_schema["required"], json({"reason", "refinement"}));
  ASSERT_TRUE(model->params[0].seed.has_value());
  EXPECT_TRUE(out.produced);
  EXPECT_EQ(out.refinement, "Recommend[x]");
  EXPECT_EQ(out.thinking, "name options");
}

TEST(LlmRewriter, FencedRepliesParseAndTwoBadRepliesAreAnError) {
  Candidate c = sample_candidate();
  auto fenced = std::make_shared<RecordingModel>(std::vector<std::string>{
      "Sure!\n```json\n{\"reason\": \"r\", \"refinement\": \"Recommend[y]\"}\n```"});
  EXPECT_EQ(make_llm_rewriter(fenced, {}, "book")->rewrite(c).refinement, "Recommend[y]");
  auto bad = std::make_shared<RecordingModel>(std::vector<std::string>{"no json here", "{\"reason\": 1}"});
  RewriteOutcome o = make_llm_rewriter(bad, {}, "book")->rewrite(c);
  EXPECT_FALSE(o.produced);
  EXPECT_FALSE(o.error.empty());
  EXPECT_EQ(bad->seen.size(), 2u) << "one re-ask after the first unusable reply";
}

// Candidates of the sample run by the class of their original, computed from trajectories.jsonl.
struct Classes {
  std::size_t ask_first = 0, ask_more = 0, recommend = 0, search = 0;
  std::vector<int> ask_first_scores;
};
Classes classify(const fs::path& run) {
  Classes k;
  for (const auto& e : test::jsonl_rows(run / "trajectories.jsonl"))
    for (const auto& t : e["turns"]) {
      if (!t["ec"].is_object() || t["ec"]["score"].get<int>() >= 5) continue;
      for (const auto& s : t["steps"]) {
        const std::string out = s["output"];
        if (out.rfind("Ask[What kind", 0) == 0) {
          k.ask_first++;
          k.ask_first_scores.push_back(t["ec"]["score"].get<int>());
        } else if (out.rfind("Ask[", 0) == 0) {
          k.ask_more++;
        } else if (out.rfind("Recommend[", 0) == 0) {
          k.recommend++;
        } else if (out.rfind("Search[", 0) == 0) {
          k.search++;
        }
      }
    }
  return k;
}

TEST(RewriteRun, FakeServerRepliesAreValidatedAndEveryRejectionCounted) {
  const fs::path run = test::sample_run();
  const Classes k = classify(run);
  ASSERT_GT(k.ask_first, 0u);
  ASSERT_GT(k.recommend, 0u);
  ASSERT_GT(k.search, 0u);
  llm::FakeServerOptions so;
  // Rules match the lower-cased last user message (the rewriter prompt); the re-ask prompt matches none and
  // gets the default reply.
  so.script.rules = {
      {"the step to improve:\nask[what kind",
       R"({"reason": "name concrete options", "refinement": "Ask[What kind of book are you in the mood for? Tell me a genre, an author or a theme you love. Mystery or romance?]"})"},
      {"the step to improve:\nask[", R"({"reason": "two questions", "refinement": "Ask[Which theme?] Ask[Which author?]"})"},
      {"the step to improve:\nrecommend[", R"({"reason": "ask first", "refinement": "Ask[Do you prefer mysteries?]"})"},
      {"the step to improve:\nsearch[", "I cannot answer in JSON."}};
  so.script.fallback = json("still no JSON");
  llm::FakeServer server(so);
  server.start();
  test::TempDir tmp;
  fs::path roles = test::write_text(
      tmp / "roles.yaml",
      "defaults:\n  backend: openai\n  base_url: " + server.base_url() +
          "\n  api_key_env: \"\"\n  timeout_ms: 5000\n  retry: {max_attempts: 2, base_ms: 1, max_ms: 5, jitter: 0}\n"
          "roles:\n  rewriter: {model: fake-model, params: {temperature: 1.0, max_tokens: 256}}\n"
          "cache: {enabled: false}\n");
  RewriteOptions o;
  o.run = run;
  o.roles = roles;
  o.out = tmp / "rw";
  o.concurrency = 8;
  RewriteSummary s = rewrite_run(o);
  const json& r = s.report;
  EXPECT_EQ(r["rewriter"], "llm:fake-model");
  EXPECT_EQ(r["candidates"], k.ask_first + k.ask_more + k.recommend + k.search);
  EXPECT_EQ(r["accepted"], k.ask_first);
  EXPECT_EQ(r["rejected"]["not_one_action"], k.ask_more);
  EXPECT_EQ(r["rejected"]["type_changed"], k.recommend);
  EXPECT_EQ(r["rejected"]["rewriter_error"], k.search);
  EXPECT_EQ(r["rejected"]["unchanged"], 0);
  EXPECT_EQ(r["rejected_total"], k.ask_more + k.recommend + k.search);
  // Calls: one per candidate, plus the one re-ask of each unusable reply (the Search ones).
  EXPECT_EQ(r["rewriter_cost"]["llm_calls"], k.ask_first + k.ask_more + k.recommend + 2 * k.search);
  EXPECT_GT(r["rewriter_cost"]["prompt_tokens"].get<long>(), 0);
  // The pairs: chosen = the rewrite, rejected = the original, prompt = the agent's messages.
  auto pairs = read_pairs(s.pairs_file);
  ASSERT_EQ(pairs.size(), k.ask_first);
  for (const auto& p : pairs) {
    EXPECT_EQ(p.chosen.rfind("Ask[What kind of book", 0), 0u);
    EXPECT_NE(p.chosen.find("Mystery or romance?]"), std::string::npos);
    EXPECT_EQ(p.rejected.rfind("Ask[What kind of book", 0), 0u);
    EXPECT_EQ(p.rewriter, "llm:fake-model");
    EXPECT_EQ(p.rewrite_reason, "name concrete options");
    EXPECT_EQ(p.lambda_max, 5);
    EXPECT_EQ(p.prompt.size(), 2u);
  }
  // pairs_per_lambda from the scores, independently.
  for (int l = 1; l <= 5; ++l) {
    std::size_t n = 0;
    for (int sc : k.ask_first_scores) n += sc < l;
    EXPECT_EQ(r["pairs_per_lambda"][std::to_string(l)], n) << "λ=" << l;
  }
  // The cost file: per pair = (source + rewriter) / pairs.
  json cost = read_json_file(s.cost_file);
  EXPECT_EQ(cost["pairs"], k.ask_first);
  EXPECT_DOUBLE_EQ(cost["llm_calls_per_pair"].get<double>(),
                   static_cast<double>(r["rewriter_cost"]["llm_calls"].get<std::size_t>()) / static_cast<double>(k.ask_first));
  EXPECT_DOUBLE_EQ(cost["trajectories_per_pair"].get<double>(), 40.0 / static_cast<double>(k.ask_first));
  // The run's roles were heuristic; the rewriter was not.
  EXPECT_EQ(r["heuristic_roles"], json({"agent (rule)", "user_sim (agenda)", "ec_rater (heuristic)", "persona (offline)"}));
  server.stop();
}

TEST(RewritePass, LambdaSubsetsNestAndScoreZeroIsInEveryLambda) {
  test::TempDir tmp;
  // Make some turns score 0 (a system-error-like rating) and some 1, so every λ bucket is populated.
  int k = 0;
  fs::path run = test::edited_run(test::sample_run(), tmp / "run", [&](json& e) {
    for (auto& t : e["turns"])
      if (t["ec"].is_object() && t["ec"]["score"].get<int>() < 5) {
        int s = (k++) % 6;  // 0..5 cycling
        t["ec"] = {{"flexibility", std::min(s, 2)}, {"coherence", std::clamp(s - 2, 0, 2)},
                   {"guidance", s == 5 ? 1 : 0},    {"score", s},
                   {"reason", "edited score " + std::to_string(s) + " (guidance -1)"}, {"rater", "heuristic"}};
      }
  });
  RunData data = load_run(run);
  sim::ItemCatalog cat = load_run_catalog(data);
  auto rw = make_heuristic_rewriter("book", &cat);
  RewritePass pass = rewrite_pass(data, *rw, &cat, {1, 2, 3, 4, 5}, {}, 4);
  std::map<int, std::set<std::string>> ids;
  std::map<int, std::size_t> by_score;
  for (const auto& p : pass.pairs) {
    by_score[p.score]++;
    for (int l = 1; l <= 5; ++l)
      if (pair_in_lambda(p.score, l)) ids[l].insert(p.pair_id);
  }
  ASSERT_GT(by_score[0], 0u) << "score-0 turns must make pairs (D7)";
  EXPECT_EQ(ids[1].size(), by_score[0]);
  for (int l = 1; l < 5; ++l) {
    for (const auto& id : ids[l]) EXPECT_TRUE(ids[l + 1].count(id)) << id << " in λ=" << l << " but not λ=" << l + 1;
    EXPECT_GE(ids[l + 1].size(), ids[l].size());
  }
  std::size_t cum = 0;
  for (int l = 1; l <= 5; ++l) {
    cum += by_score[l - 1];
    EXPECT_EQ(pass.report["pairs_per_lambda"][std::to_string(l)], cum) << "λ=" << l;
  }
  EXPECT_EQ(pass.report["heuristic_roles"].back(), "rewriter (heuristic)");
  // A pass for λ ≤ 3 only rewrites turns scored 0..2, and its pairs are exactly that subset.
  RewritePass small = rewrite_pass(data, *rw, &cat, {1, 3}, {}, 4);
  std::set<std::string> small_ids;
  for (const auto& p : small.pairs) {
    EXPECT_LT(p.score, 3);
    EXPECT_EQ(p.lambda_max, 3);
    small_ids.insert(p.pair_id);
  }
  EXPECT_EQ(small_ids, ids[3]);
}

// ---- the heuristic rewriter ------------------------------------------------------------------------------

Candidate hand_candidate(agent::ActionType type, std::string arg, int f, int c, int g) {
  Candidate k;
  k.pair_id = "ep/t1/s0";
  k.kind = "rule";
  k.action = agent::Action{type, arg};
  k.original = agent::format_action(*k.action);
  k.ec.flexibility = f;
  k.ec.coherence = c;
  k.ec.guidance = g;
  k.ec.score = f + c + g;
  k.dialogue = {{"user", "Could you recommend me a good book?", ""},
                {"assistant", "What kind of book?", "ask"},
                {"user", "Thanks, but no. Something with dragons and old maps would be great.", ""}};
  return k;
}

TEST(HeuristicRewriter, EachDeductionGetsItsEdit) {
  auto rw = make_heuristic_rewriter("book", nullptr);
  // Coherence: restate the user's last constraint (its last sentence, lower-cased, no final stop).
  EXPECT_EQ(rw->rewrite(hand_candidate(agent::ActionType::ask, "Any favourite author?", 2, 1, 1)).refinement,
            "Ask[Noted — something with dragons and old maps would be great. Any favourite author?]");
  // Flexibility on an Ask: name concrete options (no retrieved items: the domain's fallback options).
  EXPECT_EQ(rw->rewrite(hand_candidate(agent::ActionType::ask, "Any favourite author?", 1, 2, 1)).refinement,
            "Ask[Any favourite author? Would you prefer fantasy, mystery or history?]");
  // Guidance on a reply without a question: add one.
  EXPECT_EQ(rw->rewrite(hand_candidate(agent::ActionType::response, "Happy reading.", 2, 2, 0)).refinement,
            "Response[Happy reading. Would you like more like this, or should I look for a different book?]");
  // A Search keeps only its sentences with a content word.
  EXPECT_EQ(rw->rewrite(hand_candidate(agent::ActionType::search,
                                       "Thanks, but that isn't the one. Dragons and old maps. Could you recommend me a good book?",
                                       2, 1, 1))
                .refinement,
            "Search[Dragons and old maps.]");
  EXPECT_TRUE(rw->heuristic());
  EXPECT_EQ(rw->label(), "heuristic");
}

TEST(HeuristicRewriter, DeductionsComeFromThePartsOrTheReason) {
  sim::EcScore e;
  e.flexibility = 1;
  e.coherence = 2;
  e.guidance = 0;
  e.score = 3;
  Deductions d = ec_deductions(e);
  EXPECT_EQ(d.flexibility, 1);
  EXPECT_EQ(d.coherence, 0);
  EXPECT_EQ(d.guidance, 1);
  e.score = 4;  // parts disagree with the score: read the reason
  e.consistent = false;
  e.reason = "The reply is off-topic and loses context (coherence -1).";
  d = ec_deductions(e);
  EXPECT_EQ(d.coherence, 1);
  EXPECT_EQ(d.flexibility, 0);
  EXPECT_EQ(d.guidance, 0);
}

}  // namespace
}  // namespace ecpo::pref
