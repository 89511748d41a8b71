// The user-simulator factory and helpers shared by the simulators (see user-sim.h).
#include "sim/user-sim.h"

#include <algorithm>

#include "sim/simulators.h"
#include "sim/title-match.h"
#include "util/error.h"

namespace ecpo::sim {

const std::vector<std::string>& user_simulator_kinds() {
  static const std::vector<std::string> k = {"agenda", "ailo", "ailo-fused", "ievalm"};
  return k;
}

bool user_simulator_known(const std::string& kind) {
  const auto& k = user_simulator_kinds();
  return std::find(k.begin(), k.end(), kind) != k.end();
}

bool user_simulator_uses_llm(const std::string& kind) { return kind != "agenda"; }
bool user_simulator_needs_persona(const std::string& kind) {
  return kind == "agenda" || kind == "ailo" || kind == "ailo-fused";
}

std::vector<std::string> user_prompt_names(const std::string& kind, const SimOptions& options) {
  if (kind == "agenda") return {"agenda", "ec-heuristic"};
  std::vector<std::string> n = {"ec-rater", "leak-retry", "leak-fallback", "language"};
  if (kind == "ailo" || kind == "ailo-fused") {
    for (const char* p : {"ailo-opener", "ailo-policy", "ailo-response-clarify", "ailo-response-feedback",
                          "ailo-response-end", "ailo-fused"})
      n.push_back(p);
    if (options.extra_raters) {
      n.push_back("rec-rater");
      n.push_back("policy-rater");
    }
  }
  if (kind == "ievalm")
    for (const char* p : {"ievalm-opener", "ievalm", "ievalm-accept", "ievalm-refuse"}) n.push_back(p);
  return n;
}

std::unique_ptr<UserSimulator> make_user_simulator(const std::string& kind, TaskView task, SimRoles roles,
                                                   SimOptions options) {
  if (kind == "agenda") return make_agenda_user(std::move(task), options);
  if (kind == "ailo") return make_ailo_user(std::move(task), std::move(roles), options, false);
  if (kind == "ailo-fused") return make_ailo_user(std::move(task), std::move(roles), options, true);
  if (kind == "ievalm") return make_ievalm_user(std::move(task), std::move(roles), options);
  throw Error("unknown user simulator '" + kind + "'", "--user", "use agenda, ailo, ailo-fused or ievalm");
}

bool target_recommended(const Dialogue& d, const std::string& target_title, double threshold) {
  for (const auto& u : d)
    if (u.speaker == "assistant" && u.act == "recommend" && text_names_title(u.text, target_title, threshold))
      return true;
  return false;
}

// The target as the user prompts show it (official task item fields: name, categories, description, price).
std::string target_json(const data::Item& item) {
  nlohmann::json j{{"name", item.title}, {"categories", item.categories}, {"description", item.description}};
  if (item.price) j["price"] = *item.price;
  return j.dump(2);
}

}  // namespace ecpo::sim
