// CLI verb `ecpo rewrite` (thin: flags → pref::rewrite_run → summary).
//   ecpo rewrite --run RUNDIR [--roles FILE] --lambda 1,2,3,4,5 --out DIR [--concurrency C] [--offline]
//                [--items FILE] [--cache PATH | --no-cache] [rewrite.max_edit_ratio=0.8] [roles.<role>.<key>=v]
#include <cstdio>

#include "ecpo/rewrite.h"
#include "tools/ecpo/commands.h"
#include "util/table.h"
#include "util/text.h"

namespace ecpo::cli {

void register_rewrite_commands(CLI::App& app) {
  auto o = std::make_shared<pref::RewriteOptions>();
  auto lambdas = std::make_shared<std::string>("1,2,3,4,5");
  auto cache = std::make_shared<std::string>();
  auto* c = app.add_subcommand("rewrite", "backward expectation derivation: rewrite turns scored below λ into preference pairs");
  c->add_option("--run", o->run, "run directory (ecpo simulate --out)")->required();
  c->add_option("--roles", o->roles, "roles YAML with a `rewriter` role (default $ECPO_ROLES or configs/roles.yaml)");
  c->add_option("--lambda", *lambdas, "λ values (1..5); a pair of score s belongs to every λ > s")->capture_default_str();
  c->add_option("--out", o->out, "output directory: pairs.jsonl, rewrite-report.json, cost.json")->required();
  c->add_option("--concurrency", o->concurrency, "rewriter calls in flight")->capture_default_str();
  c->add_flag("--offline", o->offline, "heuristic rewriter (no model); labelled heuristic in every output");
  c->add_option("--items", o->items, "item database (default: items.jsonl of the run's tasks directory)");
  c->add_option("--cache", *cache, "LLM response cache file (default from the roles file)");
  c->add_flag("--no-cache", o->no_cache, "do not use the LLM response cache");
  c->add_option("settings", o->overrides, "key=value: rewrite.max_edit_ratio (0.8), rewrite.title_threshold (0.9), roles.<role>.<key>");
  c->callback([o, lambdas, cache] {
    o->lambdas = pref::parse_lambdas(*lambdas);
    if (!cache->empty()) o->cache = *cache;
    pref::RewriteSummary s = pref::rewrite_run(*o);
    const auto& r = s.report;
    std::printf("rewrite (%s): %zu candidates, %zu accepted, %zu rejected\n", r["rewriter"].get<std::string>().c_str(),
                r["candidates"].get<std::size_t>(), r["accepted"].get<std::size_t>(), r["rejected_total"].get<std::size_t>());
    Table t({"rejected because", "count"});
    for (const auto& [k, v] : r["rejected"].items()) t.row({k, std::to_string(v.get<int>())});
    std::printf("%s", t.str().c_str());
    Table l({"λ", "candidates", "pairs"});
    for (const auto& [k, v] : r["pairs_per_lambda"].items())
      l.row({k, std::to_string(r["candidates_per_lambda"][k].get<std::size_t>()), std::to_string(v.get<std::size_t>())});
    std::printf("%s", l.str().c_str());
    auto per = [&](const char* k) { return s.cost[k].is_null() ? std::string("-") : std::to_string(s.cost[k].get<double>()); };
    std::printf("per pair: %s LLM calls, %s tokens, %s trajectories, $%s\n", per("llm_calls_per_pair").c_str(),
                per("tokens_per_pair").c_str(), per("trajectories_per_pair").c_str(), per("cost_usd_per_pair").c_str());
    const auto h = r["heuristic_roles"].get<std::vector<std::string>>();
    std::printf("heuristic roles: %s\n", h.empty() ? "none" : join(h, ", ").c_str());
    std::printf("pairs: %s\nreport: %s\ncost: %s\n", s.pairs_file.string().c_str(), s.report_file.string().c_str(),
                s.cost_file.string().c_str());
  });
}

}  // namespace ecpo::cli
