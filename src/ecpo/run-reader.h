// Reading a finished simulation run (RUNDIR from `ecpo simulate`) for the stages after it: the resolved
// config, every episode as its trajectories.jsonl JSON (from run.db when present, else trajectories.jsonl),
// the run's own cost (LLM calls, tokens, dollars, role invocations) and which roles were heuristic.
// Records are checked for the fields later stages read; a run written by an older format is refused with
// a hint. Read-only: nothing in RUNDIR changes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ecpo/cost.h"

namespace ecpo::pref {

struct RunData {
  std::filesystem::path dir;
  nlohmann::json config = nlohmann::json::object();  // the run's resolved config (run.db meta / config.yaml)
  std::string domain, agent, user;
  std::vector<nlohmann::json> episodes;                // by task index
  std::vector<std::string> heuristic_roles;            // e.g. "agent (rule)", "user_sim (agenda)"
  Cost cost;                                           // what producing these episodes cost
  std::string source;                                  // "run.db" | "trajectories.jsonl"
};

// Loads RUNDIR. Throws ecpo::Error when it is not a run directory, or a record lacks a field the ECPO
// stages need (older format: the hint says how to re-export or re-run).
RunData load_run(const std::filesystem::path& run_dir);

// Only the run's resolved config (run.db meta 'config', else config.yaml); throws ecpo::Error when absent.
nlohmann::json load_run_config(const std::filesystem::path& run_dir);

// The roles of a run that no LLM played, from its config ("models") and its turns' EC raters.
std::vector<std::string> run_heuristic_roles(const nlohmann::json& config, const std::vector<nlohmann::json>& episodes);

// Role invocations an episode needed, whoever served them: agent steps + user utterances (opener, one per
// later turn, the closing one) + EC ratings. The offline proxy for LLM calls.
std::size_t episode_role_calls(const nlohmann::json& episode);

// Checks one episode record (as trajectories.jsonl holds it); throws ecpo::Error naming `where`.
void check_episode_format(const nlohmann::json& episode, const std::string& where);

// Adds `more` to `roles` (no duplicates, order kept).
void add_heuristic_roles(std::vector<std::string>& roles, const std::vector<std::string>& more);

}  // namespace ecpo::pref
