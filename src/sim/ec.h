// Expectation confirmation (EC) of one agent reply (paper §2.2, docs/protocol.md §5): flexibility 0–2,
// coherence 0–2, guidance 0–1 (points kept; deductions are 2−f, 2−c, 1−g), score = 5 − deductions, and the
// reason naming each deduction. The rater is an LLM (`ec_rater` role, prompts/sim/<domain>/ec-rater.txt;
// it sees the dialogue before the reply and the reply — never the persona or the target) or the heuristic
// rater of the offline agenda user. A score that disagrees with its parts is kept and flagged.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"
#include "sim/dialogue.h"

namespace ecpo::sim {

struct EcScore {
  int flexibility = 0;  // 0..2 (-1: not given — a person's score; null in JSON)
  int coherence = 0;    // 0..2 (-1: not given)
  int guidance = 0;     // 0..1 (-1: not given)
  int score = 0;        // 0..5
  std::string reason;
  std::string rater = "llm";  // llm | heuristic | human
  bool consistent = true;     // score == flexibility + coherence + guidance
  nlohmann::json extra = nlohmann::json::object();  // extra raters: {recommendation:{rating,reason}, policy:{...}}
};

nlohmann::json to_json(const EcScore& e);
EcScore ec_from_json(const nlohmann::json& j, const std::string& where);  // for stored records

// The schema the EC rater must satisfy: {flexibility, coherence, guidance, score, reason}.
const nlohmann::json& ec_schema();

// A validated rater reply → EcScore (ranges are checked by the schema). Logs a warning and sets
// consistent=false when score != flexibility + coherence + guidance (the rater's score is kept).
EcScore ec_from_reply(const nlohmann::json& reply, const std::string& rater = "llm");

// One EC call: `before` is the dialogue before the reply, `reply` the agent's reply being rated.
// Throws llm::ChatError when the role fails for good.
EcScore rate_ec_llm(llm::ChatModel& model, const llm::ChatParams& params, const std::string& domain,
                    const Dialogue& before, const Utterance& reply);

// The rendered EC prompt (exposed for tests: it must hold neither persona nor target).
std::string ec_prompt(const std::string& domain, const Dialogue& before, const Utterance& reply);

// The heuristic rater (no LLM; rater "heuristic"). Deductions: a system error scores 0; repeating an
// earlier agent reply (−2 flexibility); asking again about what the user already said (−1 flexibility,
// −1 coherence); no word in common with the user's last message when not recommending (−1 coherence);
// neither a question nor a recommendation (−1 guidance). Wording from prompts/sim/<domain>/ec-heuristic.txt.
EcScore rate_ec_heuristic(const std::string& domain, const Dialogue& before, const Utterance& reply);

}  // namespace ecpo::sim
