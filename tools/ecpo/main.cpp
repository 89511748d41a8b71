// ecpo — one binary, one verb per pipeline stage. This file only wires global flags and the verbs
// that each cmd-*.cpp registers; it turns ecpo::Error into one "error: ..." line and exit code 1.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "model/local-backend.h"
#include "model/version.h"
#include "tools/ecpo/commands.h"
#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"

#ifndef ECPO_VERSION
#define ECPO_VERSION "0.0.0"
#endif

namespace {
// libtorch's OpenMP pool busy-waits between parallel regions by default; beside OpenBLAS's own threads on a
// small machine that oversubscribes the cores (the BERT encoder ran 5x slower at 2 threads than at 1).
// The runtime reads OMP_WAIT_POLICY only when it loads, so when the user has not chosen a policy we set
// PASSIVE and re-execute once — only for the verbs that run torch compute, since loading libtorch twice
// costs ~0.4 s. If the re-exec fails we simply go on with the default policy.
void ensure_passive_openmp(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  static const char* torch_verbs[] = {"generate", "logits", "embed", "serve", "index", "retrieve", "llm", "train"};
  bool computes = false;
  for (int i = 1; i < argc && !computes; ++i)
    for (const char* v : torch_verbs)
      if (std::string(argv[i]) == v) computes = true;
  if (!computes) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);
}
}  // namespace

int main(int argc, char** argv) {
  ensure_passive_openmp(argc, argv);
  CLI::App app{"ecpo — expectation-confirmation preference optimisation for conversational recommendation agents"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ecpo ") + ECPO_VERSION + " (libtorch " +
                                        ecpo::model::torch_version() + ")");
  std::string log_level = "info";
  bool progress = false, no_progress = false;
  app.add_option("--log-level", log_level, "log level: trace, debug, info, warn, error, off")
      ->capture_default_str();
  app.add_flag("--progress", progress, "always draw progress bars on stderr (default: only on a TTY)");
  app.add_flag("--no-progress", no_progress, "never draw progress bars");
  app.parse_complete_callback([&] {
    ecpo::log_init(log_level);
    if (progress) ecpo::Progress::set_default_mode(ecpo::Progress::Mode::on);
    if (no_progress) ecpo::Progress::set_default_mode(ecpo::Progress::Mode::off);
  });

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
  ecpo::cli::register_train_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const ecpo::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
