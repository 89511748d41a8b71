// CLI verb `ecpo pairs export` (thin: flags → pref::export_pairs → summary).
//   ecpo pairs export --pairs FILE --lambda L --format trl-dpo|llamafactory|kto --out FILE
#include <cstdio>

#include "ecpo/export.h"
#include "tools/ecpo/commands.h"
#include "util/text.h"

namespace ecpo::cli {

void register_pairs_commands(CLI::App& app) {
  auto o = std::make_shared<pref::ExportOptions>();
  auto* pairs = app.add_subcommand("pairs", "preference pairs");
  pairs->require_subcommand(1);
  auto* ex = pairs->add_subcommand("export", "the pairs of one λ (score < λ) in a trainer's format");
  ex->add_option("--pairs", o->pairs, "pairs.jsonl (ecpo rewrite / ecpo mtpo --method tree-*)")->required();
  ex->add_option("--lambda", o->lambda, "keep pairs whose EC score < λ (1..5)")->capture_default_str();
  ex->add_option("--format", o->format, "trl-dpo, llamafactory (alpaca + dataset_info.json) or kto (TRL unpaired)")
      ->capture_default_str();
  ex->add_option("--out", o->out, "output JSONL file")->required();
  ex->callback([o] {
    pref::ExportSummary s = pref::export_pairs(*o);
    std::printf("pairs export: %zu of %zu pairs at λ=%d → %zu %s rows\n", s.pairs_kept, s.pairs_read, o->lambda, s.rows,
                o->format.c_str());
    std::printf("heuristic roles: %s\n", s.heuristic_roles.empty() ? "none" : join(s.heuristic_roles, ", ").c_str());
    std::printf("rows: %s\nmeta: %s\n", s.out.string().c_str(), s.meta.string().c_str());
    if (!s.dataset_info.empty()) std::printf("dataset_info: %s\n", s.dataset_info.string().c_str());
  });
}

}  // namespace ecpo::cli
