// ecpo-train — the training verbs of ecpo (train sft|dpo|kto|simpo|eval, model merge), which need libtorch's
// autograd. Kept out of the `ecpo` binary so that every other verb starts without loading libtorch; `ecpo train …`
// and `ecpo model merge …` exec this binary with their arguments unchanged (tools/ecpo/cli-common.h).
#include <string>

#include <CLI/CLI.hpp>

#include "model/version.h"
#include "tools/ecpo/cli-common.h"
#include "tools/ecpo/commands.h"

#ifndef ECPO_VERSION
#define ECPO_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  CLI::App app{"ecpo (training verbs) — LoRA SFT and preference optimisation"};
  app.name("ecpo");
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ecpo ") + ECPO_VERSION + " (libtorch " + ecpo::model::torch_version() + ")");
  ecpo::cli::GlobalFlags global;
  ecpo::cli::add_global_flags(app, global);
  ecpo::cli::register_train_commands(app);  // also adds `model merge`
  return ecpo::cli::run_app(app, argc, argv);
}
