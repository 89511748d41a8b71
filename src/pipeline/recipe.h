// A pipeline recipe: one YAML file (configs/<recipe>.yaml) plus `key=value` overrides, resolved into one
// config tree that names every stage's settings. The resolved tree is what stage fingerprints hash and what
// the run tree keeps as config.yaml. Paths in the recipe are relative to the directory `ecpo` runs in.
// Not here: what a stage does with its settings (plan.h), or running anything (run.h).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "util/config.h"

namespace ecpo::pipeline {

struct Recipe {
  Config cfg;                      // resolved: the file, its defaults filled in, then the overrides
  std::string name;                // recipe name (cfg "name"), names the run tree runs/<name>/
  std::filesystem::path out_dir;   // runs/<name>, or the `out_dir` key
  std::filesystem::path source;    // the recipe file
  bool offline = false;            // every LLM role heuristic (no network, no model server)
};

// Loads and resolves a recipe. Unknown top-level keys are refused with the list of known ones (a typo in a
// recipe must not silently fall back to a default). Throws ecpo::Error naming the file and key.
Recipe recipe_load(const std::filesystem::path& file, const std::vector<std::string>& overrides);

// The top-level keys a recipe may hold (for error hints and docs).
const std::vector<std::string>& recipe_known_keys();

}  // namespace ecpo::pipeline
