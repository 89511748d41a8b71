// The iEvaLM-style user (Wang et al. 2023): knows the target; accepts a recommendation that names it,
// otherwise refuses and describes the target's attributes without its title. The policy is decided by
// title match (not by the model); one user_sim call writes the utterance; EC comes from the ec_rater role.
// Prompts: prompts/sim/<domain>/ievalm-opener.txt, ievalm.txt.
#include <nlohmann/json.hpp>

#include "llm/call-context.h"
#include "llm/structured-output.h"
#include "sim/leak.h"
#include "sim/prompt-template.h"
#include "sim/simulators.h"
#include "sim/title-match.h"
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

llm::CallContext at_turn(int turn) {
  llm::CallContext c = llm::current_call_context();
  c.turn = turn;
  return c;
}

class IevalmUser : public UserSimulator {
 public:
  IevalmUser(TaskView task, SimRoles roles, SimOptions options)
      : task_(std::move(task)), roles_(std::move(roles)), options_(options) {
    if (!roles_.user || !roles_.rater)
      throw Error("the ievalm user needs the roles user_sim and ec_rater", task_.task_id, "add them to the roles file");
    target_ = target_json(task_.target);
  }
  std::string kind() const override { return "ievalm"; }

  UserStep open() override {
    llm::CallContextScope scope(at_turn(0));
    UserStep s;
    s.policy = kPolicyAskForRecommendation;
    std::vector<llm::Message> msgs{{"user", render_domain_prompt("sim", task_.domain, "ievalm-opener", {{"target", target_}})}};
    s.utterance = say(msgs, s, {});
    return s;
  }

  UserStep respond(const Dialogue& dialogue, int turn) override {
    Dialogue before(dialogue.begin(), dialogue.end() - 1);
    const Utterance& reply = dialogue.back();
    UserStep s;
    {
      llm::CallContextScope scope(at_turn(turn));
      s.ec = rate_ec_llm(*roles_.rater, roles_.rater_params, task_.domain, before, reply);
    }
    llm::CallContextScope scope(at_turn(turn + 1));
    bool hit = reply.act == "recommend" && text_names_title(reply.text, task_.target.title, options_.leak_threshold);
    s.policy = hit ? kPolicyEnd : (reply.act == "recommend" ? kPolicyFeedback : kPolicyClarify);
    s.end = hit;
    std::string situation = domain_prompt("sim", task_.domain, hit ? "ievalm-accept" : "ievalm-refuse");
    std::vector<llm::Message> msgs{{"user", render_domain_prompt("sim", task_.domain, "ievalm",
                                                                 {{"target", target_},
                                                                  {"history", render_dialogue(dialogue)},
                                                                  {"situation", situation}})}};
    s.utterance = say(msgs, s, dialogue);
    return s;
  }

  std::optional<EcScore> rate(const Dialogue& dialogue, int turn) override {
    llm::CallContextScope scope(at_turn(turn));
    Dialogue before(dialogue.begin(), dialogue.end() - 1);
    return rate_ec_llm(*roles_.rater, roles_.rater_params, task_.domain, before, dialogue.back());
  }

 private:
  std::string say(const std::vector<llm::Message>& msgs, UserStep& s, const Dialogue& dialogue) {
    llm::ChatParams p = roles_.user_params;
    p.json_schema = response_schema();
    p.schema_name = "user_simulator";
    if (!p.seed) p.seed = task_.seed;
    auto r = llm::chat_json(*roles_.user, msgs, p);
    s.reason = r.value["reason"].get<std::string>();
    std::string utt = r.value["response"].get<std::string>();
    if (s.end || target_recommended(dialogue, task_.target.title, options_.leak_threshold)) return utt;
    auto regenerate = [&]() -> std::string {
      std::vector<llm::Message> again = msgs;
      again.push_back({"assistant", r.result.text});
      again.push_back({"user", domain_prompt("sim", task_.domain, "leak-retry")});
      return llm::chat_json(*roles_.user, again, p).value["response"].get<std::string>();
    };
    return guard_leak(utt, task_.target.title, options_.leak_threshold, regenerate,
                      domain_prompt("sim", task_.domain, "leak-fallback"), s.events);
  }

  TaskView task_;
  SimRoles roles_;
  SimOptions options_;
  std::string target_;
};

}  // namespace

std::unique_ptr<UserSimulator> make_ievalm_user(TaskView task, SimRoles roles, SimOptions options) {
  return std::make_unique<IevalmUser>(std::move(task), std::move(roles), options);
}

}  // namespace ecpo::sim
