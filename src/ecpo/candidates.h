// Rewrite candidates (protocol §10): every logged agent action of a rated turn — Search steps included —
// inherits the turn's EC score and reason; those with score < max(λ) are candidates. Trajectories are not
// filtered by success. A candidate carries what the rewriter and the validity checks need: the exact
// prompt the agent saw, the original output and its action, the EC score/parts/reason, the user-visible
// dialogue before the reply, the items retrieved so far, and the episode's target (for the leak check).
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/action.h"
#include "llm/chat-model.h"
#include "sim/dialogue.h"
#include "sim/ec.h"

namespace ecpo::pref {

struct Candidate {
  std::string pair_id;  // "<episode_id>/t<turn>/s<step>"
  std::string episode_id, task_id, target_item_id, kind;
  int turn = 0, step = 0;
  std::vector<llm::Message> prompt;       // the step's agent_state.messages
  std::string original;                   // the step's output as generated
  std::optional<agent::Action> action;    // the parsed original (nullopt: a free-text reply, e.g. chatrec)
  sim::EcScore ec;                        // the turn's EC (score, parts, reason)
  sim::Dialogue dialogue;                 // user-visible dialogue up to the user's utterance of this turn
  std::vector<std::string> retrieved;     // item ids retrieved in this turn before this step
  std::vector<std::string> earlier_retrieved;  // item ids retrieved in earlier turns
};

struct CandidateStats {
  std::size_t turns = 0;              // turns seen
  std::size_t rated_turns = 0;
  std::size_t turns_below = 0;        // rated turns with score < max(λ)
  std::size_t steps_below = 0;        // agent steps of those turns
  std::size_t skipped_invalid = 0;    // steps whose output is not a valid action (nothing to keep the type of)
  std::size_t skipped_reask = 0;      // re-ask attempts
  std::size_t skipped_other = 0;      // steps that are not agent replies or actions (plans, reflections)
  std::size_t candidates = 0;
};
nlohmann::json to_json(const CandidateStats& s);

// The candidates of one episode (trajectories.jsonl JSON) with score < `below`.
std::vector<Candidate> episode_candidates(const nlohmann::json& episode, int below, CandidateStats& stats);

// The text of an action step's action, as the grammar writes it ("Ask[...]"); free-text steps: the output.
std::string candidate_action_text(const Candidate& c);

// The output a rewrite stands for: the refinement itself, except for ReAct (thought_action) steps where the
// thought is kept and the action after it replaced.
std::string rewritten_output(const Candidate& c, const std::string& refinement);

// The scratchpad of an ActCRS/ReAct prompt (the text the template puts around it removed), else the last
// user message, for the rewriter's "agent state".
std::string candidate_state_text(const Candidate& c, const std::string& domain);

}  // namespace ecpo::pref
