// CLI verb `ecpo sgpt` (thin: flags → pref::sgpt_build → summary).
//   ecpo sgpt --run RUNDIR --out FILE [--format ecpo|trl|llamafactory] [--prompt zero-shot|few-shot|compact|as-run]
#include <cstdio>

#include "ecpo/sgpt.h"
#include "tools/ecpo/commands.h"
#include "util/text.h"

namespace ecpo::cli {

void register_sgpt_commands(CLI::App& app) {
  auto o = std::make_shared<pref::SgptOptions>();
  auto* c = app.add_subcommand("sgpt", "SFT rows from the successful episodes of a run (every agent call, D13 prompts)");
  c->add_option("--run", o->run, "run directory (ecpo simulate --out)")->required();
  c->add_option("--out", o->out, "output JSONL file")->required();
  c->add_option("--format", o->format, "ecpo ({messages}), trl (prompt/completion) or llamafactory (alpaca + dataset_info.json)")
      ->capture_default_str();
  c->add_option("--prompt", o->prompt,
                "prompt variant the fine-tuned agent is served with: zero-shot, few-shot, compact, or as-run (keep)")
      ->capture_default_str();
  c->callback([o] {
    pref::SgptSummary s = pref::sgpt_build(*o);
    std::printf("sgpt: %zu of %zu episodes successful; %zu rows from %zu agent steps (%zu invalid, %zu re-asks skipped; "
                "%zu prompts re-rendered as %s)\n",
                s.successful, s.episodes, s.stats.rows, s.stats.steps, s.stats.skipped_invalid, s.stats.skipped_reask,
                s.stats.converted, o->prompt.c_str());
    std::printf("heuristic roles: %s\n", s.heuristic_roles.empty() ? "none" : join(s.heuristic_roles, ", ").c_str());
    std::printf("rows: %s\nmeta: %s\n", s.out.string().c_str(), s.meta.string().c_str());
    if (!s.dataset_info.empty()) std::printf("dataset_info: %s\n", s.dataset_info.string().c_str());
  });
}

}  // namespace ecpo::cli
