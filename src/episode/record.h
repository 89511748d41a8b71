// Episode and turn records (DESIGN "episode"/"turn" formats) and their JSON: what trajectories.jsonl holds
// and run.db stores. A turn is one agent reply: the user's utterance that prompted it (policy, utterance),
// every agent step (exactly the messages its model saw, the output, the action, the items retrieved), the
// final step's agent_state / agent_output / action, the EC of the reply, and the ids of its LLM calls.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "llm/call-log.h"
#include "sim/ec.h"

namespace ecpo::episode {

struct TurnRecord {
  int index = 0;
  std::string user_policy, user_utterance, user_reason;
  nlohmann::json user_events = nlohmann::json::array();
  agent::AgentTurn agent;
  std::vector<std::string> retrieved;     // every item id retrieved in the turn, in order (duplicates kept)
  std::optional<sim::EcScore> ec;         // EC of this turn's agent reply
  bool success = false;                   // this reply recommends the target (§8.3)
  bool success_substring = false;         // the official substring rule on this reply
  std::vector<std::int64_t> calls;        // ids into llm_calls (set when the episode is stored)
};

struct EpisodeRecord {
  std::string episode_id;
  std::string task_id;
  std::size_t task_index = 0;
  std::string agent, user;
  nlohmann::json models = nlohmann::json::object();  // role → model name
  std::uint64_t seed = 0;
  std::string target_item_id;
  bool success = false, success_substring = false, recall = false, failed = false;
  int success_turn = -1;  // index of the first successful turn
  std::string error;
  std::vector<TurnRecord> turns;
  nlohmann::json end = nullptr;  // the user's closing step {policy, utterance, reason, calls[]} or null
  std::string persona_source;    // llm | heuristic | "" (no persona)
  std::vector<llm::CallRecord> call_records;  // the calls of this episode (stored in llm_calls)
  std::vector<std::int64_t> end_calls;         // ids of calls after the last turn (the closing step)
  double wall_ms = 0;                          // not part of the trajectory (kept in run.db)
};

nlohmann::json to_json(const agent::AgentStep& s);
nlohmann::json to_json(const TurnRecord& t);
// The trajectories.jsonl line: episode_id, task_id, agent, user, turns[…], success, success_substring,
// recall, failed, error, and the extra fields (task_index, models, seed, success_turn, end, ...).
nlohmann::json to_json(const EpisodeRecord& e);
// The episode line without turns (run.db stores turns as rows of their own).
nlohmann::json episode_header_json(const EpisodeRecord& e);
// A turn's JSON reduced to what run metrics read: index, failed, ec, user.events, steps[{kind, valid}].
nlohmann::json metrics_view_of_turn(const nlohmann::json& turn);

}  // namespace ecpo::episode
