// Re-simulating episodes of a finished run (the tree baselines' rollouts): everything `ecpo simulate` used
// — tasks, item DB, retriever, personas, simulator options, LLM roles — is rebuilt from the run's config,
// and one task is run again with the run's agent and user kinds and the source episode's own seed, so a
// rollout replays the source episode until the agent acts differently. Rule agents take a chooser
// (AgentOptions::choose); LLM agents a model wrapper that samples the first call of one turn.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "data/types.h"
#include "ecpo/run-reader.h"
#include "llm/call-log.h"
#include "llm/roles.h"
#include "retrieval/retriever.h"
#include "sim/catalog.h"
#include "sim/persona.h"
#include "sim/user-sim.h"

namespace ecpo::mtpo {

struct RolloutSetup {
  std::filesystem::path roles;        // roles YAML (LLM roles); empty: the run's roles file, else the default
  bool offline = false;               // refuse runs whose roles were served by models
  bool no_cache = false;
  std::optional<std::filesystem::path> cache;
  std::vector<std::string> overrides; // roles.<role>.<key>=v
};

class RolloutContext {
 public:
  // Throws ecpo::Error when the run's inputs are gone (tasks, index), or a needed role is missing.
  RolloutContext(const pref::RunData& run, const RolloutSetup& setup);

  // Runs the task of `source` (an episode of the run) again as episode `rollout_id`, with `deps` (a copy of
  // base_deps() with a chooser or a model wrapper). Returns its trajectories.jsonl JSON. Never throws for a
  // failing episode (failed: true, error: why).
  nlohmann::json run(const nlohmann::json& source, const std::string& rollout_id, const agent::AgentDeps& deps) const;

  const agent::AgentDeps& base_deps() const { return deps_; }
  bool agent_uses_llm() const { return agent::agent_uses_llm(agent_); }
  const std::string& agent_kind() const { return agent_; }
  const std::string& user_kind() const { return user_; }
  // Calls of every rollout so far (the roles' accounting sink).
  std::vector<llm::CallRecord> calls() const { return sink_->records(); }
  const llm::PriceTable* prices() const { return roles_ ? roles_->config().prices.get() : nullptr; }
  const sim::ItemCatalog& catalog() const { return *catalog_; }

 private:
  std::string domain_, agent_, user_;
  int turns_ = 5;
  std::map<std::string, data::Task> tasks_;
  std::shared_ptr<sim::ItemCatalog> catalog_;
  std::unique_ptr<retrieval::Retriever> retriever_;
  std::map<std::string, sim::Persona> personas_;
  sim::SimOptions sim_;
  sim::SimRoles sim_roles_;
  agent::AgentDeps deps_;
  std::unique_ptr<llm::RoleSet> roles_;
  std::shared_ptr<llm::MemoryCallSink> sink_ = std::make_shared<llm::MemoryCallSink>();
  nlohmann::json models_;
};

// A ChatModel for one rollout: the first call of turn `turn` is sampled (temperature, seed), every other
// call goes through unchanged (so the prefix replays the source, from the cache when it ran at temperature 0).
// Single-threaded use (one rollout runs on one thread).
class BranchModel : public llm::ChatModel {
 public:
  BranchModel(std::shared_ptr<llm::ChatModel> inner, int turn, double temperature, std::uint64_t seed)
      : inner_(std::move(inner)), turn_(turn), temperature_(temperature), seed_(seed) {}
  llm::ChatResult chat(const std::vector<llm::Message>& messages, const llm::ChatParams& params) override;
  std::string model_name() const override { return inner_->model_name(); }
  bool sampled() const { return sampled_; }

 private:
  std::shared_ptr<llm::ChatModel> inner_;
  int turn_;
  double temperature_;
  std::uint64_t seed_;
  bool sampled_ = false;
};

}  // namespace ecpo::mtpo
