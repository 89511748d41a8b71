// Pair exports (see export.h).
#include "ecpo/export.h"

#include <algorithm>

#include "ecpo/formats.h"
#include "ecpo/run-reader.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace ecpo::pref {

namespace fs = std::filesystem;
using nlohmann::json;

const std::vector<std::string>& export_formats() {
  static const std::vector<std::string> v = {"trl-dpo", "llamafactory", "kto"};
  return v;
}

std::vector<json> export_rows(const std::vector<Pair>& pairs, const std::string& format) {
  std::vector<json> rows;
  if (format == "trl-dpo") {
    for (const auto& p : pairs) rows.push_back(trl_dpo_row(p.prompt, p.chosen, p.rejected));
  } else if (format == "llamafactory") {
    for (const auto& p : pairs) rows.push_back(alpaca_dpo_row(p.prompt, p.chosen, p.rejected, p.pair_id));
  } else if (format == "kto") {
    for (const auto& p : pairs) rows.push_back(trl_kto_row(p.prompt, p.chosen, true));
    for (const auto& p : pairs) rows.push_back(trl_kto_row(p.prompt, p.rejected, false));
  } else {
    throw Error("unknown export format '" + format + "'", "--format", "use trl-dpo, llamafactory or kto");
  }
  return rows;
}

ExportSummary export_pairs(const ExportOptions& o) {
  const auto& f = export_formats();
  if (std::find(f.begin(), f.end(), o.format) == f.end())
    throw Error("unknown export format '" + o.format + "'", "--format", "use trl-dpo, llamafactory or kto");
  check_lambda(o.lambda);
  std::vector<Pair> all = read_pairs(o.pairs);
  ExportSummary s;
  s.pairs_read = all.size();
  std::vector<Pair> kept;
  for (const auto& p : all) {
    if (o.lambda > p.lambda_max)
      throw Error("λ " + std::to_string(o.lambda) + " is above the λ this file was built for (" +
                      std::to_string(p.lambda_max) + "): turns scored " + std::to_string(p.lambda_max) + ".." +
                      std::to_string(o.lambda - 1) + " were never rewritten",
                  o.pairs.string(), "rerun `ecpo rewrite` with --lambda including " + std::to_string(o.lambda));
    if (pair_in_lambda(p.score, o.lambda)) kept.push_back(p);
  }
  s.pairs_kept = kept.size();
  std::vector<json> rows = export_rows(kept, o.format);
  JsonlWriter w(o.out);
  for (const auto& r : rows) w.write(r);
  w.commit();
  s.rows = rows.size();
  s.out = o.out;
  // Heuristic roles: the rewrite report beside the pairs file, and any heuristic rewriter in the rows.
  const fs::path rep = fs::absolute(o.pairs).parent_path() / "rewrite-report.json";
  if (fs::exists(rep)) {
    json r = read_json_file(rep);
    if (r.contains("heuristic_roles")) add_heuristic_roles(s.heuristic_roles, r["heuristic_roles"].get<std::vector<std::string>>());
  }
  for (const auto& p : all)
    if (p.rewriter == "heuristic") add_heuristic_roles(s.heuristic_roles, {"rewriter (heuristic)"});
  json meta{{"pairs", fs::absolute(o.pairs).lexically_normal().string()},
            {"lambda", o.lambda},
            {"format", o.format},
            {"pairs_read", s.pairs_read},
            {"pairs_kept", s.pairs_kept},
            {"rows", s.rows},
            {"heuristic_roles", s.heuristic_roles}};
  if (o.format == "llamafactory") {
    s.dataset_info = write_dataset_info(fs::absolute(o.out).parent_path(), dataset_name_for(o.out),
                                        llamafactory_entry(o.out.filename().string(), DatasetKind::preference));
    meta["dataset_info"] = s.dataset_info.string();
  }
  s.meta = fs::path(o.out).replace_extension(".meta.json");
  write_json_file(s.meta, meta);
  return s;
}

}  // namespace ecpo::pref
