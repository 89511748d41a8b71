// Data directory lookup (see resources.h).
#include "util/resources.h"

#include <cstdlib>
#include <vector>

#include "util/error.h"

#ifndef ECPO_SOURCE_ROOT
#define ECPO_SOURCE_ROOT ""
#endif

namespace fs = std::filesystem;

namespace ecpo {

namespace {

const char* dir_name(DataDir kind) { return kind == DataDir::prompts ? "prompts" : "resources"; }
const char* env_name(DataDir kind) { return kind == DataDir::prompts ? "ECPO_PROMPTS_DIR" : "ECPO_RESOURCES"; }

// Candidate directories in search order (they need not exist).
std::vector<fs::path> candidates(DataDir kind) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (const char* env = std::getenv(env_name(kind)); env && *env) {
    if (!fs::is_directory(env, ec))
      throw Error(std::string(env_name(kind)) + " points to a missing directory", env,
                  std::string("unset it or point it at ecpo's ") + dir_name(kind) + "/ folder");
    out.emplace_back(env);
    return out;
  }
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
      out.push_back(dir / dir_name(kind));
      out.push_back(dir / "share" / "ecpo" / dir_name(kind));
    }
  if (std::string(ECPO_SOURCE_ROOT).size()) out.push_back(fs::path(ECPO_SOURCE_ROOT) / dir_name(kind));
  return out;
}

std::string hint(DataDir kind) {
  return std::string("set ") + env_name(kind) + " to the " + dir_name(kind) + "/ folder of the ecpo source tree";
}

}  // namespace

fs::path data_dir(DataDir kind) {
  std::error_code ec;
  std::string tried;
  for (const auto& c : candidates(kind)) {
    if (fs::is_directory(c, ec)) return c;
    tried += (tried.empty() ? "" : ", ") + c.string();
  }
  throw Error(std::string("no ") + dir_name(kind) + " directory found (tried " + tried + ")", dir_name(kind), hint(kind));
}

fs::path data_file(DataDir kind, const std::string& relative) {
  std::error_code ec;
  for (const auto& c : candidates(kind))
    if (fs::is_regular_file(c / relative, ec)) return c / relative;
  throw Error(std::string(dir_name(kind)) + "/" + relative + " not found", relative, hint(kind));
}

}  // namespace ecpo
