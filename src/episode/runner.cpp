// The episode loop (see runner.h).
#include "episode/runner.h"

#include <chrono>
#include <exception>

#include "llm/call-context.h"
#include "sim/title-match.h"

namespace ecpo::episode {

std::uint64_t episode_seed(std::uint64_t run_seed, const std::string& task_id) {
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(run_seed >> (8 * i)));
  for (unsigned char c : task_id) mix(c);
  return h;
}

EpisodeRecord run_episode(const EpisodeSetup& s, agent::Agent& agent, sim::UserSimulator& user) {
  auto t0 = std::chrono::steady_clock::now();
  EpisodeRecord e;
  e.episode_id = s.episode_id;
  e.task_id = s.task.task_id;
  e.task_index = s.task_index;
  e.agent = s.agent_kind;
  e.user = s.user_kind;
  e.seed = s.seed;
  e.target_item_id = s.task.target_item_id;
  const bool grammar = agent::agent_uses_grammar(s.agent_kind);
  llm::CallContextScope episode_scope({s.episode_id, 0, "", false});
  sim::Dialogue dialogue;
  try {
    sim::UserStep step = user.open();
    for (int t = 0; t < s.max_turns; ++t) {
      TurnRecord turn;
      turn.index = t;
      turn.user_policy = step.policy;
      turn.user_utterance = step.utterance;
      turn.user_reason = step.reason;
      turn.user_events = step.events;
      dialogue.push_back({"user", step.utterance, step.policy});
      {
        llm::CallContextScope scope({s.episode_id, t, "", false});
        turn.agent = agent.act(dialogue);
      }
      for (const auto& st : turn.agent.steps)
        for (const auto& id : st.retrieved) {
          turn.retrieved.push_back(id);
          if (id == s.task.target_item_id) e.recall = true;
        }
      const std::string& reply = turn.agent.reply;
      turn.success = !turn.agent.failed && (!grammar || turn.agent.act == "recommend") &&
                     sim::text_names_title(reply, s.target.title, s.title_threshold);
      turn.success_substring = !turn.agent.failed && sim::substring_names_title(reply, s.target.title);
      if (turn.success && !e.success) {
        e.success = true;
        e.success_turn = t;
      }
      e.success_substring = e.success_substring || turn.success_substring;
      dialogue.push_back({"assistant", reply, turn.agent.act});
      e.turns.push_back(std::move(turn));
      if (t + 1 == s.max_turns) {
        if (s.final_rating) e.turns.back().ec = user.rate(dialogue, t);
        break;
      }
      step = user.respond(dialogue, t);
      e.turns.back().ec = step.ec;
      if (step.end) {
        e.end = {{"policy", step.policy}, {"utterance", step.utterance}, {"reason", step.reason}};
        if (!step.events.empty()) e.end["events"] = step.events;
        break;
      }
    }
  } catch (const std::exception& ex) {
    e.failed = true;
    e.error = ex.what();
    // A failed episode counts as a failure (§8.3), whatever its turns achieved before the error.
    e.success = e.success_substring = false;
    e.success_turn = -1;
  }
  e.wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return e;
}

}  // namespace ecpo::episode
