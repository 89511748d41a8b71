// A person as the user: the human user over streams inside a real episode (scores, skips, /end), and
// `ecpo chat` with piped input storing the conversation like a simulated one.
#include <gtest/gtest.h>

#include <sstream>

#include "agent/agent.h"
#include "data/records-io.h"
#include "episode/runner.h"
#include "episode/sample-fixture.h"
#include "retrieval/index.h"
#include "sim/catalog.h"
#include "sim/human-user.h"

namespace ecpo::episode {
namespace {

TEST(HumanUser, ScoresSkipsAndEnds) {
  const auto& s = test::book_sample();
  sim::ItemCatalog catalog = sim::ItemCatalog::load(s.tasks / "items.jsonl");
  auto retriever = retrieval::open_retriever(s.index);
  agent::AgentDeps deps;
  deps.domain = "book";
  deps.retriever = retriever.get();
  deps.catalog = &catalog;
  auto rule = agent::make_agent("rule", deps);
  std::istringstream in("hello there\n7\n3\ntoo vague\nmysteries please\n\n/end bye\n");
  std::ostringstream out;
  auto user = sim::make_human_user(in, out, true);
  auto tasks = data::read_tasks(s.tasks / "tasks_test.jsonl");
  EpisodeSetup setup;
  setup.episode_id = "chat-0";
  setup.task = tasks[0];
  setup.target = catalog.at(tasks[0].target_item_id);
  setup.agent_kind = "rule";
  setup.user_kind = "human";
  EpisodeRecord e = run_episode(setup, *rule, *user);
  ASSERT_FALSE(e.failed) << e.error;
  ASSERT_EQ(e.turns.size(), 2u);
  ASSERT_TRUE(e.turns[0].ec);
  EXPECT_EQ(e.turns[0].ec->score, 3);  // "7" was refused, "3" taken
  EXPECT_EQ(e.turns[0].ec->reason, "too vague");
  EXPECT_EQ(e.turns[0].ec->rater, "human");
  EXPECT_TRUE(to_json(e.turns[0])["ec"]["flexibility"].is_null());
  EXPECT_FALSE(e.turns[1].ec);  // skipped
  EXPECT_EQ(e.turns[1].user_utterance, "mysteries please");
  EXPECT_EQ(e.end["utterance"], "bye");
  EXPECT_NE(out.str().find("a score is one digit"), std::string::npos);
}

TEST(ChatCli, PipedConversationIsStoredLikeASimulatedOne) {
  const auto& s = test::book_sample();
  test::TempDir tmp;
  auto tasks = data::read_tasks(s.tasks / "tasks_test.jsonl");
  auto r = test::run_shell("printf 'hi\\n5\\nnice\\nprogramming\\n\\n/end\\n' | " + std::string(ECPO_BIN) +
                           " chat --agent rule --task '" + tasks[0].task_id + "' --tasks " + s.tasks.string() +
                           " --index " + s.index.string() + " --out " + (tmp / "chat").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("agent> What kind of book"), std::string::npos) << r.out;
  auto rows = test::jsonl_rows(tmp / "chat" / "trajectories.jsonl");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["user"], "human");
  EXPECT_EQ(rows[0]["task_id"], tasks[0].task_id);
  EXPECT_EQ(rows[0]["turns"][0]["ec"]["score"], 5);
  EXPECT_FALSE(rows[0]["turns"][0]["agent_state"]["messages"].empty());
}

}  // namespace
}  // namespace ecpo::episode
