// Runs a planned pipeline: each stage whose stamp is missing or stale runs its commands as child processes
// of this binary (output shown and kept in <run>/logs/<stage>.log); a finished stage is skipped. Non-resumable
// stages write into <stage>.partial/ and are renamed into place only when every command succeeded, so a kill
// at any moment leaves either the old finished stage or nothing; simulations continue with --resume. The same
// command after a kill therefore continues where it stopped and ends with the same outputs.
// Not here: what the stages are (plan.h).
#pragma once
#include <filesystem>
#include <iosfwd>
#include <string>
#include <vector>

#include "pipeline/plan.h"
#include "pipeline/recipe.h"

namespace ecpo::pipeline {

struct RunOptions {
  bool dry_run = false;
  std::string from;           // rerun this stage and every stage after it, even when up to date
  std::string only;           // run just this stage (its upstream stages must be finished)
  std::filesystem::path exe;  // binary that runs the stage commands (default: this process's executable)
  bool echo = true;           // copy the stages' output to stdout
  bool check_roles = true;    // online recipes: probe every role of the roles file before the first stage runs
};

struct StageState {
  std::string name;
  std::string state;  // "up to date" | "ran" | "pending" (dry run) | "stale" (dry run) | "not selected"
  double seconds = 0;
};

// Runs (or, with dry_run, only inspects) the stages. Throws ecpo::Error naming the stage, its failing command
// and its log file when a command fails; finished stages keep their stamps.
std::vector<StageState> pipeline_run(const Recipe& r, const std::vector<Stage>& stages, const RunOptions& o,
                                     std::ostream& out);

// Probes every role of an online recipe's roles file (as `ecpo llm check`); throws ecpo::Error naming the first
// role that cannot be reached, with its endpoint and the reason. Offline recipes: nothing to check.
void check_recipe_roles(const Recipe& r, std::ostream& out);

// The fingerprint a stage would have now ("" when an upstream stage is not finished).
std::string stage_fingerprint(const Recipe& r, const Stage& s);

}  // namespace ecpo::pipeline
