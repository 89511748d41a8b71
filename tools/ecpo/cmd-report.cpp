// CLI verb `ecpo report` (thin: paths → eval::write_report).
//   ecpo report RUNDIR|JUDGEDIR|REWRITEDIR|MTPODIR|TRAINDIR ... --out report.html [--title T] [--max-episodes 100]
#include <cstdio>

#include "eval/report.h"
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_report_commands(CLI::App& app) {
  auto paths = std::make_shared<std::vector<std::filesystem::path>>();
  auto out = std::make_shared<std::filesystem::path>();
  auto o = std::make_shared<eval::ReportOptions>();
  auto* c = app.add_subcommand("report", "one self-contained HTML report over runs, judgements, rewrites, baselines and training");
  c->add_option("paths", *paths, "run, judge, rewrite, mtpo or training directories")->required();
  c->add_option("--out", *out, "output HTML file")->required();
  c->add_option("--title", o->title, "report title")->capture_default_str();
  c->add_option("--max-episodes", o->max_episodes, "episodes listed per run")->capture_default_str();
  c->add_option("--max-diffs", o->max_diffs, "original-vs-rewrite diffs shown per rewrite directory")->capture_default_str();
  c->callback([paths, out, o] {
    eval::write_report(*paths, *out, *o);
    std::printf("report: %s\n", out->string().c_str());
  });
}

}  // namespace ecpo::cli
