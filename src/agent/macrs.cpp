// MACRS, simplified (protocol §6; no official MACRS code exists): every turn an information-level
// reflection updates a natural-language user profile; from the second turn a strategy-level reflection
// writes one suggestion per responder; a planner picks ASKING, RECOMMENDING or CHIT_CHAT, and only that
// responder generates (the recommender first writes a search query, then recommends from the results).
// 3–5 calls a turn. Prompts: prompts/agent/<domain>/macrs-*.txt. Structured steps use JSON schemas.
#include <nlohmann/json.hpp>

#include "agent/agents.h"
#include "llm/structured-output.h"
#include "sim/phrase-book.h"
#include "sim/prompt-template.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::agent {

using nlohmann::json;

namespace {

const json& profile_schema() {
  static const json s = json::parse(R"({"type":"object","properties":{"profile":{"type":"string","minLength":1}},
    "required":["profile"],"additionalProperties":false})");
  return s;
}
const json& strategy_schema() {
  static const json s = json::parse(R"({"type":"object","properties":{"asking":{"type":"string"},
    "recommending":{"type":"string"},"chit_chat":{"type":"string"}},
    "required":["asking","recommending","chit_chat"],"additionalProperties":false})");
  return s;
}
const json& plan_schema() {
  static const json s = json::parse(R"({"type":"object","properties":{"reason":{"type":"string"},
    "act":{"type":"string","enum":["ASKING","RECOMMENDING","CHIT_CHAT"]}},"required":["reason","act"],
    "additionalProperties":false})");
  return s;
}
const json& query_schema() {
  static const json s = json::parse(R"({"type":"object","properties":{"query":{"type":"string","minLength":1}},
    "required":["query"],"additionalProperties":false})");
  return s;
}

class MacrsAgent : public Agent {
 public:
  explicit MacrsAgent(const AgentDeps& deps) : deps_(deps) {
    if (!deps_.model) throw Error("macrs needs the agent role", "roles", "add roles.agent to the roles file");
  }
  std::string kind() const override { return "macrs"; }

  AgentTurn act(const sim::Dialogue& dialogue) override {
    AgentTurn turn;
    const std::string history = sim::render_dialogue(dialogue);
    // Information-level reflection: the user profile.
    profile_ = structured(turn, "reflect_info", "macrs-reflect-info", {{"history", history}, {"profile", profile_text()}},
                          profile_schema())["profile"].get<std::string>();
    // Strategy-level reflection (from the second turn).
    if (turns_ > 0)
      suggestions_ = structured(turn, "reflect_strategy", "macrs-reflect-strategy",
                                {{"history", history}, {"profile", profile_}}, strategy_schema());
    ++turns_;
    std::string act = structured(turn, "plan", "macrs-planner",
                                 {{"history", history}, {"profile", profile_}, {"suggestions", suggestion_text()}},
                                 plan_schema())["act"].get<std::string>();
    if (act == "RECOMMENDING") {
      std::string query = structured(turn, "query", "macrs-query", {{"history", history}, {"profile", profile_}},
                                     query_schema())["query"].get<std::string>();
      auto items = retrieve_items(deps_, query, turn.steps.back());
      std::string cands;
      for (std::size_t i = 0; i < items.size(); ++i)
        cands += (cands.empty() ? "" : "\n") + std::to_string(i + 1) + ". " +
                 sim::item_line(*items[i], deps_.options.description_chars);
      return respond(turn, ActionType::recommend, "macrs-recommend",
                     {{"history", history}, {"profile", profile_}, {"candidates", cands},
                      {"suggestion", suggestion("recommending")}});
    }
    if (act == "ASKING")
      return respond(turn, ActionType::ask, "macrs-ask",
                     {{"history", history}, {"profile", profile_}, {"suggestion", suggestion("asking")}});
    return respond(turn, ActionType::response, "macrs-chat",
                   {{"history", history}, {"profile", profile_}, {"suggestion", suggestion("chit_chat")}});
  }

 private:
  const sim::PhraseBook& texts() const { return sim::PhraseBook::load("agent", deps_.domain, "macrs-texts"); }
  std::string profile_text() const { return profile_.empty() ? texts().first("no_profile") : profile_; }
  std::string suggestion(const char* key) const {
    return suggestions_.contains(key) ? suggestions_[key].get<std::string>() : texts().first("no_suggestion");
  }
  std::string suggestion_text() const {
    if (suggestions_.empty()) return texts().first("no_suggestion");
    return sim::fill_phrase(texts().first("suggestions"), {{"asking", suggestion("asking")},
                                                          {"recommending", suggestion("recommending")},
                                                          {"chit_chat", suggestion("chit_chat")}});
  }

  json structured(AgentTurn& turn, const char* kind, const char* prompt, const sim::TemplateVars& vars,
                  const json& schema) {
    AgentStep step;
    step.kind = kind;
    step.messages = {{"user", sim::render_domain_prompt("agent", deps_.domain, prompt, vars)}};
    llm::ChatParams p = deps_.params;
    p.json_schema = schema;
    p.schema_name = kind;
    p.on_delta = nullptr;  // plans and reflections are internal: never streamed to a person
    auto r = llm::chat_json(*deps_.model, step.messages, p);
    step.output = r.result.text;
    step.extra["value"] = r.value;
    turn.steps.push_back(std::move(step));
    return r.value;
  }

  AgentTurn& respond(AgentTurn& turn, ActionType type, const char* prompt, const sim::TemplateVars& vars) {
    AgentStep step;
    step.kind = "generate";
    step.messages = {{"user", sim::render_domain_prompt("agent", deps_.domain, prompt, vars)}};
    llm::ChatResult r = deps_.model->chat(step.messages, deps_.params);
    step.output = trim(r.text);
    if (!step.output.empty()) step.action = Action{type, step.output};
    turn.steps.push_back(std::move(step));
    if (turn.steps.back().output.empty()) {
      turn.failed = true;
      turn.reply = kSystemErrorReply;
      turn.act = "error";
      turn.error = "empty reply";
      return turn;
    }
    turn.reply = turn.steps.back().output;
    turn.act = action_type_name(type);
    return turn;
  }

  AgentDeps deps_;
  std::string profile_;
  json suggestions_ = json::object();
  int turns_ = 0;
};

}  // namespace

std::unique_ptr<Agent> make_macrs_agent(const AgentDeps& deps) { return std::make_unique<MacrsAgent>(deps); }

}  // namespace ecpo::agent
