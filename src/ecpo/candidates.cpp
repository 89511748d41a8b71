// Rewrite candidates (see candidates.h).
#include "ecpo/candidates.h"

#include <algorithm>

#include "agent/actcrs-prompt.h"
#include "sim/prompt-template.h"
#include "util/text.h"

namespace ecpo::pref {

using nlohmann::json;

json to_json(const CandidateStats& s) {
  return {{"turns", s.turns},
          {"rated_turns", s.rated_turns},
          {"turns_below_lambda", s.turns_below},
          {"steps_below_lambda", s.steps_below},
          {"skipped_invalid_original", s.skipped_invalid},
          {"skipped_reask", s.skipped_reask},
          {"skipped_not_a_reply", s.skipped_other},
          {"candidates", s.candidates}};
}

std::vector<Candidate> episode_candidates(const json& e, int below, CandidateStats& st) {
  std::vector<Candidate> out;
  const std::string eid = e.value("episode_id", std::string());
  sim::Dialogue dialogue;
  std::vector<std::string> earlier;
  for (const auto& t : e["turns"]) {
    st.turns++;
    const int ti = t.value("index", 0);
    dialogue.push_back({"user", t["user"].value("utterance", std::string()), t["user"].value("policy", std::string())});
    const bool rated = t.contains("ec") && t["ec"].is_object();
    if (rated) st.rated_turns++;
    sim::EcScore ec;
    if (rated) ec = sim::ec_from_json(t["ec"], eid + " turn " + std::to_string(ti));
    const bool below_lambda = rated && ec.score < below;
    if (below_lambda) st.turns_below++;
    std::vector<std::string> this_turn;
    int si = 0;
    for (const auto& s : t["steps"]) {
      const int step = si++;
      std::vector<std::string> got = s.value("retrieved", std::vector<std::string>{});
      if (below_lambda) {
        st.steps_below++;
        const std::string kind = s.value("kind", std::string());
        const bool grammar = kind == "action" || kind == "thought_action" || kind == "rule";
        std::vector<llm::Message> msgs = llm::messages_from_json(s["agent_state"]["messages"]);
        const bool reask = std::any_of(msgs.begin(), msgs.end(), [](const llm::Message& m) { return m.role == "assistant"; });
        if (!grammar && kind != "generate") {
          st.skipped_other++;
        } else if (grammar && (!s.value("valid", true) || !s["action"].is_object())) {
          st.skipped_invalid++;
        } else if (grammar && reask) {
          st.skipped_reask++;
        } else if (msgs.empty() || s.value("output", std::string()).empty()) {
          st.skipped_invalid++;
        } else {
          Candidate c;
          c.episode_id = eid;
          c.task_id = e.value("task_id", std::string());
          c.target_item_id = e.value("target_item_id", std::string());
          c.kind = kind;
          c.turn = ti;
          c.step = step;
          c.pair_id = eid + "/t" + std::to_string(ti) + "/s" + std::to_string(step);
          c.prompt = std::move(msgs);
          c.original = s["output"].get<std::string>();
          if (grammar) {
            auto type = agent::action_type_from_name(s["action"].value("type", std::string()));
            if (type) c.action = agent::Action{*type, s["action"].value("argument", std::string())};
          }
          if (grammar && !c.action) {
            st.skipped_invalid++;
          } else {
            c.ec = ec;
            c.dialogue = dialogue;
            c.retrieved = this_turn;
            c.earlier_retrieved = earlier;
            st.candidates++;
            out.push_back(std::move(c));
          }
        }
      }
      this_turn.insert(this_turn.end(), got.begin(), got.end());
    }
    earlier.insert(earlier.end(), this_turn.begin(), this_turn.end());
    dialogue.push_back({"assistant", t.value("reply", std::string()), t.value("act", std::string())});
  }
  return out;
}

std::string candidate_action_text(const Candidate& c) {
  return c.action ? agent::format_action(*c.action) : c.original;
}

std::string rewritten_output(const Candidate& c, const std::string& refinement) {
  if (c.kind != "thought_action" || !c.action) return refinement;
  // Keep the thought: replace from the original action's keyword (its last occurrence) to the end.
  const std::string kw = to_lower_ascii(std::string(agent::action_type_keyword(c.action->type)) + "[");
  const std::string low = to_lower_ascii(c.original);
  auto p = low.rfind(kw);
  if (p == std::string::npos) return refinement;
  return c.original.substr(0, p) + refinement;
}

std::string candidate_state_text(const Candidate& c, const std::string& domain) {
  std::string user;
  for (const auto& m : c.prompt)
    if (m.role == "user") user = m.content;
  if (c.kind == "action" || c.kind == "rule" || c.kind == "thought_action") {
    const std::string base = c.kind == "thought_action" ? "react" : "actcrs";
    for (const auto& v : agent::actcrs_prompt_variants()) {
      const std::string& t = sim::domain_prompt("agent", domain, base + "-" + v);
      auto p = t.find("{{scratchpad}}");
      if (p == std::string::npos) continue;
      std::string pre = t.substr(0, p), suf = t.substr(p + 14);
      if (starts_with(user, pre) && ends_with(user, suf) && user.size() >= pre.size() + suf.size())
        return user.substr(pre.size(), user.size() - pre.size() - suf.size());
    }
  }
  return user;
}

}  // namespace ecpo::pref
