// The pipeline's stage table: for a resolved recipe, every stage in order with what it depends on, the part
// of the config it hashes, the `ecpo` verbs it runs and the files it must leave behind. Each stage is a
// sequence of ordinary CLI invocations of this same binary, so a stage can always be rerun, inspected or
// replaced by hand with the command the plan prints.
//   data → tasks → personas → index → sim-expert → sgpt → student → train-sft → sim-sgpt → rewrite → pairs
//   → train-dpo → test-base, test-sgpt, test-ecpo, test-expert → judge → report
// Not here: fingerprints (stamp.h), running and skipping (run.h), cost estimates (estimate.h).
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/recipe.h"

namespace ecpo::pipeline {

using Argv = std::vector<std::string>;  // arguments after the binary name

struct Stage {
  std::string name;                             // directory name under the run tree, e.g. "sim-expert"
  std::string what;                             // one line for the plan
  std::vector<std::string> deps;                // upstream stages whose outputs it reads
  nlohmann::json config;                        // the settings it depends on (hashed into its fingerprint)
  std::vector<std::filesystem::path> external;  // inputs outside the run tree (raw dumps, a base model)
  std::vector<std::string> outputs;             // files (relative to its dir) that a finished run leaves
  // The outputs whose bytes define what downstream stages see (default: all of `outputs`); files that carry
  // wall-clock figures (metrics.json with episodes/s, training throughput) are left out so a rerun that
  // reproduces the same data does not invalidate everything after it.
  std::vector<std::string> hashed;
  // Simulations run in place and continue with --resume after a kill; every other stage runs in a scratch
  // directory that is renamed into place only when all its commands succeeded.
  bool resumable = false;
  // Files a stage writes before its commands (e.g. the roles file that points the agent at a student
  // adapter): name relative to the run tree (beside the stage's directory, which its verb wants empty) →
  // content.
  std::function<std::vector<std::pair<std::string, std::string>>(const std::filesystem::path& run)> files;
  // The commands, given the directory to write into (`work`) and the run tree (`run`, where the finished
  // upstream stages live). `resume` asks a resumable stage to continue what is in `work`.
  std::function<std::vector<Argv>(const std::filesystem::path& work, const std::filesystem::path& run, bool resume)>
      commands;
};

// The stages of a recipe, in execution order. Throws ecpo::Error naming the recipe key for a setting that
// cannot be planned (e.g. an online recipe without a roles file).
std::vector<Stage> plan_stages(const Recipe& r);

// The names of every stage the pipeline knows, in order (for --from / --only validation).
const std::vector<std::string>& stage_names();

// A command as one shell-quoted line ("ecpo simulate --tasks ...").
std::string argv_display(const Argv& a);

}  // namespace ecpo::pipeline
