// Constructors of the concrete agents (used by make_agent in agent.cpp and by tests) and the retrieval
// helper they share. One file each: actcrs.cpp (actcrs and react), chatrec.cpp, macrs.cpp, rule-agent.cpp.
#pragma once
#include <memory>

#include "agent/agent.h"

namespace ecpo::agent {

std::unique_ptr<Agent> make_actcrs_agent(const AgentDeps& deps, bool react);
std::unique_ptr<Agent> make_chatrec_agent(const AgentDeps& deps);
std::unique_ptr<Agent> make_macrs_agent(const AgentDeps& deps);
std::unique_ptr<Agent> make_rule_agent(const AgentDeps& deps);

// Top-k search; fills step.query and step.retrieved; returns the catalogue items (ids missing from the
// catalogue are skipped).
std::vector<const data::Item*> retrieve_items(const AgentDeps& deps, const std::string& query, AgentStep& step);

}  // namespace ecpo::agent
