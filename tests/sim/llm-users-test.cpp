// The LLM users (ailo, ailo-fused, ievalm) against the fake OpenAI server: calls per turn, what each
// prompt holds (the EC rater sees neither persona nor target), how calls are tagged to turns, leak
// regeneration and redaction (D3).
#include <gtest/gtest.h>

#include <mutex>

#include "util/error.h"
#include "llm/call-context.h"
#include "sim/sim-test-util.h"
#include "sim/title-match.h"

namespace ecpo::sim {
namespace {

// Forwards to the fake-server-backed model and keeps every prompt it was given.
class Recording : public llm::ChatModel {
 public:
  explicit Recording(std::shared_ptr<llm::ChatModel> inner) : inner_(std::move(inner)) {}
  llm::ChatResult chat(const std::vector<llm::Message>& m, const llm::ChatParams& p) override {
    {
      std::lock_guard lk(mu_);
      seen_.push_back(m.back().content);
    }
    return inner_->chat(m, p);
  }
  std::string model_name() const override { return inner_->model_name(); }
  std::vector<std::string> seen() const {
    std::lock_guard lk(mu_);
    return seen_;
  }

 private:
  std::shared_ptr<llm::ChatModel> inner_;
  mutable std::mutex mu_;
  std::vector<std::string> seen_;
};

// The fake server's sequence answers in arrival order: scripted-sequence tests run the EC call in line.
SimOptions sequential() {
  SimOptions o;
  o.parallel_ec = false;
  return o;
}

std::string reply(const std::string& text) { return nlohmann::json{{"reason", "r"}, {"response", text}}.dump(); }
std::string ec(int f, int c, int g) {
  return nlohmann::json{{"reason", "because"}, {"flexibility", f}, {"coherence", c}, {"guidance", g}, {"score", f + c + g}}
      .dump();
}
std::string policy(const std::string& p) { return nlohmann::json{{"reason", "why"}, {"policy", p}}.dump(); }

struct Env {
  std::unique_ptr<llm::FakeServer> server;
  std::shared_ptr<llm::MemoryCallSink> sink = std::make_shared<llm::MemoryCallSink>();
  std::unique_ptr<llm::RoleSet> roles;
  std::shared_ptr<Recording> user, rater;
  SimRoles sim_roles() const {
    SimRoles r;
    r.user = user;
    r.rater = rater;
    return r;
  }
};

Env make_env(const std::vector<nlohmann::json>& script) {
  Env e;
  e.server = test::scripted_server(script);
  e.roles = test::fake_roles(e.server->base_url(), e.sink);
  e.user = std::make_shared<Recording>(e.roles->model("user_sim"));
  e.rater = std::make_shared<Recording>(e.roles->model("ec_rater"));
  return e;
}

TEST(Ailo, ThreeCallsPerTurnAndWhatEachPromptHolds) {
  const auto& data = test::sim_env();
  auto view = data.view(0, test::test_persona(data.tasks[0].user_id));
  Env env = make_env({reply("Hi, something to read?"), ec(2, 1, 1), policy("respond_to_clarification"),
                      reply("Something cozy, please.")});
  llm::CallContextScope scope({"ep-1", 0, "", false});
  auto user = make_user_simulator("ailo", view, env.sim_roles(), sequential());
  UserStep open = user->open();
  EXPECT_EQ(open.utterance, "Hi, something to read?");
  Dialogue d{{"user", open.utterance, open.policy}, {"assistant", "What do you like to read?", "ask"}};
  UserStep s = user->respond(d, 0);
  ASSERT_TRUE(s.ec);
  EXPECT_EQ(s.ec->score, 4);
  EXPECT_EQ(s.ec->coherence, 1);
  EXPECT_EQ(s.ec->rater, "llm");
  EXPECT_EQ(s.policy, kPolicyClarify);
  EXPECT_EQ(s.utterance, "Something cozy, please.");
  EXPECT_EQ(env.server->stats().chat_requests, 4u);  // opener + EC + policy + utterance

  const std::string& target_desc = view.target.description;
  auto user_prompts = env.user->seen();
  auto rater_prompts = env.rater->seen();
  ASSERT_EQ(user_prompts.size(), 3u);
  ASSERT_EQ(rater_prompts.size(), 1u);
  // Opener: the target and the Language dimension, not the Activities.
  EXPECT_NE(user_prompts[0].find(target_desc), std::string::npos);
  EXPECT_NE(user_prompts[0].find("TONE-MARKER"), std::string::npos);
  EXPECT_EQ(user_prompts[0].find("ACTIVITIES-MARKER"), std::string::npos);
  // Policy: target + Activities; response (clarification): target + Language.
  EXPECT_NE(user_prompts[1].find("ACTIVITIES-MARKER"), std::string::npos);
  EXPECT_NE(user_prompts[1].find(target_desc), std::string::npos);
  EXPECT_NE(user_prompts[2].find("DENSITY-MARKER"), std::string::npos);
  // The EC rater sees the dialogue and the reply, but no persona and no target.
  const std::string& rp = rater_prompts[0];
  EXPECT_NE(rp.find("What do you like to read?"), std::string::npos);
  for (const char* m : {"ACTIVITIES-MARKER", "INTERESTS-MARKER", "DENSITY-MARKER", "STYLE-MARKER", "TONE-MARKER",
                        "ORIENTATIONS-MARKER"})
    EXPECT_EQ(rp.find(m), std::string::npos) << m;
  EXPECT_EQ(rp.find(target_desc), std::string::npos);
  EXPECT_FALSE(text_names_title(rp, view.target.title));
  // Calls tagged: opener turn 0, EC of reply 0 → turn 0, policy and utterance → turn 1.
  auto recs = env.sink->records();
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recs[0].turn, 0);
  EXPECT_EQ(recs[1].role, "ec_rater");
  EXPECT_EQ(recs[1].turn, 0);
  EXPECT_EQ(recs[2].turn, 1);
  EXPECT_EQ(recs[3].turn, 1);
  for (const auto& r : recs) EXPECT_EQ(r.episode_id, "ep-1");
}

TEST(Ailo, ExtraRatersMakeFiveCallsAndEndStops) {
  const auto& data = test::sim_env();
  auto view = data.view(1, test::test_persona(data.tasks[1].user_id));
  nlohmann::json rating{{"reason", "ok"}, {"rating", 3}};
  Env env = make_env({ec(2, 2, 1), rating.dump(), policy("end_conversation"), reply("Thanks, bye."), rating.dump()});
  SimOptions o = sequential();
  o.extra_raters = true;
  auto user = make_user_simulator("ailo", view, env.sim_roles(), o);
  Dialogue d{{"user", "hi", kPolicyAskForRecommendation}, {"assistant", "Try this one.", "recommend"}};
  UserStep s = user->respond(d, 0);
  EXPECT_EQ(env.server->stats().chat_requests, 5u);
  EXPECT_TRUE(s.end);
  EXPECT_EQ(s.ec->extra["recommendation"]["rating"], 3);
  EXPECT_EQ(s.ec->extra["policy"]["rating"], 3);
  // The end template receives the policy reason.
  EXPECT_NE(env.user->seen()[1].find("because: why"), std::string::npos);
}

TEST(Ailo, ParallelEcGivesTheSameStepWithTheSameCalls) {
  const auto& data = test::sim_env();
  auto view = data.view(0, test::test_persona(data.tasks[0].user_id));
  llm::FakeServerOptions so;
  so.latency_ms = 30;
  so.script.rules = {{"choose one policy", policy("respond_to_clarification")},
                     {"expectation confirmation", ec(1, 2, 1)},
                     {"answer it", reply("Cozy ones.")}};
  llm::FakeServer server(so);
  server.start();
  auto sink = std::make_shared<llm::MemoryCallSink>();
  auto roles = test::fake_roles(server.base_url(), sink);
  SimRoles r{roles->model("user_sim"), {}, roles->model("ec_rater"), {}};
  Dialogue d{{"user", "hi", kPolicyAskForRecommendation}, {"assistant", "What do you like?", "ask"}};
  llm::CallContextScope scope({"ep-9", 0, "", false});
  UserStep par = make_user_simulator("ailo", view, r, {})->respond(d, 0);
  UserStep seq = make_user_simulator("ailo", view, r, sequential())->respond(d, 0);
  EXPECT_EQ(par.ec->score, 4);
  EXPECT_EQ(par.ec->score, seq.ec->score);
  EXPECT_EQ(par.utterance, seq.utterance);
  EXPECT_EQ(par.policy, seq.policy);
  EXPECT_EQ(server.stats().chat_requests, 6u);
  // The EC call kept its turn and episode tags on its own thread.
  int ec_calls = 0;
  for (const auto& rec : sink->records()) {
    EXPECT_EQ(rec.episode_id, "ep-9");
    if (rec.role == "ec_rater") {
      EXPECT_EQ(rec.turn, 0);
      ++ec_calls;
    } else {
      EXPECT_EQ(rec.turn, 1);
    }
  }
  EXPECT_EQ(ec_calls, 2);
}

TEST(AiloFused, OneCallPerTurn) {
  const auto& data = test::sim_env();
  auto view = data.view(2, test::test_persona(data.tasks[2].user_id));
  nlohmann::json fused{{"ec", nlohmann::json::parse(ec(1, 2, 0))},
                       {"policy_reason", "asked"},
                       {"policy", "respond_to_clarification"},
                       {"response", "Fantasy, please."}};
  Env env = make_env({fused.dump()});
  auto user = make_user_simulator("ailo-fused", view, env.sim_roles(), {});
  Dialogue d{{"user", "hi", kPolicyAskForRecommendation}, {"assistant", "Genre?", "ask"}};
  UserStep s = user->respond(d, 0);
  EXPECT_EQ(env.server->stats().chat_requests, 1u);
  EXPECT_EQ(s.ec->score, 3);
  EXPECT_EQ(s.utterance, "Fantasy, please.");
  EXPECT_EQ(s.policy, kPolicyClarify);
}

TEST(Ailo, LeakIsRegeneratedOnceThenRedacted) {
  const auto& data = test::sim_env();
  auto view = data.view(0, test::test_persona(data.tasks[0].user_id));
  const std::string title = view.target.title;
  {  // The retry is clean: regenerated.
    Env env = make_env({reply("I want " + title + ", obviously."), reply("Something cozy.")});
    auto user = make_user_simulator("ailo", view, env.sim_roles(), {});
    UserStep s = user->open();
    EXPECT_EQ(s.utterance, "Something cozy.");
    ASSERT_EQ(s.events.size(), 1u);
    EXPECT_EQ(s.events[0]["action"], "regenerated");
    EXPECT_NE(env.user->seen()[1].find("named"), std::string::npos);  // the retry note was sent
  }
  {  // The retry leaks again: the sentence is redacted, the rest kept.
    Env env = make_env({reply("I want " + title + ". Something cozy."), reply("Just give me " + title + "! Quickly.")});
    auto user = make_user_simulator("ailo", view, env.sim_roles(), {});
    UserStep s = user->open();
    EXPECT_EQ(s.utterance, "Quickly.");
    ASSERT_EQ(s.events.size(), 1u);
    EXPECT_EQ(s.events[0]["action"], "redacted");
    EXPECT_FALSE(text_names_title(s.utterance, title));
  }
  {  // After the agent recommended the target, saying its title is no leak.
    Env env = make_env({ec(2, 2, 1), policy("end_conversation"), reply("Yes, " + title + " is it!")});
    auto user = make_user_simulator("ailo", view, env.sim_roles(), sequential());
    Dialogue d{{"user", "hi", kPolicyAskForRecommendation}, {"assistant", "I recommend " + title + ".", "recommend"}};
    UserStep s = user->respond(d, 0);
    EXPECT_TRUE(s.events.empty());
    EXPECT_EQ(s.utterance, "Yes, " + title + " is it!");
  }
}

TEST(Ievalm, AcceptsTheTargetOtherwiseDescribesIt) {
  const auto& data = test::sim_env();
  auto view = data.view(0);
  Env env = make_env({reply("Hi, I want a book."), ec(1, 1, 1), reply("No, I'd like gardening."), ec(2, 2, 1),
                      reply("Perfect, thanks!")});
  auto user = make_user_simulator("ievalm", view, env.sim_roles(), {});
  UserStep open = user->open();
  Dialogue d{{"user", open.utterance, open.policy}, {"assistant", "How about a thriller?", "ask"}};
  UserStep s = user->respond(d, 0);
  EXPECT_FALSE(s.end);
  EXPECT_NE(env.user->seen()[1].find("has not recommended"), std::string::npos);
  d.push_back({"user", s.utterance, s.policy});
  d.push_back({"assistant", "I recommend " + view.target.title + ".", "recommend"});
  UserStep s2 = user->respond(d, 1);
  EXPECT_TRUE(s2.end);
  EXPECT_EQ(s2.policy, kPolicyEnd);
  EXPECT_NE(env.user->seen()[2].find("has just recommended"), std::string::npos);
  EXPECT_EQ(env.server->stats().chat_requests, 5u);
}

TEST(LlmUsers, NeedTheirRolesAndPersona) {
  const auto& data = test::sim_env();
  EXPECT_THROW(make_user_simulator("ailo", data.view(0), {}, {}), Error);  // no persona
  EXPECT_THROW(make_user_simulator("ailo", data.view(0, test::test_persona("u")), {}, {}), Error);  // no roles
  EXPECT_THROW(make_user_simulator("nobody", data.view(0), {}, {}), Error);
}

}  // namespace
}  // namespace ecpo::sim
