// CLI verb `ecpo judge` (thin: flags → eval::judge_command → summary).
//   ecpo judge --a RUNDIR --b RUNDIR [--roles FILE] --out DIR [--offline] [--concurrency C] [--retries 2]
//   ecpo judge --pairs pairs.jsonl [--roles FILE] --out DIR [--offline] [--domain book]
#include <cstdio>

#include "eval/judge.h"
#include "eval/wr.h"
#include "tools/ecpo/commands.h"
#include "util/table.h"
#include "util/text.h"

namespace ecpo::cli {

namespace {
std::string val(const nlohmann::json& j) { return j.is_number() ? std::to_string(j.get<double>()).substr(0, 5) : "-"; }
}  // namespace

void register_judge_commands(CLI::App& app) {
  auto o = std::make_shared<eval::JudgeOptions>();
  auto cache = std::make_shared<std::string>();
  auto* c = app.add_subcommand("judge", "pairwise win rate of run A against expert run B, or rewrites against originals");
  c->add_option("--a", o->a, "run directory judged (ecpo simulate --out)");
  c->add_option("--b", o->b, "the expert's run directory on the same tasks");
  c->add_option("--pairs", o->pairs, "pairs.jsonl: judge each rewrite against its original instead");
  c->add_option("--domain", o->domain, "--pairs: prompt domain (default: the rewrite report's run)");
  c->add_option("--roles", o->roles, "roles YAML with a `judge` role (default $ECPO_ROLES or configs/roles.yaml)");
  c->add_option("--out", o->out, "output directory (wr.json or pairs-judge.json)")->required();
  c->add_flag("--offline", o->offline, "heuristic judge (no model); labelled heuristic in the output");
  c->add_option("--concurrency", o->concurrency, "judge calls in flight")->capture_default_str();
  c->add_option("--retries", o->retries, "new attempts for a failed judgement before it counts as a tie")->capture_default_str();
  c->add_option("--cache", *cache, "LLM response cache file (default from the roles file)");
  c->add_flag("--no-cache", o->no_cache, "do not use the LLM response cache");
  c->add_option("settings", o->overrides, "roles.<role>.<key>=value overrides of the roles file");
  c->callback([o, cache] {
    if (!cache->empty()) o->cache = *cache;
    eval::JudgeSummary s = eval::judge_command(*o);
    const auto& r = s.result;
    if (!o->pairs.empty()) {
      std::printf("rewrite vs original (%s, %zu pairs, both orders): win %s, tie %s, lose %s; bias WR: information "
                  "fidelity %s, coherence %s; position consistency %s; %zu failures\n",
                  r["judge"].get<std::string>().c_str(), r["n"].get<std::size_t>(), val(r["win"]).c_str(),
                  val(r["tie"]).c_str(), val(r["lose"]).c_str(), val(r["bias"]["information_fidelity"]).c_str(),
                  val(r["bias"]["coherence"]).c_str(), val(r["position_consistency"]).c_str(), r["failures"].size());
    } else {
      Table t({"criterion", "WR", "win", "tie", "loss"});
      for (const auto& k : eval::wr_criteria())
        t.row({k, val(r["wr"][k]), std::to_string(r["counts"][k]["win"].get<std::size_t>()),
               std::to_string(r["counts"][k]["tie"].get<std::size_t>()), std::to_string(r["counts"][k]["loss"].get<std::size_t>())});
      std::printf("judge %s: %zu tasks judged in both orders, %zu unmatched, %zu failures, position consistency %s\n%s",
                  r["judge"].get<std::string>().c_str(), r["n"].get<std::size_t>(), r["unmatched"].size(), r["failures"].size(),
                  val(r["position_consistency"]).c_str(), t.str().c_str());
    }
    const auto h = r["heuristic_roles"].get<std::vector<std::string>>();
    std::printf("heuristic roles: %s\n%s\n", h.empty() ? "none" : join(h, ", ").c_str(), s.file.string().c_str());
  });
}

}  // namespace ecpo::cli
