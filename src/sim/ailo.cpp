// AILO (paper §2.3, docs/protocol.md §4): an opener call; then per agent reply the EC rater (blind: no
// persona, no target), the policy selector (history, reply, target, Activities), and the response for
// that policy (history, reply, target, Language; + Activities for feedback; + the policy reason to end).
// The EC call runs concurrently with policy → response (sim.parallel_ec, default on): it reads neither.
// sim.extra_raters adds the official recommendation and policy raters (5 calls a turn, as the code).
// ailo-fused makes the same decisions in one structured call per turn (that call sees the target).
// Prompts: prompts/sim/<domain>/ailo-*.txt, ec-rater.txt, rec-rater.txt, policy-rater.txt, leak-retry.txt.
#include <future>

#include <nlohmann/json.hpp>

#include "llm/call-context.h"
#include "llm/structured-output.h"
#include "sim/leak.h"
#include "sim/prompt-template.h"
#include "sim/simulators.h"
#include "util/error.h"

namespace ecpo::sim {

using nlohmann::json;

std::string target_json(const data::Item& item);  // user-sim.cpp

namespace {

const json& response_schema() {
  static const json s = json::parse(R"({"type":"object","properties":{"reason":{"type":"string"},
    "response":{"type":"string","minLength":1}},"required":["reason","response"],"additionalProperties":false})");
  return s;
}
const json& policy_schema() {
  static const json s = json::parse(R"({"type":"object","properties":{"reason":{"type":"string"},
    "policy":{"type":"string","enum":["respond_to_clarification","provide_feedback_on_recommendation","end_conversation"]}},
    "required":["reason","policy"],"additionalProperties":false})");
  return s;
}
const json& rating_schema() {
  static const json s = json::parse(R"({"type":"object","properties":{"reason":{"type":"string"},
    "rating":{"type":"integer","minimum":0,"maximum":5}},"required":["reason","rating"],"additionalProperties":false})");
  return s;
}
const json& fused_schema() {
  static const json s = [] {
    json j = json::parse(R"({"type":"object","properties":{
      "policy_reason":{"type":"string"},
      "policy":{"type":"string","enum":["respond_to_clarification","provide_feedback_on_recommendation","end_conversation"]},
      "response":{"type":"string","minLength":1}},
      "required":["ec","policy_reason","policy","response"],"additionalProperties":false})");
    j["properties"]["ec"] = ec_schema();
    return j;
  }();
  return s;
}

// A CallContextScope for `turn` that keeps the caller's episode id.
llm::CallContext at_turn(int turn) {
  llm::CallContext c = llm::current_call_context();
  c.turn = turn;
  return c;
}

std::string policy_template(const std::string& policy) {
  if (policy == kPolicyClarify) return "ailo-response-clarify";
  if (policy == kPolicyFeedback) return "ailo-response-feedback";
  return "ailo-response-end";
}

class AiloUser : public UserSimulator {
 public:
  AiloUser(TaskView task, SimRoles roles, SimOptions options, bool fused)
      : task_(std::move(task)), roles_(std::move(roles)), options_(options), fused_(fused) {
    if (!task_.persona) throw Error("the ailo user needs a persona", task_.task_id, "pass --personas or let simulate build one");
    if (!roles_.user || (!fused_ && !roles_.rater))
      throw Error("the ailo user needs the roles user_sim and ec_rater", task_.task_id, "add them to the roles file");
    target_ = target_json(task_.target);
  }

  std::string kind() const override { return fused_ ? "ailo-fused" : "ailo"; }

  UserStep open() override {
    llm::CallContextScope scope(at_turn(0));
    UserStep s;
    s.policy = kPolicyAskForRecommendation;
    std::string prompt = render_domain_prompt("sim", task_.domain, "ailo-opener", {{"target", target_}, {"language", language()}});
    auto r = ask_json(roles_.user, roles_.user_params, {{"user", prompt}}, response_schema());
    s.reason = r.value["reason"].get<std::string>();
    s.utterance = guarded({{"user", prompt}}, r, response_schema(), "response", s.events, {});
    return s;
  }

  UserStep respond(const Dialogue& dialogue, int turn) override {
    Dialogue before(dialogue.begin(), dialogue.end() - 1);
    const Utterance& reply = dialogue.back();
    UserStep s;
    if (fused_) {
      llm::CallContextScope scope(at_turn(turn));
      std::string prompt = render_domain_prompt(
          "sim", task_.domain, "ailo-fused",
          {{"history", render_dialogue(before)}, {"reply", reply.text}, {"target", target_},
           {"activities", task_.persona->activities}, {"language", language()}});
      std::vector<llm::Message> msgs{{"user", prompt}};
      auto r = ask_json(roles_.user, roles_.user_params, msgs, fused_schema());
      s.ec = ec_from_reply(r.value["ec"], "llm");
      s.policy = r.value["policy"].get<std::string>();
      s.reason = r.value["policy_reason"].get<std::string>();
      s.end = s.policy == kPolicyEnd;
      s.utterance = guarded(msgs, r, fused_schema(), "response", s.events, dialogue);
      return s;
    }
    // The EC of the reply (and the recommendation rater) need only the dialogue and the reply: with
    // parallel_ec they run on their own thread while the policy and the utterance are chosen.
    const llm::CallContext ec_ctx = at_turn(turn);
    auto rate_reply = [&, ec_ctx]() {
      llm::CallContextScope scope(ec_ctx);
      EcScore e = rate_ec_llm(*roles_.rater, roles_.rater_params, task_.domain, before, reply);
      if (options_.extra_raters) {
        std::string p = render_domain_prompt("sim", task_.domain, "rec-rater", {{"target", target_}, {"reply", reply.text}});
        e.extra["recommendation"] = ask_json(roles_.rater, roles_.rater_params, {{"user", p}}, rating_schema()).value;
      }
      return e;
    };
    std::future<EcScore> ec_future;
    if (options_.parallel_ec) ec_future = std::async(std::launch::async, rate_reply);
    else s.ec = rate_reply();
    llm::CallContextScope scope(at_turn(turn + 1));
    std::string history = render_dialogue(dialogue);
    std::string pprompt = render_domain_prompt(
        "sim", task_.domain, "ailo-policy",
        {{"history", history}, {"reply", reply.text}, {"target", target_}, {"activities", task_.persona->activities}});
    auto pol = ask_json(roles_.user, roles_.user_params, {{"user", pprompt}}, policy_schema());
    s.policy = pol.value["policy"].get<std::string>();
    s.reason = pol.value["reason"].get<std::string>();
    s.end = s.policy == kPolicyEnd;
    TemplateVars vars{{"history", history}, {"reply", reply.text}, {"target", target_}, {"language", language()}};
    if (s.policy == kPolicyFeedback) vars["activities"] = task_.persona->activities;
    if (s.policy == kPolicyEnd) vars["policy_reason"] = s.reason;
    std::string rprompt = render_domain_prompt("sim", task_.domain, policy_template(s.policy), vars);
    std::vector<llm::Message> msgs{{"user", rprompt}};
    auto r = ask_json(roles_.user, roles_.user_params, msgs, response_schema());
    s.utterance = guarded(msgs, r, response_schema(), "response", s.events, dialogue);
    if (ec_future.valid()) s.ec = ec_future.get();
    if (options_.extra_raters) {
      std::string p = render_domain_prompt("sim", task_.domain, "policy-rater",
                                           {{"target", target_}, {"history", history}, {"reply", reply.text},
                                            {"response", s.utterance}});
      auto pr = ask_json(roles_.rater, roles_.rater_params, {{"user", p}}, rating_schema());
      s.ec->extra["policy"] = pr.value;
    }
    return s;
  }

  std::optional<EcScore> rate(const Dialogue& dialogue, int turn) override {
    llm::CallContextScope scope(at_turn(turn));
    Dialogue before(dialogue.begin(), dialogue.end() - 1);
    auto model = roles_.rater ? roles_.rater : roles_.user;
    auto params = roles_.rater ? roles_.rater_params : roles_.user_params;
    return rate_ec_llm(*model, params, task_.domain, before, dialogue.back());
  }

 private:
  std::string language() const {
    const auto& l = task_.persona->language;
    return render_domain_prompt("sim", task_.domain, "language",
                                {{"density", l.information_density}, {"style", l.expression_style}, {"tone", l.tone}});
  }

  // A structured call; a role without its own seed samples with the episode's seed, so a sampled user is
  // reproducible per task (and cacheable: a resumed run replays it).
  llm::JsonReply ask_json(const std::shared_ptr<llm::ChatModel>& model, const llm::ChatParams& params,
                          const std::vector<llm::Message>& msgs, const json& schema) const {
    llm::ChatParams p = params;
    p.json_schema = schema;
    p.schema_name = "user_simulator";
    if (!p.seed) p.seed = task_.seed;
    return llm::chat_json(*model, msgs, p);
  }

  // The utterance of `r` after the leak guard (D3): before the agent has recommended the target, an
  // utterance naming it is regenerated once (the reply and a note appended), then redacted.
  std::string guarded(const std::vector<llm::Message>& msgs, const llm::JsonReply& r, const json& schema,
                      const char* field, json& events, const Dialogue& dialogue) {
    std::string utt = r.value[field].get<std::string>();
    if (target_recommended(dialogue, task_.target.title, options_.leak_threshold)) return utt;
    auto regenerate = [&]() -> std::string {
      std::vector<llm::Message> again = msgs;
      again.push_back({"assistant", r.result.text});
      again.push_back({"user", domain_prompt("sim", task_.domain, "leak-retry")});
      auto r2 = ask_json(roles_.user, roles_.user_params, again, schema);
      return r2.value[field].get<std::string>();
    };
    return guard_leak(utt, task_.target.title, options_.leak_threshold, regenerate,
                      domain_prompt("sim", task_.domain, "leak-fallback"), events);
  }

  TaskView task_;
  SimRoles roles_;
  SimOptions options_;
  bool fused_;
  std::string target_;
};

}  // namespace

std::unique_ptr<UserSimulator> make_ailo_user(TaskView task, SimRoles roles, SimOptions options, bool fused) {
  return std::make_unique<AiloUser>(std::move(task), std::move(roles), options, fused);
}

}  // namespace ecpo::sim
