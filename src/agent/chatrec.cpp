// ChatRec (protocol §6): every turn retrieves top-k with the whole dialogue as the query, then one
// generation (prompts/agent/<domain>/chatrec-system.txt + chatrec.txt with the candidates and the
// dialogue) writes the reply. No action grammar: the reply is classified (recommend / ask / response)
// by whether it names a candidate, and SR counts any reply (§8.3).
#include "agent/agents.h"
#include "sim/prompt-template.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::agent {

namespace {

class ChatRecAgent : public Agent {
 public:
  explicit ChatRecAgent(const AgentDeps& deps) : deps_(deps) {
    if (!deps_.model) throw Error("chatrec needs the agent role", "roles", "add roles.agent to the roles file");
  }
  std::string kind() const override { return "chatrec"; }

  AgentTurn act(const sim::Dialogue& dialogue) override {
    AgentTurn turn;
    AgentStep step;
    step.kind = "generate";
    std::string query;
    for (const auto& u : dialogue) query += (query.empty() ? "" : " ") + u.text;
    auto items = retrieve_items(deps_, collapse_whitespace(query), step);
    std::string cands;
    std::vector<std::string> titles;
    for (std::size_t i = 0; i < items.size(); ++i) {
      cands += (cands.empty() ? "" : "\n") + std::to_string(i + 1) + ". " +
               sim::item_line(*items[i], deps_.options.description_chars);
      titles.push_back(items[i]->title);
    }
    step.messages = {{"system", sim::domain_prompt("agent", deps_.domain, "chatrec-system")},
                     {"user", sim::render_domain_prompt("agent", deps_.domain, "chatrec",
                                                        {{"candidates", cands}, {"history", sim::render_dialogue(dialogue)}})}};
    llm::ChatResult r = deps_.model->chat(step.messages, deps_.params);
    step.output = trim(r.text);
    turn.act = classify_reply(step.output, titles);
    if (!step.output.empty()) step.action = Action{*action_type_from_name(turn.act), step.output};
    turn.reply = step.output;
    turn.steps.push_back(std::move(step));
    if (turn.reply.empty()) {
      turn.failed = true;
      turn.reply = kSystemErrorReply;
      turn.act = "error";
      turn.error = "empty reply";
    }
    return turn;
  }

 private:
  AgentDeps deps_;
};

}  // namespace

std::unique_ptr<Agent> make_chatrec_agent(const AgentDeps& deps) { return std::make_unique<ChatRecAgent>(deps); }

}  // namespace ecpo::agent
