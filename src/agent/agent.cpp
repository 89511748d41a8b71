// The agent factory, reply classification and the shared retrieval helper (see agent.h, agents.h).
#include "agent/agent.h"

#include <algorithm>

#include "agent/agents.h"
#include "sim/title-match.h"
#include "util/error.h"

namespace ecpo::agent {

const std::vector<std::string>& agent_kinds() {
  static const std::vector<std::string> k = {"actcrs", "react", "chatrec", "macrs", "rule"};
  return k;
}

bool agent_known(const std::string& kind) {
  const auto& k = agent_kinds();
  return std::find(k.begin(), k.end(), kind) != k.end();
}

bool agent_uses_llm(const std::string& kind) { return kind != "rule"; }
bool agent_uses_grammar(const std::string& kind) { return kind == "actcrs" || kind == "react" || kind == "rule"; }

std::vector<std::string> agent_prompt_names(const std::string& kind, const std::string& variant) {
  if (kind == "actcrs") return {"scratchpad", "actcrs-system", "actcrs-" + variant, "reask", "invalid-note"};
  if (kind == "react") return {"scratchpad", "react-system", "react-" + variant, "reask", "invalid-note"};
  if (kind == "rule") return {"scratchpad", "actcrs-system", "actcrs-" + variant, "rule"};
  if (kind == "chatrec") return {"chatrec-system", "chatrec"};
  if (kind == "macrs")
    return {"macrs-reflect-info", "macrs-reflect-strategy", "macrs-planner", "macrs-query", "macrs-recommend",
            "macrs-ask", "macrs-chat", "macrs-texts"};
  return {};
}

std::unique_ptr<Agent> make_agent(const std::string& kind, const AgentDeps& deps) {
  if (!deps.retriever || !deps.catalog)
    throw Error("an agent needs a retriever and the item catalogue", "agent " + kind, "pass --index and --tasks");
  if (kind == "actcrs") return make_actcrs_agent(deps, false);
  if (kind == "react") return make_actcrs_agent(deps, true);
  if (kind == "chatrec") return make_chatrec_agent(deps);
  if (kind == "macrs") return make_macrs_agent(deps);
  if (kind == "rule") return make_rule_agent(deps);
  throw Error("unknown agent '" + kind + "'", "--agent", "use actcrs, react, chatrec, macrs or rule");
}

std::string classify_reply(const std::string& reply, const std::vector<std::string>& candidate_titles) {
  for (const auto& t : candidate_titles)
    if (sim::text_names_title(reply, t)) return "recommend";
  if (reply.find('?') != std::string::npos) return "ask";
  return "response";
}

std::vector<const data::Item*> retrieve_items(const AgentDeps& deps, const std::string& query, AgentStep& step) {
  step.query = query;
  std::vector<const data::Item*> items;
  for (const auto& h : deps.retriever->search(query, deps.options.top_k)) {
    step.retrieved.push_back(h.item_id);
    if (const auto* it = deps.catalog->find(h.item_id)) items.push_back(it);
  }
  return items;
}

}  // namespace ecpo::agent
