// CLI verbs of the tasks stage (see commands.h). Thin: flags → library call → summary.
//   ecpo tasks build --data DIR --out DIR [--min-reviews 30 --max-reviews 30 --min-rating 4 --seed S
//                    --test-rule first|random --tmp DIR --memory MB]
#include <cstdio>
#include <memory>

#include "data/tasks.h"
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_tasks_commands(CLI::App& app) {
  auto* tasks = app.add_subcommand("tasks", "build recommendation tasks from imported data");
  tasks->require_subcommand(1);
  auto o = std::make_shared<data::TaskBuildOptions>();
  auto* build = tasks->add_subcommand("build", "select users, pick targets, split train/test, build the item DB");
  build->add_option("--data", o->data, "folder with items.jsonl and users.jsonl (ecpo data import)")->required();
  build->add_option("--out", o->out, "output folder (tasks_train.jsonl, tasks_test.jsonl, items.jsonl, ...)")
      ->required();
  build->add_option("--min-reviews", o->min_reviews, "select users with at least this many reviews")
      ->capture_default_str();
  build->add_option("--max-reviews", o->max_reviews, "... and at most this many")->capture_default_str();
  build->add_option("--min-rating", o->min_rating, "targets are items rated at least this")->capture_default_str();
  build->add_option("--seed", o->seed, "seed for --test-rule random")->capture_default_str();
  build->add_option("--test-rule", o->test_rule, "first (earliest target → test) or random")
      ->capture_default_str();
  build->add_option("--tmp", o->tmp, "folder for the temporary sort files (default: the output folder)");
  auto memory_mb = std::make_shared<std::size_t>(o->memory >> 20);
  build->add_option("--memory", *memory_mb, "MB for the sort buffers (peak RSS stays near this plus the program)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  build->add_option("--fan-in", o->fan_in, "sorted runs merged at once")->capture_default_str()->check(CLI::Range(2, 4096));
  build->callback([o, memory_mb] {
    o->memory = *memory_mb << 20;
    data::TaskBuildStats s = data::build_tasks(*o);
    std::printf("%s", data::tasks_report(s).c_str());
    if (s.users_selected == 0)
      std::fprintf(stderr, "note: no user has between %zu and %zu reviews; widen --min-reviews/--max-reviews\n",
                   o->min_reviews, o->max_reviews);
  });
}

}  // namespace ecpo::cli
