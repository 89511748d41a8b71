// Dry-run estimates per stage: LLM calls, prompt and completion tokens, dollars (configs/prices.yaml) and
// wall time, from the recipe and the data size (counted from finished stages when they exist, else derived
// from the recipe). The per-call figures (tokens per call of each role, calls per turn of each agent and
// user, model throughput) are constants in configs/estimates.yaml, measured on real runs and documented
// there; they are a model, not a promise.
#pragma once
#include <string>
#include <vector>

#include "pipeline/plan.h"
#include "pipeline/recipe.h"

namespace ecpo::pipeline {

struct Estimate {
  double calls = 0;              // LLM calls (the local student's included)
  double prompt_tokens = 0;
  double completion_tokens = 0;
  double usd = 0;
  double seconds = 0;
  std::string basis;             // how the figure was derived, e.g. "200 episodes × 5 turns × 2.0 calls"
};

std::vector<Estimate> estimate_stages(const Recipe& r, const std::vector<Stage>& stages);

}  // namespace ecpo::pipeline
