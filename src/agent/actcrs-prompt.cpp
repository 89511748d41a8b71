// ActCRS / ReAct prompt rendering (see actcrs-prompt.h). Labels of the scratchpad lines come from
// prompts/agent/<domain>/scratchpad.txt (a phrase book), the instruction from actcrs-<variant>.txt.
#include "agent/actcrs-prompt.h"

#include <algorithm>

#include "sim/catalog.h"
#include "sim/phrase-book.h"
#include "sim/prompt-template.h"
#include "util/error.h"

namespace ecpo::agent {

const std::vector<std::string>& actcrs_prompt_variants() {
  static const std::vector<std::string> v = {"zero-shot", "few-shot", "compact"};
  return v;
}

std::string render_scratchpad(const Scratchpad& pad, const ActPromptOptions& o) {
  const sim::PhraseBook& pb = sim::PhraseBook::load("agent", o.domain, "scratchpad");
  const bool compact = o.variant == "compact";
  const std::size_t chars = compact ? std::min<std::size_t>(o.description_chars, 120) : o.description_chars;
  // The index of the last results entry: compact keeps only that one in full.
  std::size_t last_results = pad.entries().size();
  for (std::size_t i = 0; i < pad.entries().size(); ++i)
    if (pad.entries()[i].kind == Scratchpad::Kind::results) last_results = i;
  std::string out;
  int n = 0;
  auto line = [&](const std::string& s) {
    if (!out.empty()) out += '\n';
    out += s;
  };
  for (std::size_t i = 0; i < pad.entries().size(); ++i) {
    const auto& e = pad.entries()[i];
    switch (e.kind) {
      case Scratchpad::Kind::user:
        line("Observation " + std::to_string(++n) + ": " + pb.first("user") + " " + e.text);
        break;
      case Scratchpad::Kind::note:
        line("Observation " + std::to_string(++n) + ": " + pb.first("note") + " " + e.text);
        break;
      case Scratchpad::Kind::results: {
        std::string head = "Observation " + std::to_string(++n) + ": " + pb.first("results");
        if (e.items.empty()) {
          line(head + " " + pb.first("no_results"));
        } else if (compact && i != last_results) {
          std::string titles;
          for (const auto* it : e.items) titles += (titles.empty() ? "" : "; ") + it->title;
          line(head + " " + titles);
        } else {
          line(head);
          for (std::size_t k = 0; k < e.items.size(); ++k)
            line(std::to_string(k + 1) + ". " + sim::item_line(*e.items[k], chars));
        }
        break;
      }
      case Scratchpad::Kind::thought:
        line("Thought " + std::to_string(n) + ": " + e.text);
        break;
      case Scratchpad::Kind::action:
        line("Action " + std::to_string(n) + ": " + e.text);
        break;
    }
  }
  // The model continues the same step: after an observation, its thought (ReAct) or action; after a thought,
  // the action.
  bool after_thought = !pad.entries().empty() && pad.entries().back().kind == Scratchpad::Kind::thought;
  line((o.react && !after_thought ? "Thought " : "Action ") + std::to_string(std::max(n, 1)) + ":");
  return out;
}

std::vector<llm::Message> render_actcrs_messages(const Scratchpad& pad, const ActPromptOptions& o) {
  const auto& v = actcrs_prompt_variants();
  if (std::find(v.begin(), v.end(), o.variant) == v.end())
    throw Error("unknown prompt variant '" + o.variant + "'", "agent.prompt", "use zero-shot, few-shot or compact");
  const std::string base = o.react ? "react" : "actcrs";
  std::vector<llm::Message> msgs;
  msgs.push_back({"system", sim::domain_prompt("agent", o.domain, base + "-system")});
  msgs.push_back({"user", sim::render_domain_prompt("agent", o.domain, base + "-" + o.variant,
                                                    {{"scratchpad", render_scratchpad(pad, o)}})});
  return msgs;
}

}  // namespace ecpo::agent
