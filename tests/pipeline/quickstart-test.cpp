// The offline quickstart end to end through the real binary, reduced to fit CI: `ecpo pipeline
// configs/quickstart.yaml` with smaller splits. It checks what a newcomer relies on: every stage runs, the closing
// table and the report appear, the SGPT student's invalid-action rate falls far below the untrained student's
// (issue #16), and the dry-run's call estimate of every stage, made before the run, is within 10 % of the calls
// the run made (zero where the stage made none). A second run skips every stage.
#include <cstdio>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "pipeline/estimate.h"
#include "pipeline/plan.h"
#include "pipeline/recipe.h"
#include "util/fs.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::string run_capture(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  *status = ::pclose(p);
  return out;
}

TEST(Quickstart, ReducedRunLearnsReportsAndMatchesItsDryRun) {
  const fs::path out = fs::temp_directory_path() / ("ecpo-quickstart-" + std::to_string(::getpid()));
  fs::remove_all(out);
  // One SFT epoch (the recipe runs more): enough to learn the grammar, and it keeps CI's time in check.
  const std::vector<std::string> overrides = {"out_dir=" + out.string(), "splits.sgpt_tasks=200",
                                              "splits.ecpo_tasks=40", "splits.test_tasks=16", "train_sft.epochs=1"};
  // The estimates, as --dry-run prints them, before anything exists.
  ASSERT_EQ(::chdir(ECPO_SOURCE_DIR), 0);
  ::setenv("ECPO_PIPELINE_DEFAULTS", (fs::path(ECPO_SOURCE_DIR) / "configs" / "pipeline-defaults.yaml").c_str(), 1);
  const ecpo::pipeline::Recipe recipe = ecpo::pipeline::recipe_load("configs/quickstart.yaml", overrides);
  const auto stages = ecpo::pipeline::plan_stages(recipe);
  const auto estimates = ecpo::pipeline::estimate_stages(recipe, stages);
  ASSERT_EQ(stages.size(), estimates.size());

  std::string cmd = std::string(ECPO_BIN) + " --no-progress pipeline configs/quickstart.yaml";
  for (const auto& o : overrides) cmd += " " + o;
  int status = 0;
  const std::string log = run_capture(cmd + " 2>&1", &status);
  ASSERT_EQ(status, 0) << log.substr(log.size() > 6000 ? log.size() - 6000 : 0);

  // The closing table: base → SGPT → ECPO → expert, the pairs per λ and the report's path.
  for (const char* want : {"base", "sgpt", "ecpo", "expert", "invalid", "report.html"})
    EXPECT_NE(log.find(want), std::string::npos) << want;
  ASSERT_TRUE(fs::exists(out / "report" / "report.html"));
  EXPECT_NE(ecpo::read_file(out / "report" / "report.html").find("heuristic"), std::string::npos);

  // The student learns the action grammar from the expert's successful turns.
  const json base = json::parse(ecpo::read_file(out / "test-base" / "metrics.json"));
  const json sgpt = json::parse(ecpo::read_file(out / "test-sgpt" / "metrics.json"));
  const double inv_base = base["invalid_action_rate"], inv_sgpt = sgpt["invalid_action_rate"];
  EXPECT_GE(inv_base, 0.9) << "a random model should fail the grammar";
  EXPECT_LE(inv_sgpt, inv_base - 0.5) << "SGPT " << inv_sgpt << " vs untrained " << inv_base;
  for (const json* m : {&base, &sgpt}) EXPECT_TRUE(m->contains("ec_mean"));

  // Dry-run estimates against the calls each stage made.
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const fs::path metrics = out / stages[i].name / "metrics.json";
    double actual = 0;
    if (stages[i].resumable && fs::exists(metrics)) actual = json::parse(ecpo::read_file(metrics)).value("calls", 0.0);
    if (actual == 0) EXPECT_EQ(estimates[i].calls, 0) << stages[i].name;
    else EXPECT_NEAR(estimates[i].calls, actual, 0.10 * actual) << stages[i].name << ": " << estimates[i].basis;
  }

  // The same command again: nothing reruns.
  const std::string again = run_capture(cmd + " 2>&1", &status);
  ASSERT_EQ(status, 0) << again;
  EXPECT_EQ(again.find("$ ecpo"), std::string::npos) << "a finished pipeline ran a command again";
  fs::remove_all(out);
}

}  // namespace
