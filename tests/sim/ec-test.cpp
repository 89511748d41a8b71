// EC records: the schema, the consistency check (score == 5 − deductions), the heuristic rater's rules.
#include <gtest/gtest.h>

#include "llm/structured-output.h"
#include "sim/ec.h"

namespace ecpo::sim {
namespace {

TEST(EcReply, KeepsTheRatersScoreAndFlagsAMismatch) {
  nlohmann::json ok{{"reason", "fine"}, {"flexibility", 2}, {"coherence", 1}, {"guidance", 1}, {"score", 4}};
  EXPECT_EQ(llm::validate_json(ok, ec_schema()), "");
  EcScore e = ec_from_reply(ok);
  EXPECT_EQ(e.score, 4);
  EXPECT_TRUE(e.consistent);
  nlohmann::json bad = ok;
  bad["score"] = 5;
  EcScore b = ec_from_reply(bad);
  EXPECT_EQ(b.score, 5);
  EXPECT_FALSE(b.consistent);
  std::string out = llm::validate_json(nlohmann::json{{"reason", "x"}, {"flexibility", 3}, {"coherence", 0},
                                                      {"guidance", 0}, {"score", 3}},
                                       ec_schema());
  EXPECT_NE(out, "");  // flexibility > 2 is rejected
  auto round = ec_from_json(to_json(b), "test");
  EXPECT_EQ(round.score, 5);
  EXPECT_FALSE(round.consistent);
}

TEST(EcPrompt, ShowsOnlyTheDialogueAndTheReply) {
  Dialogue before{{"user", "I want a mystery", "ask_for_recommendation"}};
  std::string p = ec_prompt("book", before, {"assistant", "Which era?", "ask"});
  EXPECT_NE(p.find("User: I want a mystery"), std::string::npos);
  EXPECT_NE(p.find("Which era?"), std::string::npos);
  EXPECT_EQ(p.find("{{"), std::string::npos);
}

TEST(HeuristicEc, Rules) {
  Dialogue d{{"user", "I'd love a book about gardening and compost", "ask_for_recommendation"}};
  // A question that picks up the user's words: full marks.
  EcScore good = rate_ec_heuristic("book", d, {"assistant", "Do you prefer gardening guides with photos?", "ask"});
  EXPECT_EQ(good.score, 5);
  EXPECT_EQ(good.rater, "heuristic");
  EXPECT_TRUE(good.consistent);
  // System error: 0.
  EXPECT_EQ(rate_ec_heuristic("book", d, {"assistant", "Sorry, System Error", "error"}).score, 0);
  // No question, no recommendation, nothing from the user's message: coherence −1, guidance −1.
  EcScore flat = rate_ec_heuristic("book", d, {"assistant", "Okay.", "response"});
  EXPECT_EQ(flat.coherence, 1);
  EXPECT_EQ(flat.guidance, 0);
  EXPECT_EQ(flat.score, 3);
  EXPECT_NE(flat.reason.find("guidance -1"), std::string::npos);
  // Repeating an earlier reply: flexibility 0.
  Dialogue r{{"user", "gardening please", "ask_for_recommendation"},
             {"assistant", "Which gardening topic do you like?", "ask"},
             {"user", "compost", "respond_to_clarification"}};
  EcScore rep = rate_ec_heuristic("book", r, {"assistant", "Which gardening topic do you like?", "ask"});
  EXPECT_EQ(rep.flexibility, 0);
  // Asking again about a topic already answered (the genre): flexibility −1, coherence −1.
  Dialogue g{{"user", "hello", "ask_for_recommendation"},
             {"assistant", "Which genre do you enjoy?", "ask"},
             {"user", "mysteries set in harbours", "respond_to_clarification"}};
  EcScore again = rate_ec_heuristic("book", g, {"assistant", "Great, harbours! What genre should it be?", "ask"});
  EXPECT_EQ(again.flexibility, 1);
  EXPECT_EQ(again.coherence, 1);
  EXPECT_EQ(again.score, 3);
}

}  // namespace
}  // namespace ecpo::sim
