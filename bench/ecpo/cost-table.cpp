// bench-ecpo-cost DIR... : one row per DIR/cost.json (ECPO's rewrite dir first, then the baselines): pairs and
// LLM calls, tokens, trajectories, role calls and dollars per pair, and each method's trajectories and role
// calls per pair as a ratio of the first row's — the paper's efficiency claim (Fig. 5) as measured numbers.
// Also, for a rewrite dir, its pairs per λ and rejections by reason.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "util/jsonl.h"
#include "util/table.h"

namespace fs = std::filesystem;
using nlohmann::json;

static std::string f(const json& v, int d = 2) {
  if (!v.is_number()) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", d, v.get<double>());
  return b;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench-ecpo-cost REWRITE_DIR [MTPO_DIR...]\n");
    return 2;
  }
  ecpo::Table t({"method", "pairs", "LLM calls/pair", "tokens/pair", "trajectories/pair", "role calls/pair", "$/pair",
                 "traj ratio", "role-call ratio"});
  double base_traj = 0, base_roles = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path p = fs::path(argv[i]) / "cost.json";
    if (!fs::exists(p)) {
      std::fprintf(stderr, "no cost.json in %s\n", argv[i]);
      return 1;
    }
    json c = ecpo::read_json_file(p);
    const double traj = c["trajectories_per_pair"].is_number() ? c["trajectories_per_pair"].get<double>() : 0;
    const double roles = c["role_calls_per_pair"].is_number() ? c["role_calls_per_pair"].get<double>() : 0;
    if (i == 1) base_traj = traj, base_roles = roles;
    t.row({c.value("method", std::string(argv[i])), std::to_string(c["pairs"].get<std::size_t>()), f(c["llm_calls_per_pair"]),
           f(c["tokens_per_pair"], 0), f(c["trajectories_per_pair"], 3), f(c["role_calls_per_pair"], 1),
           f(c["cost_usd_per_pair"], 5), base_traj > 0 ? f(json(traj / base_traj)) : "-",
           base_roles > 0 ? f(json(roles / base_roles)) : "-"});
    const fs::path rep = fs::path(argv[i]) / "rewrite-report.json";
    if (fs::exists(rep)) {
      json r = ecpo::read_json_file(rep);
      std::printf("%s (%s): %zu candidates, %zu accepted\n", argv[i], r["rewriter"].get<std::string>().c_str(),
                  r["candidates"].get<std::size_t>(), r["accepted"].get<std::size_t>());
      ecpo::Table l({"λ", "candidates", "pairs"});
      for (const auto& [k, v] : r["pairs_per_lambda"].items())
        l.row({k, std::to_string(r["candidates_per_lambda"][k].get<std::size_t>()), std::to_string(v.get<std::size_t>())});
      std::printf("%s", l.str().c_str());
      ecpo::Table rj({"rejected because", "count"});
      for (const auto& [k, v] : r["rejected"].items()) rj.row({k, std::to_string(v.get<std::size_t>())});
      std::printf("%s", rj.str().c_str());
    }
  }
  std::printf("%s", t.str().c_str());
  return 0;
}
