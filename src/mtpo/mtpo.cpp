// The mtpo driver (see mtpo.h).
#include "mtpo/mtpo.h"

#include <algorithm>

#include "ecpo/cost.h"
#include "ecpo/export.h"
#include "ecpo/run-reader.h"
#include "mtpo/rollout.h"
#include "mtpo/traj.h"
#include "mtpo/tree.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace ecpo::mtpo {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string>& mtpo_methods() {
  static const std::vector<std::string> v = {"traj-sft", "traj-kto", "tree-dpo", "tree-kto"};
  return v;
}

MtpoSummary run_mtpo(const MtpoOptions& o) {
  const auto& m = mtpo_methods();
  if (std::find(m.begin(), m.end(), o.method) == m.end())
    throw Error("unknown method '" + o.method + "'", "--method", "use traj-sft, traj-kto, tree-dpo or tree-kto");
  if (o.out.empty()) throw Error("no output directory", "--out", "pass --out DIR");
  const bool tree = o.method == "tree-dpo" || o.method == "tree-kto";
  if (tree && o.k < 2) throw Error("--k must be at least 2 (the source's turn and one sample)", "--k");
  if (tree && o.depth < 1) throw Error("--depth must be at least 1", "--depth");
  pref::RunData run = pref::load_run(o.run);
  fs::create_directories(o.out);
  MtpoSummary s;
  std::vector<std::string> heur = run.heuristic_roles;
  pref::Cost method_cost;
  std::size_t units = 0;
  std::string note;
  if (o.method == "traj-sft") {
    fs::path f = o.out / "sft.jsonl";
    TrajResult t = traj_sft(run, f, o.format, o.prompt);
    s.files.push_back(f);
    s.report = t.report;
    units = t.rows;
    note = "Trajectory SFT: rows from the source run's successful episodes; no extra simulation. pairs = rows.";
  } else if (o.method == "traj-kto") {
    fs::path f = o.out / "kto.jsonl";
    TrajResult t = traj_kto(run, f, o.prompt);
    s.files.push_back(f);
    s.report = t.report;
    units = t.rows;
    note = "Trajectory KTO: successful episodes' calls desirable, unsuccessful ones' undesirable; no extra simulation. "
           "pairs = rows.";
  } else {
    RolloutSetup rs;
    rs.roles = o.roles;
    rs.offline = o.offline;
    rs.no_cache = o.no_cache;
    rs.cache = o.cache;
    rs.overrides = o.overrides;
    RolloutContext ctx(run, rs);
    TreeOptions to;
    to.k = o.k;
    to.depth = o.depth;
    to.seed = o.seed;
    to.temperature = o.temperature;
    to.concurrency = o.concurrency;
    to.method = o.method;
    TreeResult r = tree_sample(run, ctx, to);
    method_cost = r.cost;
    units = r.pairs.size();
    if (!ctx.agent_uses_llm()) pref::add_heuristic_roles(heur, {"tree sampler (rule agent candidates)"});
    fs::path pf = o.out / "pairs.jsonl";
    JsonlWriter w(pf);
    for (const auto& p : r.pairs) w.write(pref::to_json(p));
    w.commit();
    s.files.push_back(pf);
    fs::path rows = o.out / (o.method == "tree-dpo" ? "dpo.jsonl" : "kto.jsonl");
    JsonlWriter rw(rows);
    for (const auto& row : pref::export_rows(r.pairs, o.method == "tree-dpo" ? "trl-dpo" : "kto")) rw.write(row);
    rw.commit();
    s.files.push_back(rows);
    s.report = r.report;
    note = "Tree sampling: k = " + std::to_string(o.k) + " candidates (the source's turn included) at each of the first " +
           std::to_string(o.depth) + " turns, each rolled out to the end (the prefix replays the source).";
  }
  s.report["method"] = o.method;
  s.report["run"] = fs::absolute(o.run).lexically_normal().string();
  s.report["heuristic_roles"] = heur;
  s.report["units"] = units;
  s.cost = pref::cost_report(o.method, units, run.cost, method_cost, heur, note);
  write_json_file(o.out / "cost.json", s.cost);
  write_json_file(o.out / "mtpo-report.json", s.report);
  s.files.push_back(o.out / "cost.json");
  s.files.push_back(o.out / "mtpo-report.json");
  return s;
}

}  // namespace ecpo::mtpo
