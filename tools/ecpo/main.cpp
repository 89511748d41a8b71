// ecpo — one binary, one verb per pipeline stage. This file only wires global flags and the verbs
// that each cmd-*.cpp registers; it turns ecpo::Error into one "error: ..." line and exit code 1.
// The training verbs (train …, model merge) run in the sibling binary ecpo-train (libtorch), exec'd in place.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "model/local-backend.h"
#include "tools/ecpo/cli-common.h"
#include "tools/ecpo/commands.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"

#ifndef ECPO_VERSION
#define ECPO_VERSION "0.0.0"
#endif

namespace {
// An OpenMP runtime busy-waits between parallel regions by default; beside other threads on a small machine that
// oversubscribes the cores (the torch BERT encoder once ran 5x slower at 2 threads than at 1). The engine itself
// uses no OpenMP (its kernels run on their own WorkPool) and the binary does not link libtorch, but a library that
// brings OpenMP in (libtorch for training, OpenBLAS builds) reads OMP_WAIT_POLICY once, in its load-time
// initialiser — before main(). So the default (PASSIVE, unless the user chose a policy) is set from the
// executable's .preinit_array, which the dynamic linker runs before any shared library's initialisers: no
// re-exec of the process (which cost a second load of every library).
void preinit_passive_openmp(int, char**, char**) { ::setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0); }
__attribute__((section(".preinit_array"), used)) void (*const preinit_entry)(int, char**, char**) = preinit_passive_openmp;
}  // namespace

int main(int argc, char** argv) {
  if (ecpo::cli::is_training_verb(argc, argv)) {
    std::fprintf(stderr, "error: %s\n", ecpo::cli::exec_training_binary(argv).c_str());
    return 1;
  }
  CLI::App app{"ecpo — expectation-confirmation preference optimisation for conversational recommendation agents"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ecpo ") + ECPO_VERSION);
  ecpo::cli::GlobalFlags global;
  ecpo::cli::add_global_flags(app, global);

  ecpo::model::register_local_backend();  // roles may say backend: local
  ecpo::cli::register_data_commands(app);
  ecpo::cli::register_tasks_commands(app);
  ecpo::cli::register_retrieval_commands(app);
  ecpo::cli::register_llm_commands(app);
  ecpo::cli::register_model_commands(app);
  ecpo::cli::register_tokenize_commands(app);
  ecpo::cli::register_serve_commands(app);
  ecpo::cli::register_simulate_commands(app);
  ecpo::cli::register_persona_commands(app);
  ecpo::cli::register_chat_commands(app);
  ecpo::cli::register_sgpt_commands(app);
  ecpo::cli::register_rewrite_commands(app);
  ecpo::cli::register_pairs_commands(app);
  ecpo::cli::register_judge_commands(app);
  ecpo::cli::register_report_commands(app);
  ecpo::cli::register_mtpo_commands(app);
  ecpo::cli::register_pipeline_commands(app);
  // Listed for --help only: these arguments never reach the parser (ecpo-train runs them, see above).
  app.add_subcommand("train", "LoRA training: sft, dpo, kto, simpo; eval (runs ecpo-train)")->allow_extras();
  app.get_subcommand("model")->add_subcommand("merge", "fold a LoRA adapter into its base model (runs ecpo-train)")
      ->allow_extras();
  return ecpo::cli::run_app(app, argc, argv);
}
