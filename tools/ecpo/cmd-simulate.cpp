// CLI verb of the episode stage (see commands.h). Thin: flags → episode::simulate → summary table.
//   ecpo simulate --tasks DIR --split test|train --index DIR --agent actcrs|react|chatrec|macrs|rule
//                 --user ailo|ailo-fused|ievalm|agenda [--personas FILE] [--roles FILE] --out RUNDIR
//                 [--limit N] [--offset N] [--turns 5] [--top-k 5] [--concurrency 32] [--seed S] [--resume]
//                 [--cache PATH | --no-cache] [key=value]...   (sim.final_rating=false, agent.prompt=compact, ...)
//   ecpo simulate export --run RUNDIR                            rebuild trajectories.jsonl and metrics.json
#include <cstdio>

#include "episode/simulate.h"
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

namespace {
void print_summary(const episode::SimulateSummary& s) {
  std::printf("%s", episode::metrics_table(s.metrics).str().c_str());
  if (s.skipped) std::printf("resumed: %zu episodes kept from before, %zu run now\n", s.skipped, s.ran);
  if (s.wall_s > 0 && s.ran)
    std::printf("time: %.2f s (%.1f episodes/s)\n", s.wall_s, static_cast<double>(s.ran) / s.wall_s);
  std::printf("trajectories: %s\nmetrics: %s\n", s.trajectories.string().c_str(), s.metrics_file.string().c_str());
}
}  // namespace

void register_simulate_commands(CLI::App& app) {
  auto o = std::make_shared<episode::SimulateOptions>();
  auto cache = std::make_shared<std::string>();
  auto* sim = app.add_subcommand("simulate", "run agent ⇄ user-simulator episodes into a run directory");
  sim->add_option("--tasks", o->tasks, "tasks directory (ecpo tasks build)");
  sim->add_option("--split", o->split, "test or train")->capture_default_str();
  sim->add_option("--index", o->index, "retrieval index directory (ecpo index build over the tasks' items.jsonl)");
  sim->add_option("--agent", o->agent, "actcrs, react, chatrec, macrs or rule");
  sim->add_option("--user", o->user, "ailo, ailo-fused, ievalm or agenda");
  sim->add_option("--personas", o->personas, "personas.jsonl (ecpo persona build); default: built offline");
  sim->add_option("--roles", o->roles, "roles YAML (default $ECPO_ROLES or configs/roles.yaml)");
  sim->add_option("--out", o->out, "run directory (RUNDIR/run.db, trajectories.jsonl, metrics.json)");
  sim->add_option("--limit", o->limit, "run the first N tasks of the split (0 = all)")->capture_default_str();
  sim->add_option("--offset", o->offset, "skip the first N tasks of the split (SGPT and ECPO runs on disjoint tasks)")
      ->capture_default_str();
  sim->add_option("--turns", o->turns, "agent turns per episode at most")->capture_default_str();
  sim->add_option("--top-k", o->top_k, "items per retrieval")->capture_default_str();
  sim->add_option("--concurrency", o->concurrency, "episodes in flight")->capture_default_str();
  sim->add_option("--seed", o->seed, "run seed (each episode's seed derives from it and the task id)")
      ->capture_default_str();
  sim->add_flag("--resume", o->resume, "continue a killed run in --out (finished episodes are kept)");
  sim->add_option("--cache", *cache, "LLM response cache file (default from the roles file)");
  sim->add_flag("--no-cache", o->no_cache, "do not use the LLM response cache");
  sim->add_option("settings", o->overrides,
                  "key=value: sim.final_rating, sim.extra_raters, sim.leak_threshold, sim.parallel_ec, agent.prompt "
                  "(zero-shot|few-shot|compact), agent.max_search_chain, agent.description_chars, roles.<role>.<key>");
  auto run_dir = std::make_shared<std::string>();
  auto* exp = sim->add_subcommand("export", "rebuild trajectories.jsonl and metrics.json from RUNDIR/run.db");
  exp->add_option("--run", *run_dir, "run directory")->required();
  exp->callback([run_dir] { print_summary(episode::export_run(*run_dir)); });
  sim->callback([sim, exp, o, cache] {
    if (exp->parsed()) return;
    for (const char* req : {"--tasks", "--index", "--agent", "--user", "--out"})
      if (sim->count(req) == 0) throw CLI::RequiredError(req);
    if (!cache->empty()) o->cache = *cache;
    print_summary(episode::simulate(*o));
  });
}

}  // namespace ecpo::cli
