// `ecpo pipeline RECIPE [key=value …] [--dry-run] [--from STAGE] [--only STAGE]`: every stage of the method
// in one command (src/pipeline). Prints the plan with its estimates on --dry-run; otherwise runs what is not
// up to date and ends with the results table (base → SGPT → ECPO → expert) and the report's path.
#include <iostream>

#include "pipeline/estimate.h"
#include "pipeline/plan.h"
#include "pipeline/recipe.h"
#include "pipeline/results.h"
#include "pipeline/run.h"
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_pipeline_commands(CLI::App& app) {
  struct Opts {
    std::string recipe;
    std::vector<std::string> overrides;
    bool dry_run = false;
    std::string from, only;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("pipeline", "run every stage of a recipe (data → … → report), skipping finished ones");
  c->add_option("recipe", o->recipe, "recipe YAML (configs/quickstart.yaml, configs/paper-book.yaml, …)")->required();
  c->add_option("overrides", o->overrides, "recipe overrides, e.g. splits.test_tasks=20 out_dir=runs/x");
  c->add_flag("--dry-run", o->dry_run, "print the plan with estimated LLM calls, tokens, dollars and time; run nothing");
  c->add_option("--from", o->from, "rerun this stage and every later one, even when up to date");
  c->add_option("--only", o->only, "run only this stage (its inputs must be finished)");
  c->callback([o] {
    pipeline::Recipe r = pipeline::recipe_load(o->recipe, o->overrides);
    std::vector<pipeline::Stage> stages = pipeline::plan_stages(r);
    pipeline::RunOptions ro;
    ro.dry_run = o->dry_run;
    ro.from = o->from;
    ro.only = o->only;
    if (o->dry_run) {
      auto states = pipeline::pipeline_run(r, stages, ro, std::cout);
      pipeline::print_plan(std::cout, r, stages, states, pipeline::estimate_stages(r, stages));
      return;
    }
    pipeline::pipeline_run(r, stages, ro, std::cout);
    pipeline::print_results(std::cout, r);
  });
}

}  // namespace ecpo::cli
