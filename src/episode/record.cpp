// JSON of steps, turns and episodes (see record.h).
#include "episode/record.h"

namespace ecpo::episode {

using nlohmann::json;

namespace {
json action_json(const std::optional<agent::Action>& a) {
  if (!a) return nullptr;
  return json{{"type", agent::action_type_name(a->type)}, {"argument", a->argument}};
}
}  // namespace

json to_json(const agent::AgentStep& s) {
  json j{{"kind", s.kind},
         {"agent_state", {{"messages", llm::to_json(s.messages)}}},
         {"output", s.output},
         {"action", action_json(s.action)},
         {"valid", s.valid},
         {"retrieved", s.retrieved}};
  if (!s.parse_error.empty()) j["parse_error"] = s.parse_error;
  if (!s.query.empty()) j["query"] = s.query;
  if (!s.extra.empty()) j["extra"] = s.extra;
  return j;
}

json to_json(const TurnRecord& t) {
  const agent::AgentStep* last = t.agent.final_step();
  json steps = json::array();
  for (const auto& s : t.agent.steps) steps.push_back(to_json(s));
  json j{{"index", t.index},
         {"user", {{"policy", t.user_policy}, {"utterance", t.user_utterance}, {"reason", t.user_reason}}},
         {"agent_state", {{"messages", last ? llm::to_json(last->messages) : json::array()}}},
         {"agent_output", last ? last->output : ""},
         {"action", t.agent.failed || !last ? json(nullptr) : action_json(last->action)},
         {"reply", t.agent.reply},
         {"act", t.agent.act},
         {"failed", t.agent.failed},
         {"retrieved", t.retrieved},
         {"ec", t.ec ? sim::to_json(*t.ec) : json(nullptr)},
         {"success", t.success},
         {"success_substring", t.success_substring},
         {"calls", t.calls},
         {"steps", steps}};
  if (!t.agent.error.empty()) j["error"] = t.agent.error;
  if (!t.user_events.empty()) j["user"]["events"] = t.user_events;
  return j;
}

json episode_header_json(const EpisodeRecord& e) {
  json j{{"episode_id", e.episode_id},
         {"task_id", e.task_id},
         {"task_index", e.task_index},
         {"agent", e.agent},
         {"user", e.user},
         {"models", e.models},
         {"seed", e.seed},
         {"target_item_id", e.target_item_id},
         {"success", e.success},
         {"success_substring", e.success_substring},
         {"recall", e.recall},
         {"failed", e.failed},
         {"error", e.error},
         {"success_turn", e.success_turn},
         {"persona_source", e.persona_source},
         {"end", e.end}};
  if (!e.end.is_null()) j["end"]["calls"] = e.end_calls;
  return j;
}

json metrics_view_of_turn(const json& t) {
  json v{{"index", t.value("index", 0)}, {"failed", t.value("failed", false)}, {"ec", t.value("ec", json())}};
  if (t.contains("user") && t["user"].contains("events")) v["user"] = {{"events", t["user"]["events"]}};
  json steps = json::array();
  for (const auto& s : t.value("steps", json::array()))
    steps.push_back({{"kind", s.value("kind", std::string())}, {"valid", s.value("valid", true)}});
  v["steps"] = std::move(steps);
  return v;
}

json to_json(const EpisodeRecord& e) {
  json j = episode_header_json(e);
  json turns = json::array();
  for (const auto& t : e.turns) turns.push_back(to_json(t));
  j["turns"] = std::move(turns);
  return j;
}

}  // namespace ecpo::episode
