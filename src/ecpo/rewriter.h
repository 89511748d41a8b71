// The rewriter role of backward expectation derivation (protocol §10): given one candidate — the agent's
// state, its original step and the EC reason as feedback on its flaws — it reasons first, then returns a
// limited edit that keeps the action type. Two implementations behind one interface:
//   llm        the `rewriter` role; prompts/ecpo/<domain>/rewriter-system.txt + rewriter.txt (grammar
//              actions) or rewriter-reply.txt (free-text replies); structured output {reason, refinement}
//   heuristic  no model: rule-based edits addressing the EC deductions (restate the user's constraint for
//              coherence, name concrete options for flexibility, add a clarifying question for guidance;
//              a Search is narrowed to the user's constraints), wording from rewriter-heuristic.txt
// The driver (rewrite.h) validates whatever comes back; a rewriter never judges its own output.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "ecpo/candidates.h"
#include "llm/chat-model.h"
#include "sim/catalog.h"

namespace ecpo::pref {

struct RewriteOutcome {
  bool produced = false;    // a refinement came back
  std::string refinement;   // the proposed step (one action, or a free-text reply)
  std::string thinking;     // the rewriter's reasoning (LLM: its "reason" field; heuristic: the edits made)
  std::string error;        // why nothing came back
};

class Rewriter {
 public:
  virtual ~Rewriter() = default;
  // Thread-safe. Never throws for a model failure (reported in `error`).
  virtual RewriteOutcome rewrite(const Candidate& c) = 0;
  virtual std::string label() const = 0;  // "llm:<model>" | "heuristic"
  virtual bool heuristic() const = 0;
};

// The reply schema: {"reason": string, "refinement": non-empty string}.
const nlohmann::json& rewriter_schema();

// The rendered prompt (system, user) for `c` — what the LLM rewriter sends (exposed for tests).
std::vector<llm::Message> rewriter_messages(const Candidate& c, const std::string& domain);

// `params` are the role's; a candidate without a seed of its own is sampled with a seed derived from its
// pair id, so a rerun hits the response cache.
std::unique_ptr<Rewriter> make_llm_rewriter(std::shared_ptr<llm::ChatModel> model, llm::ChatParams params,
                                            std::string domain);
std::unique_ptr<Rewriter> make_heuristic_rewriter(std::string domain, const sim::ItemCatalog* catalog);

// The deductions of an EC (flexibility 0–2, coherence 0–2, guidance 0–1 lost) from its parts, or, when the
// parts do not add up to the score, from the words of its reason.
struct Deductions {
  int flexibility = 0, coherence = 0, guidance = 0;
};
Deductions ec_deductions(const sim::EcScore& ec);

}  // namespace ecpo::pref
