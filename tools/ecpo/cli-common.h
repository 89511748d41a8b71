// What both binaries share: the root app's global flags (--log-level, --progress, --no-progress), the one-line
// error exit, and the hand-off of the training verbs from `ecpo` to its sibling `ecpo-train`.
// `ecpo` does not link libtorch (it starts in milliseconds); `ecpo train …` and `ecpo model merge …` need it,
// so `ecpo` replaces itself (execv) with `ecpo-train` from its own directory, arguments unchanged.
#pragma once
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "util/error.h"
#include "util/log.h"
#include "util/progress.h"

namespace ecpo::cli {

struct GlobalFlags {
  std::string log_level = "info";
  bool progress = false, no_progress = false;
};

inline void add_global_flags(CLI::App& app, GlobalFlags& g) {
  app.add_option("--log-level", g.log_level, "log level: trace, debug, info, warn, error, off")->capture_default_str();
  app.add_flag("--progress", g.progress, "always draw progress bars on stderr (default: only on a TTY)");
  app.add_flag("--no-progress", g.no_progress, "never draw progress bars");
  app.parse_complete_callback([&g] {
    log_init(g.log_level);
    if (g.progress) Progress::set_default_mode(Progress::Mode::on);
    if (g.no_progress) Progress::set_default_mode(Progress::Mode::off);
  });
}

// Parses and runs; ecpo::Error and other exceptions become one "error: …" line and exit code 1.
inline int run_app(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

// The verb the arguments name, skipping global flags: "train" for `ecpo --log-level warn train sft …`.
// True when it is a training verb (train …, model merge …), which `ecpo-train` runs.
inline bool is_training_verb(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--log-level") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] == '-') continue;
    if (a == "train") return true;
    return a == "model" && i + 1 < argc && std::strcmp(argv[i + 1], "merge") == 0;
  }
  return false;
}

// Replaces this process with `ecpo-train` (next to /proc/self/exe); returns only on failure, with the error.
inline std::string exec_training_binary(char** argv) {
  std::error_code ec;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::filesystem::path sibling = (ec ? std::filesystem::path(argv[0]) : self).parent_path() / "ecpo-train";
  ::execv(sibling.c_str(), argv);
  return Error("cannot run " + sibling.string() + ": " + std::strerror(errno), "ecpo train",
               "the training verbs live in the ecpo-train binary beside ecpo: build it (cmake --build build "
               "--target ecpo-train) or install both together")
      .what();
}

}  // namespace ecpo::cli
