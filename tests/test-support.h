// Shared test helpers: locating ../shared/data (tests skip with a clear message when it is absent),
// a self-deleting temp directory, and running the ecpo binary to capture its output and exit code.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace ecpo::test {

inline std::filesystem::path shared_data() {
  if (const char* env = std::getenv("ECPO_SHARED_DATA"); env && *env) return env;
  return ECPO_SHARED_DATA;
}

// Use as: ECPO_REQUIRE_SHARED("amazon2023_raw_sample");  → a skipped test with a reason when absent.
#define ECPO_REQUIRE_SHARED(sub)                                                                     \
  do {                                                                                               \
    if (!std::filesystem::exists(::ecpo::test::shared_data() / (sub)))                               \
      GTEST_SKIP() << "shared data " << (::ecpo::test::shared_data() / (sub)).string()               \
                   << " is absent (set ECPO_SHARED_DATA to the shared/data folder)";                  \
  } while (0)

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ecpo-test-XXXXXX").string();
    char* made = ::mkdtemp(tmpl.data());
    if (!made) throw std::runtime_error("mkdtemp failed");
    path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr together (2>&1)
};

// Runs `ecpo <args>` through the shell; args are passed as written (quote them yourself).
inline CommandResult run_ecpo(const std::string& args) {
  std::string cmd = std::string(ECPO_BIN) + " " + args + " 2>&1";
  CommandResult r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace ecpo::test
