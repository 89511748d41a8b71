// CLI verbs of the data stage (see commands.h). Thin: flags → library call → summary.
//   ecpo data synth  --domain book|game|yelp --users N --seed S --out DIR [--reviews-per-user 30 --items M]
//   ecpo data import --source amazon2023|yelp --reviews FILE... --meta FILE... --out DIR [--strict --domain D
//                    --min-reviews N --max-reviews N --tmp DIR --memory MB]
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "data/import.h"
#include "data/synth.h"
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_data_commands(CLI::App& app) {
  auto* data = app.add_subcommand("data", "make or import raw review data into items.jsonl / users.jsonl");
  data->require_subcommand(1);

  auto synth_opts = std::make_shared<data::SynthOptions>();
  auto* synth = data->add_subcommand("synth", "write a deterministic synthetic dataset in a raw published layout");
  synth->add_option("--domain", synth_opts->domain, "book (Amazon Books), game (Amazon Video_Games) or yelp")
      ->capture_default_str();
  synth->add_option("--users", synth_opts->users, "number of users")->capture_default_str();
  synth->add_option("--seed", synth_opts->seed, "random seed (same seed → identical files)")->capture_default_str();
  synth->add_option("--out", synth_opts->out, "output directory")->required();
  synth->add_option("--reviews-per-user", synth_opts->reviews_per_user,
                    "reviews of 4 in 5 users (the 5th gets a varied count)")
      ->capture_default_str();
  synth->add_option("--items", synth_opts->items, "catalogue size (0: users*reviews/10, at least 50)")
      ->capture_default_str();
  synth->add_option("--templates", synth_opts->templates, "word-list/template YAML (default resources/synth/<domain>.yaml)");
  synth->callback([synth_opts] {
    data::SynthResult r = data::synthesize(*synth_opts);
    std::printf("users %zu, reviews %zu, items %zu → %s, %s\n", r.users, r.reviews, r.items,
                r.reviews_file.string().c_str(), r.meta_file.string().c_str());
  });

  auto imp = std::make_shared<data::ImportOptions>();
  auto* import = data->add_subcommand("import", "import raw Amazon-2023 or Yelp dumps (plain or .gz)");
  import->add_option("--source", imp->source, "amazon2023 or yelp")->required();
  import->add_option("--reviews", imp->reviews, "review file(s): <Category>.jsonl[.gz] or yelp_academic_dataset_review.json")
      ->required();
  import->add_option("--meta", imp->meta, "meta file(s): meta_<Category>.jsonl[.gz] or yelp_academic_dataset_business.json")
      ->required();
  import->add_option("--out", imp->out, "output directory (items.jsonl, users.jsonl, import.json)")->required();
  import->add_flag("--strict", imp->strict, "fail on the first malformed line instead of skipping it");
  import->add_option("--domain", imp->domain, "item domain (default: from the meta file name, e.g. game; yelp)");
  import->add_option("--min-reviews", imp->min_reviews,
                     "keep only users with at least this many joined reviews (default: no limit)");
  import->add_option("--max-reviews", imp->max_reviews, "... and at most this many (default: no limit)");
  import->add_option("--tmp", imp->tmp, "folder for the temporary sort files (default: the output folder)");
  auto memory_mb = std::make_shared<std::size_t>(imp->memory >> 20);
  import->add_option("--memory", *memory_mb, "MB for the sort buffers (peak RSS stays near this plus the program)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  import->add_option("--fan-in", imp->fan_in, "sorted runs merged at once")->capture_default_str()->check(CLI::Range(2, 4096));
  import->callback([imp, memory_mb] {
    imp->memory = *memory_mb << 20;
    data::ImportStats s = data::import_raw(*imp);
    std::printf("%s\n", data::import_summary(s, *imp).c_str());
  });
}

}  // namespace ecpo::cli
