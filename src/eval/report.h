// `ecpo report`: one self-contained HTML file (inline CSS and SVG, no script, no network) over any mix of
//   run dirs       (run.db or trajectories.jsonl, metrics.json)        → runs table, EC plots, episodes
//   judge dirs     (wr.json, <name>/wr.json, pairs-judge.json)         → WR per criterion, rewrite judging
//   rewrite dirs   (rewrite-report.json, pairs.jsonl, cost.json)       → rejections, pairs per λ, diffs
//   mtpo dirs      (cost.json)                                         → cost per pair per method
//   training dirs  (metrics.jsonl: one line per optimiser step)        → loss and reward curves
// Element ids the tests and readers rely on: #heuristic, #runs, #costs, #wr, #rewrite, #diffs, #episodes,
// #plot-ec-turn, #plot-ec-hist, #plot-lambda, #plot-calls, #plot-trajectories, #plot-loss, #plot-rewards.
// It says which roles were heuristic, read from the runs' records, the rewrite reports and the judges.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ecpo/pairs.h"
#include "ecpo/run-reader.h"

namespace ecpo::eval {

struct ReportRun {
  std::string name;
  pref::RunData data;
  nlohmann::json metrics;  // metrics.json, or computed from the episodes
};
struct ReportJudge {
  std::string name;
  nlohmann::json wr;       // wr.json
};
struct ReportPairsJudge {
  std::string name;
  nlohmann::json result;   // pairs-judge.json
};
struct ReportRewrite {
  std::string name;
  std::filesystem::path dir;
  nlohmann::json report, cost;
  std::vector<pref::Pair> pairs;
};
struct ReportMethod {  // a cost.json (mtpo dirs; rewrite dirs add theirs too)
  std::string name;
  nlohmann::json cost;
};
struct ReportTraining {
  std::string name;
  std::vector<nlohmann::json> steps;  // metrics.jsonl lines with a numeric step
};

struct ReportInputs {
  std::vector<ReportRun> runs;
  std::vector<ReportJudge> judges;
  std::vector<ReportPairsJudge> pair_judges;
  std::vector<ReportRewrite> rewrites;
  std::vector<ReportMethod> methods;
  std::vector<ReportTraining> trainings;
};

// Classifies and reads every path. Throws ecpo::Error for a path that is none of the kinds above.
ReportInputs collect_report_inputs(const std::vector<std::filesystem::path>& paths);

struct ReportOptions {
  std::string title = "ecpo report";
  std::size_t max_episodes = 100;  // per run in the episode browser
  std::size_t max_diffs = 60;      // original-vs-rewrite diffs shown per rewrite dir
};

std::string render_report(const ReportInputs& in, const ReportOptions& opts);

// collect + render + write `out` atomically.
void write_report(const std::vector<std::filesystem::path>& paths, const std::filesystem::path& out,
                  const ReportOptions& opts);

}  // namespace ecpo::eval
