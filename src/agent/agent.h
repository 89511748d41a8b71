// The one interface of every conversational recommendation agent (actcrs, react, chatrec, macrs, rule) and
// the factory. An agent lives for one episode and keeps its own state (scratchpad, profile); act() takes the
// dialogue so far (ending with the user's utterance) and returns the turn: every step it took (exactly the
// messages its model saw, the raw output, the parsed action, the items retrieved) and the reply the user sees.
// Agents never see the target item. Not here: the grammar (action.h), prompt rendering (actcrs-prompt.h).
#pragma once
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/action.h"
#include "llm/chat-model.h"
#include "retrieval/retriever.h"
#include "sim/catalog.h"
#include "sim/dialogue.h"

namespace ecpo::agent {

// The reply of a turn that produced no valid user-facing action (protocol §6).
inline constexpr const char* kSystemErrorReply = "Sorry, System Error";

struct AgentStep {
  std::string kind;                     // "action" (one grammar action), "thought_action" (ReAct), "generate",
                                        // "plan", "reflect_info", "reflect_strategy", "query", "rule"
  std::vector<llm::Message> messages;   // exactly what the model saw (the rule agent: what ActCRS would see)
  std::string output;                   // the model's output (grammar steps: with ']' restored)
  std::optional<Action> action;         // the parsed action, when the step emits one
  bool valid = true;                    // grammar steps: the output parsed as one action
  std::string parse_error;
  std::string query;                    // the retrieval query, when the step searched
  std::vector<std::string> retrieved;   // item ids returned, in rank order
  nlohmann::json extra = nlohmann::json::object();  // thoughts, plans, profiles
};

struct AgentTurn {
  std::vector<AgentStep> steps;
  std::string reply;        // what the user sees
  std::string act;          // ask | recommend | response | error
  bool failed = false;      // no valid user-facing action: reply is kSystemErrorReply
  std::string error;        // why it failed
  // The step whose output is the user-facing reply (the last step; failed turns: the last attempt).
  const AgentStep* final_step() const { return steps.empty() ? nullptr : &steps.back(); }
};

struct AgentOptions {
  std::string prompt = "zero-shot";     // ActCRS / ReAct prompt variant: zero-shot | few-shot | compact
  std::size_t top_k = 5;
  std::size_t max_search_chain = 3;     // further actions after a Search in one turn
  std::size_t description_chars = 240;  // item description cut in observations (compact: 120)
  // Offline tree sampling (mtpo/tree.h): when set, the rule agent lists the user-facing actions it could take
  // this turn — its own choice first — and emits candidates[choose(turn, candidates)] (out of range: its own).
  std::function<std::size_t(int turn, const std::vector<Action>& candidates)> choose;
};

struct AgentDeps {
  std::string domain;
  const retrieval::Retriever* retriever = nullptr;  // required
  const sim::ItemCatalog* catalog = nullptr;        // required
  std::shared_ptr<llm::ChatModel> model;            // the agent role (null for the rule agent)
  llm::ChatParams params;
  AgentOptions options;
};

class Agent {
 public:
  virtual ~Agent() = default;
  virtual std::string kind() const = 0;
  // One turn. Throws llm::ChatError when the model fails for good (the episode records it).
  virtual AgentTurn act(const sim::Dialogue& dialogue) = 0;
};

// "actcrs", "react", "chatrec", "macrs", "rule".
const std::vector<std::string>& agent_kinds();
bool agent_known(const std::string& kind);
bool agent_uses_llm(const std::string& kind);      // all but rule
bool agent_uses_grammar(const std::string& kind);  // actcrs, react, rule: outputs count for invalid_action_rate

// The prompt files (prompts/agent/<domain>/<name>.txt) an agent of `kind` reads with prompt `variant`,
// so a run can check them all before its first call.
std::vector<std::string> agent_prompt_names(const std::string& kind, const std::string& variant);

// Throws ecpo::Error for an unknown kind or missing dependencies.
std::unique_ptr<Agent> make_agent(const std::string& kind, const AgentDeps& deps);

// How a free-text reply reads to the user: "recommend" when it names one of `candidates` (item titles),
// "ask" when it asks a question, else "response" (agents without the grammar: chatrec, macrs chit-chat).
std::string classify_reply(const std::string& reply, const std::vector<std::string>& candidate_titles);

}  // namespace ecpo::agent
