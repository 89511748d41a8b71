// The one interface of every user simulator (agenda, ailo, ailo-fused, ievalm) and the factory.
// A simulator lives for one episode: it knows its task (target item, persona) and reacts to the dialogue.
// Turn bookkeeping (docs/protocol.md §4 [D]): respond() rates the agent reply that ends the dialogue (its
// EC belongs to that reply's turn) and then chooses the next policy and utterance (the next turn's input).
// LLM calls are tagged with the episode's CallContext and the turn they belong to.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/types.h"
#include "llm/chat-model.h"
#include "sim/catalog.h"
#include "sim/dialogue.h"
#include "sim/ec.h"
#include "sim/persona.h"

namespace ecpo::sim {

// Policies (protocol §4): the opener's, and the three a user picks from every later turn.
inline constexpr const char* kPolicyAskForRecommendation = "ask_for_recommendation";
inline constexpr const char* kPolicyClarify = "respond_to_clarification";
inline constexpr const char* kPolicyFeedback = "provide_feedback_on_recommendation";
inline constexpr const char* kPolicyEnd = "end_conversation";

struct SimOptions {
  bool final_rating = true;      // D6: rate the last agent reply too (false reproduces the paper)
  bool extra_raters = false;     // the official recommendation and policy raters (2 more calls a turn)
  double leak_threshold = 0.90;  // fuzzy title match that counts as naming the target (D3)
  // AILO: the EC call (and the recommendation rater) run while the policy is chosen — they read only the
  // dialogue and the reply, never the user's reaction — so a turn waits for 2 calls instead of 3.
  bool parallel_ec = true;
};

// What a simulator knows about its task.
struct TaskView {
  std::string task_id;
  std::string domain;
  data::Item target;
  std::optional<Persona> persona;
  const ItemCatalog* catalog = nullptr;  // item DB (the agenda user ranks distinctive words with it)
  std::uint64_t seed = 0;                // per-episode seed (phrase variants, sampling seeds)
};

// The LLM roles a simulator may use (null for the offline agenda user).
struct SimRoles {
  std::shared_ptr<llm::ChatModel> user;   // role user_sim: opener, policy, utterance (fused: everything)
  llm::ChatParams user_params;
  std::shared_ptr<llm::ChatModel> rater;  // role ec_rater: EC and the extra raters
  llm::ChatParams rater_params;
};

struct UserStep {
  std::string policy;
  std::string utterance;
  std::string reason;  // the simulator's private reason (never shown to the agent)
  bool end = false;    // policy end_conversation: the episode stops after this step
  std::optional<EcScore> ec;                           // EC of the reply this step reacts to
  nlohmann::json events = nlohmann::json::array();     // e.g. {"type":"leak", ...}
};

class UserSimulator {
 public:
  virtual ~UserSimulator() = default;
  virtual std::string kind() const = 0;
  // The opening request (policy ask_for_recommendation), tagged to turn 0.
  virtual UserStep open() = 0;
  // Rates the agent reply that ends `dialogue` (turn `turn`), then picks the next policy and utterance
  // (tagged turn + 1). Throws llm::ChatError when a role fails for good.
  virtual UserStep respond(const Dialogue& dialogue, int turn) = 0;
  // Only the EC of the reply that ends `dialogue` (the final rating, D6); nullopt when the user gives none
  // (a person who skips scoring).
  virtual std::optional<EcScore> rate(const Dialogue& dialogue, int turn) = 0;
};

// "agenda", "ailo", "ailo-fused", "ievalm".
const std::vector<std::string>& user_simulator_kinds();
bool user_simulator_known(const std::string& kind);
bool user_simulator_uses_llm(const std::string& kind);      // all but agenda
bool user_simulator_needs_persona(const std::string& kind);  // agenda and the AILO users

// The prompt files (prompts/sim/<domain>/<name>.txt) a simulator of `kind` reads (checked before a run).
std::vector<std::string> user_prompt_names(const std::string& kind, const SimOptions& options);

// Throws ecpo::Error for an unknown kind or a missing role/persona.
std::unique_ptr<UserSimulator> make_user_simulator(const std::string& kind, TaskView task, SimRoles roles,
                                                   SimOptions options);

// True when an agent utterance of act "recommend" in `d` names the target (title match >= threshold):
// from then on the user may say the title (no leak).
bool target_recommended(const Dialogue& d, const std::string& target_title, double threshold = 0.90);

}  // namespace ecpo::sim
