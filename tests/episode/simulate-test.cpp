// ecpo simulate end to end: offline on the bundled sample (rule × agenda), deterministic across
// concurrency; kill -9 in the middle then --resume gives the same episodes and metrics; the bad-input
// paths; actcrs × ailo against the fake server (calls per turn, call ids, failures recorded).
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "episode/sample-fixture.h"
#include "episode/simulate.h"
#include "llm/fake-server.h"
#include "util/fs.h"

namespace ecpo::episode {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

SimulateOptions offline(const fs::path& out) {
  const auto& s = test::book_sample();
  SimulateOptions o;
  o.tasks = s.tasks;
  o.index = s.index;
  o.agent = "rule";
  o.user = "agenda";
  o.out = out;
  o.concurrency = 4;
  return o;
}

// Trajectories without the call ids (their numbering follows the order episodes were stored).
std::vector<json> without_call_ids(std::vector<json> rows) {
  for (auto& e : rows) {
    for (auto& t : e["turns"]) t.erase("calls");
    if (e["end"].is_object()) e["end"].erase("calls");
  }
  return rows;
}

TEST(Simulate, OfflineRuleAgendaOnTheBundledSample) {
  test::TempDir tmp;
  SimulateSummary s = simulate(offline(tmp / "run"));
  const RunMetrics& m = s.metrics;
  EXPECT_EQ(m.episodes, 32u);  // every test task of the sample
  EXPECT_EQ(m.failed, 0u);
  // A meaningful, non-trivial success rate: the agenda reveals attributes, the rule agent searches them.
  EXPECT_GT(m.sr, 0.5);
  EXPECT_LT(m.turns_to_success, 5.0);
  EXPECT_GT(m.turns_to_success, 1.0);  // never on the first turn: the rule agent asks first
  EXPECT_GE(m.recall, m.sr - 1e-9);
  EXPECT_EQ(m.calls, 0u);
  EXPECT_EQ(m.invalid_action_rate, 0.0);
  EXPECT_EQ(m.ec_raters, std::vector<std::string>{"heuristic"});
  auto rows = test::jsonl_rows(tmp / "run" / "trajectories.jsonl");
  ASSERT_EQ(rows.size(), 32u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& e = rows[i];
    EXPECT_EQ(e["task_index"], i);
    for (const char* k : {"episode_id", "task_id", "agent", "user", "turns", "success", "success_substring", "recall",
                          "failed", "error"})
      EXPECT_TRUE(e.contains(k)) << k;
    for (const auto& t : e["turns"]) {
      for (const char* k : {"index", "agent_state", "agent_output", "action", "retrieved", "user", "ec", "calls", "steps"})
        EXPECT_TRUE(t.contains(k)) << k;
      EXPECT_EQ(t["ec"]["rater"], "heuristic");  // every agent turn rated, the last one too (D6)
      EXPECT_EQ(t["agent_state"]["messages"], t["steps"].back()["agent_state"]["messages"]);
    }
  }
  auto metrics = read_json_file(tmp / "run" / "metrics.json");
  EXPECT_EQ(metrics["episodes"], 32);
  EXPECT_EQ(metrics["ec_hist"].size(), 6u);
  EXPECT_TRUE(fs::exists(tmp / "run" / "config.yaml"));
  // Same episodes with one thread.
  auto o1 = offline(tmp / "run1");
  o1.concurrency = 1;
  simulate(o1);
  EXPECT_EQ(rows, test::jsonl_rows(tmp / "run1" / "trajectories.jsonl"));
  // sim.final_rating=false reproduces the paper: the last reply of a 5-turn episode is unrated.
  auto o2 = offline(tmp / "run2");
  o2.overrides = {"sim.final_rating=false"};
  o2.turns = 1;
  auto s2 = simulate(o2);
  EXPECT_EQ(s2.metrics.rated_turns, 0u);
}

TEST(Simulate, KillDashNineThenResumeGivesTheSameRun) {
  const auto& s = test::book_sample();
  test::TempDir tmp;
  std::string common = "--no-progress simulate --tasks " + s.tasks.string() + " --index " + s.index.string() +
                       " --agent rule --user agenda --concurrency 4 --out ";
  auto full = test::run_ecpo(common + (tmp / "full").string());
  ASSERT_EQ(full.exit_code, 0) << full.out;
  // SIGKILL after 9 stored episodes, with others in flight.
  auto killed = test::run_shell("ECPO_TEST_KILL_AFTER_EPISODES=9 " + std::string(ECPO_BIN) + " " + common +
                               (tmp / "part").string() + " ; echo rc=$?");
  ASSERT_NE(killed.out.find("rc=137"), std::string::npos) << killed.out;  // 128 + SIGKILL
  // Nothing was exported by the killed run.
  EXPECT_FALSE(fs::exists(tmp / "part" / "trajectories.jsonl"));
  auto again = test::run_ecpo(common + (tmp / "part").string());
  EXPECT_NE(again.exit_code, 0);
  EXPECT_NE(again.out.find("--resume"), std::string::npos) << again.out;
  auto resumed = test::run_ecpo(common + (tmp / "part").string() + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
  // At least the 9 stored before the kill (another thread may have stored one more in between), not all.
  std::size_t kept = 0, now = 0;
  auto at = resumed.out.find("resumed: ");
  ASSERT_NE(at, std::string::npos) << resumed.out;
  ASSERT_EQ(std::sscanf(resumed.out.c_str() + at, "resumed: %zu episodes kept from before, %zu run now", &kept, &now), 2);
  EXPECT_GE(kept, 9u);
  EXPECT_LT(kept, 32u);
  EXPECT_EQ(kept + now, 32u);
  EXPECT_EQ(read_file(tmp / "full" / "trajectories.jsonl"), read_file(tmp / "part" / "trajectories.jsonl"));
  EXPECT_EQ(read_file(tmp / "full" / "metrics.json"), read_file(tmp / "part" / "metrics.json"));
  // A resume with other settings is refused.
  auto other = test::run_ecpo(common + (tmp / "part").string() + " --resume --turns 3");
  EXPECT_NE(other.exit_code, 0);
  EXPECT_NE(other.out.find("different settings (turns)"), std::string::npos) << other.out;
}

TEST(Simulate, BadInputIsOneLineBeforeAnyCall) {
  const auto& s = test::book_sample();
  test::TempDir tmp;
  auto expect_error = [&](SimulateOptions o, const std::string& expect) {
    try {
      simulate(o);
      ADD_FAILURE() << "no error; expected: " << expect;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(expect), std::string::npos) << e.what();
      EXPECT_FALSE(e.hint().empty()) << e.what();
    }
  };
  auto o = offline(tmp / "r");
  auto c = o;
  c.agent = "gpt";
  expect_error(c, "unknown agent 'gpt'");
  c = o;
  c.user = "robot";
  expect_error(c, "unknown user 'robot'");
  c = o;
  c.index = tmp / "nope";
  expect_error(c, "ecpo index build");
  c = o;
  c.personas = tmp / "p.jsonl";
  expect_error(c, "personas file not found");
  c = o;
  c.agent = "actcrs";
  c.roles = test::write_text(tmp / "roles.yaml", "roles:\n  judge: {base_url: http://127.0.0.1:9/v1, model: m}\n");
  expect_error(c, "no role 'agent'");
  c = o;
  c.overrides = {"agent.prompt=two-shot"};
  expect_error(c, "unknown agent.prompt");
  c = o;
  c.overrides = {"sim.colour=red"};
  expect_error(c, "unknown setting 'sim.colour'");
  // Tasks and an index from a different item database.
  test::Sample other = test::build_sample(tmp / "other", "book", 25, 3);
  c = o;
  c.index = other.index;
  expect_error(c, "different item databases");
  EXPECT_FALSE(std::filesystem::exists(tmp / "r" / "run.db"));  // nothing was started
  // The CLI prints one line and exits 1.
  auto r = test::run_ecpo("--no-progress simulate --tasks " + s.tasks.string() + " --index " + s.index.string() +
                          " --agent rule --user robot --out " + (tmp / "r").string());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.out, "error: --user: unknown user 'robot' (hint: use ailo, ailo-fused, ievalm or agenda)\n");
}

// --- against the fake server ---

llm::FakeServerOptions ailo_script() {
  llm::FakeServerOptions o;
  o.threads = 64;
  auto rule = [](const char* m, json reply) { return llm::FakeScript::Rule{m, std::move(reply)}; };
  json resp{{"reason", "r"}, {"response", "Something cozy, please."}};
  o.script.rules = {
      rule("choose one policy", json{{"reason", "asked"}, {"policy", "respond_to_clarification"}}.dump()),
      rule("expectation confirmation",
           json{{"reason", "no guidance"}, {"flexibility", 2}, {"coherence", 2}, {"guidance", 0}, {"score", 4}}.dump()),
      rule("start the conversation", json{{"reason", "r"}, {"response", "Hi, any book tips?"}}.dump()),
      rule("answer it", resp.dump()),
      rule("observations and your actions", "Ask[What else do you like?]"),
  };
  return o;
}

std::string write_roles(const fs::path& dir, const std::string& url, bool cache) {
  std::string yaml = test::fake_roles_yaml(url);
  if (cache) yaml.replace(yaml.find("cache: {enabled: false}"), 23, "cache: {enabled: true, path: " + (dir / "cache.sqlite").string() + "}");
  return test::write_text(dir / "roles.yaml", yaml).string();
}

TEST(Simulate, ActCrsAiloAgainstTheFakeServer) {
  llm::FakeServer server(ailo_script());
  server.start();
  test::TempDir tmp;
  auto o = offline(tmp / "run");
  o.agent = "actcrs";
  o.user = "ailo";
  o.limit = 6;
  o.roles = write_roles(tmp.path(), server.base_url(), false);
  SimulateSummary s = simulate(o);
  const RunMetrics& m = s.metrics;
  EXPECT_EQ(m.episodes, 6u);
  EXPECT_EQ(m.failed, 0u);
  // Per episode: opener 1 + 5 agent actions + 4 × (EC, policy, utterance) + the final EC = 19 over 5 turns.
  EXPECT_EQ(m.calls, 6u * 19u);
  EXPECT_DOUBLE_EQ(m.calls_per_turn, 19.0 / 5.0);
  EXPECT_DOUBLE_EQ(m.ec_mean, 4.0);
  EXPECT_EQ(m.invalid_action_rate, 0.0);
  EXPECT_EQ(m.sr, 0.0);  // it only ever asks
  // The call ids of each turn point at rows of llm_calls tagged with that episode and turn.
  auto rows = test::jsonl_rows(tmp / "run" / "trajectories.jsonl");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((tmp / "run" / "run.db").string().c_str(), &db), SQLITE_OK);
  std::size_t linked = 0;
  for (const auto& e : rows)
    for (const auto& t : e["turns"])
      for (const auto& id : t["calls"]) {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db, "SELECT episode_id, turn FROM llm_calls WHERE id = ?", -1, &st, nullptr);
        sqlite3_bind_int64(st, 1, id.get<std::int64_t>());
        ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))), e["episode_id"]);
        EXPECT_EQ(sqlite3_column_int(st, 1), t["index"].get<int>());
        sqlite3_finalize(st);
        ++linked;
      }
  sqlite3_close(db);
  EXPECT_EQ(linked, 6u * 19u);
  // The agent never sees the target: no agent prompt holds the target's title or id.
  for (const auto& e : rows)
    for (const auto& t : e["turns"])
      for (const auto& st : t["steps"])
        for (const auto& msg : st["agent_state"]["messages"])
          EXPECT_EQ(msg["content"].get<std::string>().find(e["target_item_id"].get<std::string>()), std::string::npos);
}

TEST(Simulate, FailedEpisodesAreRecordedAndTheRunGoesOn) {
  llm::FakeServerOptions so;
  so.fault_rate = 1.0;
  so.faults = {llm::FakeFault::server_error};
  llm::FakeServer server(so);
  server.start();
  test::TempDir tmp;
  auto o = offline(tmp / "run");
  o.agent = "actcrs";
  o.limit = 4;
  o.roles = write_roles(tmp.path(), server.base_url(), false);
  SimulateSummary s = simulate(o);
  EXPECT_EQ(s.metrics.episodes, 4u);
  EXPECT_EQ(s.metrics.failed, 4u);
  EXPECT_EQ(s.metrics.sr, 0.0);
  for (const auto& e : test::jsonl_rows(tmp / "run" / "trajectories.jsonl")) {
    EXPECT_TRUE(e["failed"].get<bool>());
    EXPECT_FALSE(e["error"].get<std::string>().empty());
  }
  EXPECT_EQ(s.metrics.call_failures, s.metrics.calls);  // failed calls are recorded too
}

TEST(Simulate, ResumeWithLlmRolesAndTheCacheGivesTheSameMetrics) {
  llm::FakeServerOptions so = ailo_script();
  so.latency_ms = 5;
  llm::FakeServer server(so);
  server.start();
  test::TempDir tmp;
  const auto& s = test::book_sample();
  std::string roles = write_roles(tmp.path(), server.base_url(), true);
  std::string common = "--no-progress simulate --tasks " + s.tasks.string() + " --index " + s.index.string() +
                       " --agent actcrs --user ailo --limit 10 --concurrency 4 --roles " + roles + " --out ";
  auto killed = test::run_shell("ECPO_TEST_KILL_AFTER_EPISODES=3 " + std::string(ECPO_BIN) + " " + common +
                               (tmp / "part").string() + " ; echo rc=$?");
  ASSERT_NE(killed.out.find("rc=137"), std::string::npos) << killed.out;
  auto resumed = test::run_ecpo(common + (tmp / "part").string() + " --resume");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out;
  auto full = test::run_ecpo(common + (tmp / "full").string());
  ASSERT_EQ(full.exit_code, 0) << full.out;
  EXPECT_EQ(without_call_ids(test::jsonl_rows(tmp / "full" / "trajectories.jsonl")),
            without_call_ids(test::jsonl_rows(tmp / "part" / "trajectories.jsonl")));
  json a = read_json_file(tmp / "full" / "metrics.json"), b = read_json_file(tmp / "part" / "metrics.json");
  // What was paid differs (the resumed run had more cache hits); every other metric is equal.
  for (const char* k : {"cache_hits", "cost_usd_paid"}) {
    a.erase(k);
    b.erase(k);
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(a["episodes"], 10);
}

}  // namespace
}  // namespace ecpo::episode
