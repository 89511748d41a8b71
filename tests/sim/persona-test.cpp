// Personas: the record format, offline rules, the persona role against the fake server, the resumable
// batch builder, and ROUGE-L diversity against hand-computed values.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "util/error.h"
#include "sim/persona-build.h"
#include "sim/persona.h"
#include "sim/rouge.h"
#include "sim/sim-test-util.h"

namespace ecpo::sim {
namespace {

TEST(Persona, JsonRoundTripAndValidation) {
  Persona p = test::test_persona("u1");
  p.raw = {{"k", 1}};
  auto j = to_json(p);
  for (const char* k : {"user_id", "activities", "interests", "language", "orientations", "interaction_type", "raw", "source"})
    EXPECT_TRUE(j.contains(k)) << k;
  Persona q = persona_from_json(j, "test");
  EXPECT_EQ(q.language.tone, "TONE-MARKER");
  EXPECT_EQ(q.source, "llm");
  j["interaction_type"] = "Exploration-Oriented";
  EXPECT_EQ(persona_from_json(j, "test").interaction_type, "exploration");
  j["interaction_type"] = "chaotic";
  EXPECT_THROW(persona_from_json(j, "test"), Error);
  j.erase("language");
  EXPECT_THROW(persona_from_json(j, "test"), Error);
}

TEST(Persona, OfflineRulesFillAllFourDimensions) {
  const auto& env = test::sim_env();
  std::set<std::string> types;
  for (const auto& u : env.users) {
    Persona p = build_persona_offline(u, *env.catalog, "book");
    EXPECT_EQ(p.source, "heuristic");
    EXPECT_FALSE(p.activities.empty());
    EXPECT_FALSE(p.interests.empty());
    EXPECT_FALSE(p.language.information_density.empty());
    EXPECT_FALSE(p.language.tone.empty());
    EXPECT_FALSE(p.orientations.empty());
    EXPECT_EQ(p.raw["reviews"], u.reviews.size());
    types.insert(p.interaction_type);
  }
  EXPECT_GE(types.size(), 2u) << "the sample's users should not all share one interaction type";
}

TEST(Persona, LlmRoleSeesTheReviewsAndLabelsTheSource) {
  const auto& env = test::sim_env();
  nlohmann::json r{{"activities", "Detail-Oriented: asks a lot"},
                   {"interests", "mysteries"},
                   {"language", {{"information_density", "high"}, {"expression_style", "vivid"}, {"tone", "warm"}}},
                   {"orientations", "values the writing"},
                   {"interaction_type", "detail"}};
  auto server = test::scripted_server({r.dump()});
  auto roles = test::fake_roles(server->base_url(), nullptr);
  const data::User& u = env.users.front();
  Persona p = build_persona_llm(*roles->model("persona"), roles->spec("persona").params, u, *env.catalog, "book");
  EXPECT_EQ(p.source, "llm");
  EXPECT_EQ(p.user_id, u.user_id);
  EXPECT_EQ(p.interaction_type, "detail");
  EXPECT_EQ(p.raw["interests"], "mysteries");
  std::string history = render_review_history(u, *env.catalog, 3000);
  EXPECT_NE(history.find(u.reviews.back().text.substr(0, 20)), std::string::npos);  // newest review first
  EXPECT_LE(render_review_history(u, *env.catalog, 50).size(), 200u);              // the token budget holds
}

TEST(PersonaBuild, OfflineBuildResumesAndDoesNothingWhenDone) {
  const auto& s = test::book_sample();
  test::TempDir tmp;
  PersonaBuildOptions o;
  o.tasks = s.tasks;
  o.out = tmp / "personas.jsonl";
  o.offline = true;
  o.limit = 6;
  // A killed run left two personas and half a line.
  const auto& env = test::sim_env();
  {
    std::ofstream f(o.out.string() + ".partial");
    for (int i = 0; i < 2; ++i) f << to_json(build_persona_offline(env.users[i], *env.catalog, "book")).dump() << "\n";
    f << "{\"user_id\": \"cut";
  }
  auto r = build_personas(o, nullptr);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.kept, 2u);
  EXPECT_EQ(r.built, 4u);
  auto rows = test::jsonl_rows(o.out);
  ASSERT_EQ(rows.size(), 6u);
  for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i]["user_id"], env.users[i].user_id);  // user order
  EXPECT_FALSE(std::filesystem::exists(o.out.string() + ".partial"));
  auto again = build_personas(o, nullptr);
  EXPECT_EQ(again.built, 0u);
  EXPECT_EQ(again.kept, 6u);
  // Without --offline the persona role is required.
  o.offline = false;
  EXPECT_THROW(build_personas(o, nullptr), Error);
}

TEST(Rouge, HandComputed) {
  // LCS("the cat sat on the mat", "the cat is on the mat") = 5 → P = R = 5/6 → F = 5/6.
  EXPECT_NEAR(rouge_l_f(rouge_tokens("The cat sat on the mat."), rouge_tokens("the cat is on the mat")), 5.0 / 6.0, 1e-12);
  // LCS("a b c d", "a c") = 2: P = 2/4, R = 2/2 → F = 2·0.5·1 / 1.5 = 2/3.
  EXPECT_NEAR(rouge_l_f({"a", "b", "c", "d"}, {"a", "c"}), 2.0 / 3.0, 1e-12);
  EXPECT_EQ(rouge_l_f({}, {"a"}), 0.0);
  EXPECT_EQ(rouge_tokens("Hello, World-2!"), (std::vector<std::string>{"hello", "world", "2"}));
  auto m = max_rouge_l({"a b c d", "a c", "x y"});
  ASSERT_EQ(m.size(), 3u);
  EXPECT_NEAR(m[0], 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(m[1], 2.0 / 3.0, 1e-12);
  EXPECT_EQ(m[2], 0.0);
}

}  // namespace
}  // namespace ecpo::sim
