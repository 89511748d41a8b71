// What `ecpo pipeline` prints: the plan of a dry run (stage, state, command, estimated calls / tokens /
// dollars / time) and, after a run, the results table in the shape of the paper's Table 1 rows — base →
// SGPT → ECPO → expert with SR, R, WR per criterion, mean EC and the invalid-action rate — followed by the
// pair counts per λ and the report's path. Read from the stages' own outputs (metrics.json, wr.json,
// rewrite-report.json), never recomputed.
#pragma once
#include <iosfwd>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/estimate.h"
#include "pipeline/plan.h"
#include "pipeline/recipe.h"
#include "pipeline/run.h"

namespace ecpo::pipeline {

void print_plan(std::ostream& out, const Recipe& r, const std::vector<Stage>& stages,
                const std::vector<StageState>& states, const std::vector<Estimate>& estimates);

// The results of a finished (or partly finished) run tree as JSON: {rows:[{model, sr, recall, wr{…}, ec_mean,
// invalid_action_rate, episodes}], pairs:{λ: n}, heuristic_roles:[…], report}.
nlohmann::json collect_results(const Recipe& r);
void print_results(std::ostream& out, const Recipe& r);

}  // namespace ecpo::pipeline
