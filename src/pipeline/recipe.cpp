// Recipe loading: configs/pipeline-defaults.yaml (every key documented there) deep-merged under the recipe
// file, then the CLI's key=value overrides; unknown top-level keys are refused.
#include "pipeline/recipe.h"

#include <algorithm>

#include "llm/prompts-dir.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace ecpo::pipeline {

const std::vector<std::string>& recipe_known_keys() {
  static const std::vector<std::string> keys = {
      "name",    "out_dir", "offline",  "domain",   "seed",      "roles",   "threads",    "data",
      "tasks",   "personas", "index",   "simulate", "splits",    "expert",  "student",    "sgpt",
      "train_sft", "rewrite", "pairs",  "train_dpo", "evaluate", "judge",   "report"};
  return keys;
}

namespace {

fs::path defaults_file() {
  if (const char* p = std::getenv("ECPO_PIPELINE_DEFAULTS"); p && *p) return p;
  return llm::prompts_dir().parent_path() / "configs" / "pipeline-defaults.yaml";
}

void check_keys(const nlohmann::json& root, const std::string& where) {
  if (!root.is_object())
    throw Error("a recipe must be a YAML mapping of stage sections", where,
                "see configs/quickstart.yaml for the shape");
  const auto& known = recipe_known_keys();
  for (const auto& [k, v] : root.items()) {
    if (std::find(known.begin(), known.end(), k) == known.end())
      throw Error("unknown recipe key '" + k + "'", where, "known keys: " + join(known, ", "));
  }
}

}  // namespace

Recipe recipe_load(const fs::path& file, const std::vector<std::string>& overrides) {
  require_exists(file, "recipe", "recipes live in configs/ (e.g. configs/quickstart.yaml)");
  Config user = Config::load(file);
  check_keys(user.root(), error_location(file.string()));

  Recipe r;
  const fs::path dfile = defaults_file();
  require_exists(dfile, "pipeline defaults", "set ECPO_PIPELINE_DEFAULTS or run from the source tree");
  r.cfg = Config::load(dfile);
  r.cfg.merge(user);
  for (const auto& o : overrides) {
    r.cfg.set_override(o);
    const std::string top = o.substr(0, o.find_first_of(".="));
    const auto& known = recipe_known_keys();
    if (std::find(known.begin(), known.end(), top) == known.end())
      throw Error("unknown recipe key '" + top + "' in override '" + o + "'", "command line",
                  "known keys: " + join(known, ", "));
  }
  r.source = file;
  r.name = r.cfg.get<std::string>("name", file.stem().string());
  if (r.name.empty() || r.name.find('/') != std::string::npos)
    throw Error("recipe name '" + r.name + "' is not a plain directory name", error_location(file.string()),
                "set name: to a word such as quickstart");
  r.cfg.root()["name"] = r.name;
  const std::string out = r.cfg.get<std::string>("out_dir", "");
  r.out_dir = out.empty() ? fs::path("runs") / r.name : fs::path(out);
  r.offline = r.cfg.get<bool>("offline", false);
  return r;
}

}  // namespace ecpo::pipeline
