// The rewrite driver (see rewrite.h).
#include "ecpo/rewrite.h"

#include <algorithm>
#include <map>

#include "llm/roles.h"
#include "util/config.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/text.h"
#include "util/thread-pool.h"

namespace ecpo::pref {

namespace fs = std::filesystem;
using nlohmann::json;

sim::ItemCatalog load_run_catalog(const RunData& run, const fs::path& items) {
  fs::path p = items;
  if (p.empty()) {
    const std::string tasks = run.config.value("tasks", std::string());
    if (tasks.empty())
      throw Error("the run's configuration names no tasks directory", run.dir.string(), "pass --items tasks/items.jsonl");
    p = fs::path(tasks) / "items.jsonl";
  }
  require_exists(p, "item database", "the run's tasks directory has moved: pass --items PATH/items.jsonl");
  return sim::ItemCatalog::load(p);
}

RewritePass rewrite_pass(const RunData& run, Rewriter& rw, const sim::ItemCatalog* catalog, const std::vector<int>& lambdas,
                         const ValidityOptions& vo, std::size_t concurrency, const llm::MemoryCallSink* calls) {
  if (lambdas.empty()) throw Error("no λ given", "--lambda", "e.g. --lambda 1,2,3,4,5");
  const int lmax = *std::max_element(lambdas.begin(), lambdas.end());
  CandidateStats cs;
  std::vector<Candidate> cands;
  for (const auto& e : run.episodes) {
    auto v = episode_candidates(e, lmax, cs);
    for (auto& c : v) cands.push_back(std::move(c));
  }
  struct Slot {
    RewriteOutcome out;
    Verdict verdict;
  };
  std::vector<Slot> slots(cands.size());
  {
    ThreadPool pool(std::max<std::size_t>(1, std::min(concurrency, std::max<std::size_t>(1, cands.size()))));
    pool.parallel_for(cands.size(), [&](std::size_t i) {
      slots[i].out = rw.rewrite(cands[i]);
      if (!slots[i].out.produced) {
        slots[i].verdict.ok = false;
        slots[i].verdict.reason = "rewriter_error";
        slots[i].verdict.detail = slots[i].out.error;
      } else {
        slots[i].verdict = check_rewrite(cands[i], slots[i].out.refinement, catalog, vo);
      }
    });
  }
  RewritePass pass;
  json rejected = json::object(), examples = json::object(), by_action = json::object();
  for (const auto& r : rejection_reasons()) rejected[r] = 0;
  std::size_t accepted = 0;
  for (std::size_t i = 0; i < cands.size(); ++i) {
    const Candidate& c = cands[i];
    const Slot& s = slots[i];
    const std::string type = c.action ? agent::action_type_name(c.action->type) : std::string("reply");
    if (!by_action.contains(type)) by_action[type] = {{"candidates", 0}, {"accepted", 0}};
    by_action[type]["candidates"] = by_action[type]["candidates"].get<int>() + 1;
    if (!s.verdict.ok) {
      rejected[s.verdict.reason] = rejected[s.verdict.reason].get<int>() + 1;
      by_action[type][s.verdict.reason] = by_action[type].value(s.verdict.reason, 0) + 1;
      if (!examples.contains(s.verdict.reason)) examples[s.verdict.reason] = json::array();
      if (examples[s.verdict.reason].size() < 3)
        examples[s.verdict.reason].push_back({{"pair_id", c.pair_id},
                                              {"original", candidate_action_text(c)},
                                              {"refinement", s.out.refinement},
                                              {"detail", s.verdict.detail}});
      continue;
    }
    accepted++;
    by_action[type]["accepted"] = by_action[type]["accepted"].get<int>() + 1;
    Pair p;
    p.pair_id = c.pair_id;
    p.episode_id = c.episode_id;
    p.task_id = c.task_id;
    p.turn = c.turn;
    p.step = c.step;
    p.kind = c.kind;
    p.action_type = type;
    p.prompt = c.prompt;
    std::string refined = s.out.refinement;
    if (c.action) refined = agent::format_action(*agent::parse_action(trim(refined)));
    p.chosen = rewritten_output(c, refined);
    p.rejected = c.original;
    p.score = c.ec.score;
    p.reason = c.ec.reason;
    p.lambda_max = lmax;
    p.rewriter = rw.label();
    p.rewrite_reason = s.out.thinking;
    p.edit_ratio = s.verdict.edit_ratio;
    p.dialogue = c.dialogue;
    pass.pairs.push_back(std::move(p));
  }
  json cand_per_lambda = json::object();
  for (int l : lambdas) {
    std::size_t n = 0;
    for (const auto& c : cands)
      if (pair_in_lambda(c.ec.score, l)) n++;
    cand_per_lambda[std::to_string(l)] = n;
  }
  if (calls) pass.rewriter_cost = cost_of_calls(calls->records(), nullptr);
  pass.rewriter_cost.role_calls = cands.size();
  std::vector<std::string> heur = run.heuristic_roles;
  if (rw.heuristic()) add_heuristic_roles(heur, {"rewriter (heuristic)"});
  pass.report = {{"run", fs::absolute(run.dir).lexically_normal().string()},
                 {"rewriter", rw.label()},
                 {"heuristic", rw.heuristic()},
                 {"heuristic_roles", heur},
                 {"lambdas", lambdas},
                 {"lambda_max", lmax},
                 {"max_edit_ratio", vo.max_edit_ratio},
                 {"candidates", cands.size()},
                 {"accepted", accepted},
                 {"rejected", rejected},
                 {"rejected_total", cands.size() - accepted},
                 {"pairs_per_lambda", pairs_per_lambda(pass.pairs, lambdas)},
                 {"candidates_per_lambda", cand_per_lambda},
                 {"by_action", by_action},
                 {"candidate_selection", to_json(cs)},
                 {"rejection_examples", examples},
                 {"rewriter_cost", to_json(pass.rewriter_cost)}};
  return pass;
}

RewriteSummary rewrite_run(const RewriteOptions& o) {
  if (o.out.empty()) throw Error("no output directory", "--out", "pass --out DIR");
  if (o.lambdas.empty()) throw Error("no λ given", "--lambda", "e.g. --lambda 1,2,3,4,5");
  for (int l : o.lambdas) check_lambda(l);
  if (o.concurrency < 1) throw Error("--concurrency must be at least 1", "--concurrency");
  ValidityOptions vo;
  std::vector<std::string> role_overrides;
  {
    Config c;
    for (const auto& ov : o.overrides) {
      const std::string key = ov.substr(0, ov.find('='));
      if (starts_with(key, "roles.") || starts_with(key, "endpoints.") || starts_with(key, "defaults.") ||
          starts_with(key, "cache.")) {
        role_overrides.push_back(ov);
        continue;
      }
      if (key != "rewrite.max_edit_ratio" && key != "rewrite.title_threshold")
        throw Error("unknown setting '" + key + "'", ov, "use rewrite.max_edit_ratio, rewrite.title_threshold or roles.<role>.<key>");
      c.set_override(ov);
    }
    vo.max_edit_ratio = c.get<double>("rewrite.max_edit_ratio", 0.8);
    vo.title_threshold = c.get<double>("rewrite.title_threshold", 0.90);
    if (vo.max_edit_ratio <= 0) throw Error("rewrite.max_edit_ratio must be > 0", "rewrite.max_edit_ratio", "default 0.8");
  }
  RunData run = load_run(o.run);
  sim::ItemCatalog catalog = load_run_catalog(run, o.items);
  std::unique_ptr<Rewriter> rw;
  std::unique_ptr<llm::RoleSet> roles;
  auto sink = std::make_shared<llm::MemoryCallSink>();
  if (o.offline) {
    rw = make_heuristic_rewriter(run.domain, &catalog);
  } else {
    fs::path rp = o.roles.empty() ? llm::default_roles_path() : o.roles;
    require_exists(rp, "roles file", "pass --roles FILE (see configs/roles.yaml), or --offline for the heuristic rewriter");
    llm::RoleSetOptions rso;
    rso.no_cache = o.no_cache;
    rso.cache_path = o.cache;
    rso.sink = sink;
    roles = std::make_unique<llm::RoleSet>(llm::load_roles(rp, role_overrides), rso);
    if (!roles->has("rewriter"))
      throw Error("the roles file has no role 'rewriter'", rp.string(), "add roles.rewriter (see configs/roles.yaml) or pass --offline");
    rw = make_llm_rewriter(roles->model("rewriter"), roles->spec("rewriter").params, run.domain);
  }
  RewritePass pass = rewrite_pass(run, *rw, &catalog, o.lambdas, vo, o.concurrency, sink.get());
  if (roles) {  // price cache hits at list price, as run metrics do
    Cost c = cost_of_calls(sink->records(), roles->config().prices.get());
    c.role_calls = pass.rewriter_cost.role_calls;
    pass.rewriter_cost = c;
    pass.report["rewriter_cost"] = to_json(c);
  }
  fs::create_directories(o.out);
  RewriteSummary s;
  s.pairs_file = o.out / "pairs.jsonl";
  s.report_file = o.out / "rewrite-report.json";
  s.cost_file = o.out / "cost.json";
  JsonlWriter w(s.pairs_file);
  for (const auto& p : pass.pairs) w.write(to_json(p));
  w.commit();
  write_json_file(s.report_file, pass.report);
  s.cost = cost_report("ecpo", pass.pairs.size(), run.cost, pass.rewriter_cost,
                       pass.report["heuristic_roles"].get<std::vector<std::string>>(),
                       "ECPO: the forward run's trajectories plus one rewriter call per candidate (score < max λ); "
                       "no extra simulation. Pairs at λ = " + std::to_string(pass.report["lambda_max"].get<int>()) + ".");
  write_json_file(s.cost_file, s.cost);
  s.report = pass.report;
  return s;
}

}  // namespace ecpo::pref
