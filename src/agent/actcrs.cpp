// ActCRS and ReAct (protocol §6): one model call per action (D1) — ReAct writes its Thought and the action
// in the same call. The call stops on "]\n" (D14) and the closing ']' is restored; an unparsable output is
// re-asked once (the bad output and prompts/agent/<domain>/reask.txt appended), then the turn fails with
// "Sorry, System Error". After a Search, up to max_search_chain further actions; every search result is
// an observation of its own (D5).
#include <algorithm>

#include "agent/actcrs-prompt.h"
#include "agent/agents.h"
#include "sim/prompt-template.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::agent {

namespace {

// ReAct: the text before the action line is the thought ("Thought n:" prefix dropped), the rest the action.
void split_thought(const std::string& text, std::string& thought, std::string& action) {
  auto lines = split(text, '\n', true);
  std::size_t at = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string t = trim(lines[i]);
    std::string l = to_lower_ascii(t);
    bool action_line = starts_with(l, "action");
    for (const char* kw : {"search[", "ask[", "recommend[", "response["})
      if (starts_with(l, kw)) action_line = true;
    if (action_line) {
      at = i;
      break;
    }
  }
  std::vector<std::string> th(lines.begin(), lines.begin() + static_cast<std::ptrdiff_t>(at));
  std::vector<std::string> ac(lines.begin() + static_cast<std::ptrdiff_t>(at), lines.end());
  thought = trim(join(th, "\n"));
  if (starts_with(to_lower_ascii(thought), "thought")) {
    auto colon = thought.find(':');
    if (colon != std::string::npos && colon < 16) thought = trim(thought.substr(colon + 1));
  }
  action = trim(join(ac, "\n"));
}

class ActCrsAgent : public Agent {
 public:
  ActCrsAgent(const AgentDeps& deps, bool react) : deps_(deps), react_(react) {
    if (!deps_.model) throw Error(std::string(react ? "react" : "actcrs") + " needs the agent role", "roles",
                                  "add roles.agent to the roles file");
    prompt_.domain = deps_.domain;
    prompt_.variant = deps_.options.prompt;
    prompt_.description_chars = deps_.options.description_chars;
    prompt_.react = react_;
    params_ = deps_.params;
    for (const auto& s : action_stop_sequences())
      if (std::find(params_.stop.begin(), params_.stop.end(), s) == params_.stop.end()) params_.stop.push_back(s);
  }

  std::string kind() const override { return react_ ? "react" : "actcrs"; }

  AgentTurn act(const sim::Dialogue& dialogue) override {
    pad_.add_user(sim::last_utterance(dialogue, "user"));
    AgentTurn turn;
    std::size_t after_search = 0;
    bool searched = false;
    for (;;) {
      std::optional<Action> a = next_action(turn);
      if (!a) {
        // The scratchpad keeps what the model wrote (its first line) and a note that it was invalid.
        std::string raw = trim(split(turn.steps.back().output, '\n', true).front());
        if (raw.size() > 200) raw = utf8_sanitize(raw.substr(0, 200));  // the cut may split a character
        pad_.add_action(raw);
        pad_.add_note(sim::domain_prompt("agent", deps_.domain, "invalid-note"));
        return fail(turn, "invalid action after one re-ask: " + turn.steps.back().parse_error);
      }
      pad_.add_action(format_action(*a));
      if (a->type != ActionType::search) {
        turn.reply = a->argument;
        turn.act = action_type_name(a->type);
        return turn;
      }
      if (searched) ++after_search;
      searched = true;
      pad_.add_results(retrieve_items(deps_, a->argument, turn.steps.back()));
      if (after_search >= deps_.options.max_search_chain)
        return fail(turn, "no reply after " + std::to_string(after_search + 1) + " searches in one turn");
    }
  }

 private:
  AgentTurn& fail(AgentTurn& turn, std::string why) {
    turn.failed = true;
    turn.reply = kSystemErrorReply;
    turn.act = "error";
    turn.error = std::move(why);
    return turn;
  }

  // One generation (plus one re-ask when it does not parse). Each attempt is a step.
  std::optional<Action> next_action(AgentTurn& turn) {
    std::vector<llm::Message> msgs = render_actcrs_messages(pad_, prompt_);
    for (int attempt = 0; attempt < 2; ++attempt) {
      AgentStep step;
      step.kind = react_ ? "thought_action" : "action";
      step.messages = msgs;
      llm::ChatResult r = deps_.model->chat(msgs, params_);
      std::string text = complete_action_text(r.text, r.finish_reason);
      std::string thought, action_text = text;
      if (react_) split_thought(text, thought, action_text);
      step.output = text;
      if (react_) step.extra["thought"] = thought;
      std::string err;
      step.action = parse_action(action_text, &err);
      step.valid = step.action.has_value();
      step.parse_error = err;
      turn.steps.push_back(step);
      if (step.action) {
        if (react_) pad_.add_thought(thought);
        return step.action;
      }
      msgs.push_back({"assistant", text});
      msgs.push_back({"user", sim::render_domain_prompt("agent", deps_.domain, "reask", {{"error", err}})});
    }
    return std::nullopt;
  }

  AgentDeps deps_;
  bool react_;
  ActPromptOptions prompt_;
  llm::ChatParams params_;
  Scratchpad pad_;
};

}  // namespace

std::unique_ptr<Agent> make_actcrs_agent(const AgentDeps& deps, bool react) {
  return std::make_unique<ActCrsAgent>(deps, react);
}

}  // namespace ecpo::agent
