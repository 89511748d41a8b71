// Prompt directory resolution (see prompts-dir.h).
#include "llm/prompts-dir.h"

#include <cstdlib>

#include "util/error.h"
#include "util/fs.h"

#ifndef ECPO_SOURCE_PROMPTS_DIR
#define ECPO_SOURCE_PROMPTS_DIR ""
#endif

namespace ecpo::llm {

std::filesystem::path prompts_dir() {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (const char* env = std::getenv("ECPO_PROMPTS_DIR"); env && *env) {
    if (fs::is_directory(env, ec)) return env;
    throw Error("ECPO_PROMPTS_DIR points to a missing directory", env, "unset it or point it at ecpo's prompts/");
  }
  std::string tried;
  if (fs::path src = ECPO_SOURCE_PROMPTS_DIR; !src.empty()) {
    if (fs::is_directory(src, ec)) return src;
    tried += src.string() + ", ";
  }
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path share = exe.parent_path().parent_path() / "share" / "ecpo" / "prompts";
    if (fs::is_directory(share, ec)) return share;
    tried += share.string();
  }
  throw Error("no prompts directory found (tried " + tried + ")", "prompts",
              "set ECPO_PROMPTS_DIR to the prompts/ folder of the ecpo source tree");
}

std::string load_prompt(const std::string& relative) {
  auto path = prompts_dir() / relative;
  require_exists(path, "prompt file", "check ECPO_PROMPTS_DIR or the prompts/ folder");
  return read_file(path);
}

}  // namespace ecpo::llm
