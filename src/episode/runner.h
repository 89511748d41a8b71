// One episode: the user opens, then for at most max_turns turns the agent replies and the user rates that
// reply (EC) and answers, until the user ends the conversation (docs/protocol.md §4, with the final reply
// rated when final_rating is on, D6). Success, the substring variant and recall are judged here (§8.3).
// An LLM failure (after the client's retries) ends the episode as failed, with the reason; it never throws.
// Calls are tagged with the episode id and turn (CallContextScope); the caller collects them.
#pragma once
#include <cstdint>
#include <string>

#include "agent/agent.h"
#include "data/types.h"
#include "episode/record.h"
#include "sim/user-sim.h"

namespace ecpo::episode {

struct EpisodeSetup {
  std::string episode_id;
  std::size_t task_index = 0;
  data::Task task;
  data::Item target;
  std::string agent_kind, user_kind;
  int max_turns = 5;
  bool final_rating = true;
  double title_threshold = 0.90;
  std::uint64_t seed = 0;
};

// Runs the episode with agent and user already built for it.
EpisodeRecord run_episode(const EpisodeSetup& setup, agent::Agent& agent, sim::UserSimulator& user);

// A stable per-episode seed from the run seed and the task id (FNV-1a 64; the same on every platform).
std::uint64_t episode_seed(std::uint64_t run_seed, const std::string& task_id);

}  // namespace ecpo::episode
