// ChatRec and MACRS against the fake server: what each call sees, how many calls a turn costs, and how a
// free-text reply is classified for the user and for SR.
#include <gtest/gtest.h>

#include "agent/agent-test-util.h"

namespace ecpo::agent {
namespace {

TEST(ChatRec, RetrievesWithTheWholeDialogueThenOneGeneration) {
  auto env = test::agent_env();
  const auto& items = env.catalog->items();
  std::string title = items.front().title;
  auto server = test::fake_server({"You might enjoy " + title + "."});
  auto roles = test::fake_roles(server->base_url(), nullptr);
  AgentDeps d = env.deps();
  d.model = roles->model("agent");
  auto agent = make_agent("chatrec", d);
  sim::Dialogue dlg{{"user", "I want a book about gardening", "ask_for_recommendation"},
                    {"assistant", "What kind?", "ask"},
                    {"user", "compost and soil", "respond_to_clarification"}};
  AgentTurn t = agent->act(dlg);
  ASSERT_EQ(t.steps.size(), 1u);
  EXPECT_EQ(server->stats().chat_requests, 1u);
  EXPECT_EQ(t.steps[0].query, "I want a book about gardening What kind? compost and soil");
  EXPECT_EQ(t.steps[0].retrieved.size(), 5u);
  const std::string& prompt = t.steps[0].messages.back().content;
  EXPECT_NE(prompt.find("1. "), std::string::npos);
  EXPECT_NE(prompt.find("User: compost and soil"), std::string::npos);
  EXPECT_EQ(t.reply, "You might enjoy " + title + ".");
  // It names a candidate only if the title was retrieved; otherwise it reads as a plain response.
  bool retrieved = false;
  for (const auto& id : t.steps[0].retrieved) retrieved = retrieved || id == items.front().item_id;
  EXPECT_EQ(t.act, retrieved ? "recommend" : "response");
}

TEST(ClassifyReply, RecommendAskResponse) {
  EXPECT_EQ(classify_reply("Try The Silent Garden!", {"The Silent Garden"}), "recommend");
  EXPECT_EQ(classify_reply("Which genre do you like?", {"The Silent Garden"}), "ask");
  EXPECT_EQ(classify_reply("Great choice.", {"The Silent Garden"}), "response");
}

TEST(Macrs, ReflectPlanThenOnlyTheChosenResponder) {
  auto env = test::agent_env();
  // Turn 1: info reflection, planner (ASKING), asking agent = 3 calls.
  // Turn 2: info reflection, strategy reflection, planner (RECOMMENDING), query, recommender = 5 calls.
  auto server = test::fake_server({R"({"profile":"wants a book"})", R"({"reason":"know little","act":"ASKING"})",
                                   "What genre do you enjoy?", R"({"profile":"likes gardening"})",
                                   R"({"asking":"a","recommending":"b","chit_chat":"c"})",
                                   R"({"reason":"enough","act":"RECOMMENDING"})", R"({"query":"gardening compost"})",
                                   "I recommend a gardening book."});
  auto roles = test::fake_roles(server->base_url(), nullptr);
  AgentDeps d = env.deps();
  d.model = roles->model("agent");
  auto agent = make_agent("macrs", d);
  sim::Dialogue dlg{{"user", "hello", "ask_for_recommendation"}};
  AgentTurn t1 = agent->act(dlg);
  ASSERT_EQ(t1.steps.size(), 3u);
  EXPECT_EQ(t1.act, "ask");
  EXPECT_EQ(t1.reply, "What genre do you enjoy?");
  dlg.push_back({"assistant", t1.reply, t1.act});
  dlg.push_back({"user", "gardening", "respond_to_clarification"});
  AgentTurn t2 = agent->act(dlg);
  ASSERT_EQ(t2.steps.size(), 5u);
  EXPECT_EQ(t2.steps[1].kind, "reflect_strategy");
  EXPECT_EQ(t2.steps[3].kind, "query");
  EXPECT_EQ(t2.steps[3].query, "gardening compost");
  EXPECT_EQ(t2.act, "recommend");
  // The profile from the info reflection reaches the planner.
  EXPECT_NE(t2.steps[2].messages.back().content.find("likes gardening"), std::string::npos);
  EXPECT_EQ(server->stats().chat_requests, 8u);
}

}  // namespace
}  // namespace ecpo::agent
