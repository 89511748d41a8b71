// CLI verbs of the persona stage (see commands.h). Thin: flags → library call → summary.
//   ecpo persona build --tasks DIR [--roles FILE] --out personas.jsonl [--limit N] [--concurrency C]
//                      [--offline] [--token-budget T] [--cache PATH | --no-cache] [key=value]...
//   ecpo persona diversity --personas FILE [--bins 10]     max ROUGE-L of each persona vs the others (Fig. 4)
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "llm/roles.h"
#include "sim/persona-build.h"
#include "sim/persona.h"
#include "sim/rouge.h"
#include "tools/ecpo/commands.h"
#include "util/error.h"
#include "util/table.h"

namespace ecpo::cli {

namespace {

struct BuildOpts {
  sim::PersonaBuildOptions build;
  std::string roles, cache;
  bool no_cache = false;
  std::vector<std::string> overrides;
};

void run_build(const BuildOpts& o) {
  std::unique_ptr<llm::RoleSet> roles;
  if (!o.build.offline) {
    std::filesystem::path rp = o.roles.empty() ? llm::default_roles_path() : std::filesystem::path(o.roles);
    llm::RoleSetOptions rso;
    rso.no_cache = o.no_cache;
    if (!o.cache.empty()) rso.cache_path = o.cache;
    roles = std::make_unique<llm::RoleSet>(llm::load_roles(rp, o.overrides), rso);
  }
  auto s = sim::build_personas(o.build, roles.get());
  std::printf("users: %zu  built now: %zu  kept: %zu  failed: %zu  source: %s\n", s.users, s.built, s.kept, s.failed,
              o.build.offline ? "heuristic" : "llm");
  for (const auto& f : s.failures) std::fprintf(stderr, "failed: %s\n", f.c_str());
  if (s.complete) std::printf("personas: %s\n", o.build.out.string().c_str());
  if (s.failed)
    throw Error(std::to_string(s.failed) + " personas failed", o.build.out.string(),
                "rerun the same command: finished personas are kept in " + o.build.out.string() + ".partial");
}

void run_diversity(const std::string& path, int bins) {
  auto personas = sim::read_personas(path);
  if (personas.size() < 2) throw Error("need at least two personas", path);
  std::vector<std::string> texts;
  for (const auto& [id, p] : personas) texts.push_back(sim::persona_text(p));
  std::vector<double> v = sim::max_rouge_l(texts);
  std::vector<double> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  auto q = [&](double p) {  // linear interpolation between order statistics (numpy's default)
    double pos = p * static_cast<double>(sorted.size() - 1);
    std::size_t lo = static_cast<std::size_t>(std::floor(pos));
    std::size_t hi = std::min(lo + 1, sorted.size() - 1);
    return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
  };
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  std::printf("personas: %zu  max ROUGE-L F1 against the others (lower = more diverse)\n", v.size());
  Table qt({"min", "p25", "median", "p75", "p90", "max", "mean"});
  auto f = [](double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", x);
    return std::string(b);
  };
  qt.row({f(sorted.front()), f(q(0.25)), f(q(0.5)), f(q(0.75)), f(q(0.9)), f(sorted.back()), f(mean)});
  std::printf("%s", qt.str().c_str());
  std::vector<std::size_t> hist(static_cast<std::size_t>(bins), 0);
  for (double x : v) hist[std::min(static_cast<std::size_t>(x * bins), static_cast<std::size_t>(bins - 1))]++;
  std::size_t top = *std::max_element(hist.begin(), hist.end());
  for (int b = 0; b < bins; ++b) {
    std::size_t n = hist[static_cast<std::size_t>(b)];
    std::string bar(top ? n * 40 / top : 0, '#');
    std::printf("[%.2f, %.2f%c %4zu %s\n", static_cast<double>(b) / bins, static_cast<double>(b + 1) / bins,
                b + 1 == bins ? ']' : ')', n, bar.c_str());
  }
}

}  // namespace

void register_persona_commands(CLI::App& app) {
  auto* persona = app.add_subcommand("persona", "AILO personas: build from review histories, measure diversity");
  persona->require_subcommand(1);
  auto o = std::make_shared<BuildOpts>();
  auto* build = persona->add_subcommand("build", "one persona per user of a task set (persona role or --offline rules)");
  build->add_option("--tasks", o->build.tasks, "tasks directory (users.jsonl, items.jsonl)")->required();
  build->add_option("--roles", o->roles, "roles YAML with a persona role (default configs/roles.yaml)");
  build->add_option("--out", o->build.out, "personas.jsonl")->required();
  build->add_option("--limit", o->build.limit, "first N users (0 = all)")->capture_default_str();
  build->add_option("--concurrency", o->build.concurrency, "users in flight")->capture_default_str();
  build->add_flag("--offline", o->build.offline, "rule-based personas (no LLM), labelled source: heuristic");
  build->add_option("--token-budget", o->build.token_budget, "review history shown to the role, in tokens")
      ->capture_default_str();
  build->add_option("--domain", o->build.domain, "prompt domain (default: the items' domain)");
  build->add_option("--cache", o->cache, "LLM response cache file");
  build->add_flag("--no-cache", o->no_cache, "do not use the LLM response cache");
  build->add_option("settings", o->overrides, "roles overrides key=value (e.g. roles.persona.model=gpt-4o)");
  build->callback([o] { run_build(*o); });
  auto path = std::make_shared<std::string>();
  auto bins = std::make_shared<int>(10);
  auto* div = persona->add_subcommand("diversity", "each persona's max ROUGE-L against the others (paper Fig. 4)");
  div->add_option("--personas", *path, "personas.jsonl")->required();
  div->add_option("--bins", *bins, "histogram bins")->capture_default_str();
  div->callback([path, bins] { run_diversity(*path, std::max(1, *bins)); });
}

}  // namespace ecpo::cli
