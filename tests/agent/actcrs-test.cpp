// ActCRS and ReAct against the fake OpenAI server: one call per action (D1), the ']' stop (D14), one
// re-ask then "Sorry, System Error", the search chain limit, labelled observations (D5), and the rule
// agent recording byte-identical ActCRS messages (D13).
#include <gtest/gtest.h>

#include <set>

#include "agent/actcrs-prompt.h"
#include "agent/agent-test-util.h"
#include "util/text.h"

namespace ecpo::agent {
namespace {

using test::agent_env;
using test::fake_server;

AgentDeps llm_deps(const test::AgentEnv& env, const llm::FakeServer& server, llm::RoleSet& roles) {
  AgentDeps d = env.deps();
  d.model = roles.model("agent");
  d.params = roles.spec("agent").params;
  return d;
}

sim::Dialogue opening(const std::string& text) { return {{"user", text, "ask_for_recommendation"}}; }

TEST(ActCrs, OneCallPerActionSearchThenRecommend) {
  auto env = agent_env();
  auto server = fake_server({"Search[gardening compost]", "Recommend[Try \"Samuel's Garden Year\".]"});
  auto sink = std::make_shared<llm::MemoryCallSink>();
  auto roles = test::fake_roles(server->base_url(), sink);
  auto agent = make_agent("actcrs", llm_deps(env, *server, *roles));
  AgentTurn t = agent->act(opening("I want a gardening book."));
  ASSERT_EQ(t.steps.size(), 2u);
  EXPECT_EQ(server->stats().chat_requests, 2u);
  EXPECT_EQ(sink->size(), 2u);
  EXPECT_FALSE(t.failed);
  EXPECT_EQ(t.act, "recommend");
  EXPECT_EQ(t.reply, "Try \"Samuel's Garden Year\".");
  EXPECT_EQ(t.steps[0].action->type, ActionType::search);
  EXPECT_EQ(t.steps[0].query, "gardening compost");
  EXPECT_EQ(t.steps[0].retrieved.size(), 5u);
  // The first prompt ends with the user's observation and "Action 1:"; the second shows the results as an
  // observation of their own.
  const std::string& p0 = t.steps[0].messages.back().content;
  EXPECT_TRUE(ends_with(p0, "Observation 1: [User] I want a gardening book.\nAction 1:")) << p0;
  const std::string& p1 = t.steps[1].messages.back().content;
  EXPECT_NE(p1.find("Action 1: Search[gardening compost]\nObservation 2: [Search results]\n1. "), std::string::npos) << p1;
  EXPECT_TRUE(ends_with(p1, "Action 2:"));
  EXPECT_EQ(t.steps[1].messages.front().role, "system");
}

TEST(ActCrs, StopOnBracketAtEndOfLineKeepsTitlesWithBrackets) {
  auto env = agent_env();
  // The fake server applies the request's stop sequences: "]\n" cuts after the title's own brackets only.
  auto server = fake_server({"Recommend[Dune [Book 1]]\nObservation 2: [User] thanks"});
  auto roles = test::fake_roles(server->base_url(), nullptr);
  auto agent = make_agent("actcrs", llm_deps(env, *server, *roles));
  AgentTurn t = agent->act(opening("hi"));
  ASSERT_EQ(t.steps.size(), 1u);
  EXPECT_EQ(t.steps[0].output, "Recommend[Dune [Book 1]]");
  EXPECT_EQ(t.reply, "Dune [Book 1]");
}

TEST(ActCrs, UnparsableOutputIsReaskedOnceThenTheTurnFails) {
  auto env = agent_env();
  auto server = fake_server({"I would recommend Dune.", "Ask[Which genre do you like?]", "Sure!", "Still no action",
                             "Ask[Anything else?]"});
  auto roles = test::fake_roles(server->base_url(), nullptr);
  auto agent = make_agent("actcrs", llm_deps(env, *server, *roles));
  AgentTurn t1 = agent->act(opening("hello"));
  ASSERT_EQ(t1.steps.size(), 2u);
  EXPECT_FALSE(t1.steps[0].valid);
  EXPECT_FALSE(t1.steps[0].parse_error.empty());
  EXPECT_TRUE(t1.steps[1].valid);
  // The re-ask shows the bad output and the correction after the original prompt.
  ASSERT_EQ(t1.steps[1].messages.size(), 4u);
  EXPECT_EQ(t1.steps[1].messages[2].role, "assistant");
  EXPECT_EQ(t1.steps[1].messages[2].content, "I would recommend Dune.");
  EXPECT_NE(t1.steps[1].messages[3].content.find("not a valid action"), std::string::npos);
  EXPECT_EQ(t1.reply, "Which genre do you like?");
  EXPECT_EQ(t1.act, "ask");

  sim::Dialogue d = opening("hello");
  d.push_back({"assistant", t1.reply, t1.act});
  d.push_back({"user", "mysteries", "respond_to_clarification"});
  AgentTurn t2 = agent->act(d);
  ASSERT_EQ(t2.steps.size(), 2u);
  EXPECT_TRUE(t2.failed);
  EXPECT_EQ(t2.reply, kSystemErrorReply);
  EXPECT_EQ(t2.act, "error");
  // The next turn's prompt carries the invalid-action note as a labelled observation.
  d.push_back({"assistant", t2.reply, t2.act});
  d.push_back({"user", "hello?", "respond_to_clarification"});
  AgentTurn t3 = agent->act(d);
  const std::string& p = t3.steps[0].messages.back().content;
  EXPECT_NE(p.find("Observation 2: [User] mysteries\nAction 2: Still no action\nObservation 3: [System] Invalid action"),
            std::string::npos)
      << p;
  EXPECT_TRUE(ends_with(p, "Observation 4: [User] hello?\nAction 4:")) << p;
}

TEST(ActCrs, AtMostThreeFurtherActionsAfterASearch) {
  auto env = agent_env();
  auto server = fake_server({"Search[a]", "Search[b]", "Search[c]", "Search[d]", "Ask[unused]"});
  auto roles = test::fake_roles(server->base_url(), nullptr);
  auto agent = make_agent("actcrs", llm_deps(env, *server, *roles));
  AgentTurn t = agent->act(opening("books about gardening"));
  EXPECT_EQ(t.steps.size(), 4u);
  EXPECT_TRUE(t.failed);
  EXPECT_EQ(t.reply, kSystemErrorReply);
  EXPECT_EQ(server->stats().chat_requests, 4u);
  // Every search was executed and is an observation of its own (D5).
  const std::string& last = t.steps[3].messages.back().content;
  for (int n : {2, 3, 4}) EXPECT_NE(last.find("Observation " + std::to_string(n) + ": [Search results]"), std::string::npos);
}

TEST(ActCrs, ModelFailureThrowsChatError) {
  auto env = agent_env();
  llm::FakeServerOptions o;
  o.fault_rate = 1.0;
  o.faults = {llm::FakeFault::server_error};
  llm::FakeServer server(o);
  server.start();
  auto roles = test::fake_roles(server.base_url(), nullptr);
  auto agent = make_agent("actcrs", llm_deps(env, server, *roles));
  EXPECT_THROW(agent->act(opening("hi")), llm::ChatError);
}

TEST(React, ThoughtAndActionInOneCall) {
  auto env = agent_env();
  auto server = fake_server({"I should ask first.\nAction 1: Ask[What do you like to read?]"});
  auto roles = test::fake_roles(server->base_url(), nullptr);
  auto agent = make_agent("react", llm_deps(env, *server, *roles));
  AgentTurn t = agent->act(opening("hi"));
  ASSERT_EQ(t.steps.size(), 1u);
  EXPECT_EQ(server->stats().chat_requests, 1u);
  EXPECT_EQ(t.steps[0].extra["thought"], "I should ask first.");
  EXPECT_EQ(t.reply, "What do you like to read?");
  EXPECT_TRUE(ends_with(t.steps[0].messages.back().content, "Observation 1: [User] hi\nThought 1:"));
}

TEST(RuleAgent, RecordsTheActCrsPromptsAnActCrsAgentWouldSee) {
  auto env = agent_env();
  auto rule = make_agent("rule", env.deps());
  sim::Dialogue d = opening("Hi! I'd love a book recommendation.");
  AgentTurn r1 = rule->act(d);
  d.push_back({"assistant", r1.reply, r1.act});
  d.push_back({"user", "I'm in the mood for something in Gardening & Landscape Design.", "respond_to_clarification"});
  AgentTurn r2 = rule->act(d);
  ASSERT_EQ(r1.steps.size(), 1u);
  ASSERT_EQ(r2.steps.size(), 2u);
  EXPECT_EQ(r2.steps[0].action->type, ActionType::search);
  EXPECT_EQ(r2.steps[1].action->type, ActionType::recommend);
  // An ActCRS agent whose model answers exactly the rule agent's outputs sees byte-identical messages.
  std::vector<nlohmann::json> outputs;
  for (const auto* t : {&r1, &r2})
    for (const auto& s : t->steps) outputs.push_back(s.output);
  auto server = fake_server(outputs);
  auto roles = test::fake_roles(server->base_url(), nullptr);
  auto act = make_agent("actcrs", llm_deps(env, *server, *roles));
  sim::Dialogue d2 = opening("Hi! I'd love a book recommendation.");
  AgentTurn a1 = act->act(d2);
  d2.push_back({"assistant", a1.reply, a1.act});
  d2.push_back(d.back());
  AgentTurn a2 = act->act(d2);
  ASSERT_EQ(a2.steps.size(), 2u);
  std::vector<const AgentStep*> rs{&r1.steps[0], &r2.steps[0], &r2.steps[1]};
  std::vector<const AgentStep*> as{&a1.steps[0], &a2.steps[0], &a2.steps[1]};
  for (std::size_t i = 0; i < rs.size(); ++i) {
    ASSERT_EQ(rs[i]->messages.size(), as[i]->messages.size());
    for (std::size_t m = 0; m < rs[i]->messages.size(); ++m) {
      EXPECT_EQ(rs[i]->messages[m].role, as[i]->messages[m].role);
      EXPECT_EQ(rs[i]->messages[m].content, as[i]->messages[m].content) << "step " << i;
    }
    EXPECT_EQ(rs[i]->output, as[i]->output);
  }
  // And they are the library renderer's messages (the SGPT row prompt).
  Scratchpad pad;
  pad.add_user("Hi! I'd love a book recommendation.");
  ActPromptOptions po;
  auto msgs = render_actcrs_messages(pad, po);
  EXPECT_EQ(msgs.back().content, r1.steps[0].messages.back().content);
}

TEST(RuleAgent, NeverRepeatsARecommendation) {
  auto env = agent_env();
  auto rule = make_agent("rule", env.deps());
  sim::Dialogue d = opening("hello");
  std::set<std::string> seen;
  AgentTurn t = rule->act(d);
  for (int i = 0; i < 4; ++i) {
    d.push_back({"assistant", t.reply, t.act});
    d.push_back({"user", "Something about gardening, soil and compost.", "provide_feedback_on_recommendation"});
    t = rule->act(d);
    if (t.act == "recommend") {
      EXPECT_TRUE(seen.insert(t.reply).second) << t.reply;
    }
  }
}

}  // namespace
}  // namespace ecpo::agent
