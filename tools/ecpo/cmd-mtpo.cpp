// CLI verb `ecpo mtpo` (thin: flags → mtpo::run_mtpo → summary).
//   ecpo mtpo --method traj-sft|traj-kto|tree-dpo|tree-kto --run RUNDIR --out DIR [--k 3 --depth 2 --seed S]
//             [--offline | --roles FILE] [--concurrency C] [--temperature 1.0] [--format ecpo] [--prompt zero-shot]
#include <cstdio>

#include "mtpo/mtpo.h"
#include "tools/ecpo/commands.h"
#include "util/text.h"

namespace ecpo::cli {

void register_mtpo_commands(CLI::App& app) {
  auto o = std::make_shared<mtpo::MtpoOptions>();
  auto cache = std::make_shared<std::string>();
  auto* c = app.add_subcommand("mtpo", "multi-turn baselines: trajectory SFT/KTO rows, tree-sampled SDPO/SKTO pairs, with cost per pair");
  c->add_option("--method", o->method, "traj-sft, traj-kto, tree-dpo or tree-kto")->required();
  c->add_option("--run", o->run, "run directory (ecpo simulate --out)")->required();
  c->add_option("--out", o->out, "output directory")->required();
  c->add_option("--k", o->k, "tree: candidates per branch point (the source's turn included)")->capture_default_str();
  c->add_option("--depth", o->depth, "tree: branch at turns 0 .. depth-1")->capture_default_str();
  c->add_option("--seed", o->seed, "tree: sampling seed")->capture_default_str();
  c->add_option("--temperature", o->temperature, "tree with LLM agents: temperature of the branch call")->capture_default_str();
  c->add_option("--concurrency", o->concurrency, "tree: branch points in flight")->capture_default_str();
  c->add_flag("--offline", o->offline, "tree: rule × agenda runs only, no roles file");
  c->add_option("--roles", o->roles, "tree: roles YAML (default: the run's roles file)");
  c->add_option("--format", o->format, "traj-sft rows: ecpo, trl or llamafactory")->capture_default_str();
  c->add_option("--prompt", o->prompt, "trajectory rows: serving prompt variant (zero-shot, few-shot, compact, as-run)")
      ->capture_default_str();
  c->add_option("--cache", *cache, "LLM response cache file (default from the roles file)");
  c->add_flag("--no-cache", o->no_cache, "do not use the LLM response cache");
  c->add_option("settings", o->overrides, "roles.<role>.<key>=value overrides");
  c->callback([o, cache] {
    if (!cache->empty()) o->cache = *cache;
    mtpo::MtpoSummary s = mtpo::run_mtpo(*o);
    const auto& k = s.cost;
    auto per = [&](const char* f) { return k[f].is_null() ? std::string("-") : std::to_string(k[f].get<double>()); };
    std::printf("mtpo %s: %zu pairs/rows; per pair: %s LLM calls, %s tokens, %s trajectories, %s role calls, $%s\n",
                o->method.c_str(), k["pairs"].get<std::size_t>(), per("llm_calls_per_pair").c_str(),
                per("tokens_per_pair").c_str(), per("trajectories_per_pair").c_str(), per("role_calls_per_pair").c_str(),
                per("cost_usd_per_pair").c_str());
    if (s.report.contains("skipped")) std::printf("branch points: %zu, rollouts: %zu, skipped: %s\n",
                                                  s.report["branch_points"].get<std::size_t>(),
                                                  s.report["rollouts"].get<std::size_t>(), s.report["skipped"].dump().c_str());
    const auto h = s.report["heuristic_roles"].get<std::vector<std::string>>();
    std::printf("heuristic roles: %s\n", h.empty() ? "none" : join(h, ", ").c_str());
    for (const auto& f : s.files) std::printf("%s\n", f.string().c_str());
  });
}

}  // namespace ecpo::cli
