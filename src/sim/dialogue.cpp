// Dialogue rendering for prompts (see dialogue.h).
#include "sim/dialogue.h"

namespace ecpo::sim {

std::string render_dialogue(const Dialogue& d, const std::string& user_label, const std::string& agent_label) {
  if (d.empty()) return "(no conversation yet)";
  std::string out;
  for (const auto& u : d) {
    if (!out.empty()) out += '\n';
    out += u.speaker == "user" ? user_label : agent_label;
    out += ": ";
    out += u.text;
  }
  return out;
}

std::string last_utterance(const Dialogue& d, const std::string& speaker) {
  for (auto it = d.rbegin(); it != d.rend(); ++it)
    if (it->speaker == speaker) return it->text;
  return {};
}

}  // namespace ecpo::sim
