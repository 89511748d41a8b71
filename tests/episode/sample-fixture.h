// The bundled offline sample for the sim / agent / episode tests, built once per test binary in a temp
// directory with the library calls of scripts/quickstart.sh (data synth --domain book --users 40 --seed 7,
// data import, tasks build, index build --kind bm25). Also a roles file pointing every role at a fake
// OpenAI server, and a small helper to read JSONL rows.
#pragma once
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "data/import.h"
#include "data/synth.h"
#include "data/tasks.h"
#include "llm/roles.h"
#include "retrieval/index.h"
#include "test-support.h"
#include "util/config.h"
#include "util/jsonl.h"

namespace ecpo::test {

struct Sample {
  std::filesystem::path root, tasks, index;
};

// Builds the sample under `dir` (domain book unless given; `users` users).
inline Sample build_sample(const std::filesystem::path& dir, const std::string& domain = "book", std::size_t users = 40,
                           std::uint64_t seed = 7) {
  Sample s{dir, dir / "tasks", dir / "index"};
  data::SynthOptions so;
  so.domain = domain;
  so.users = users;
  so.seed = seed;
  so.out = dir / "raw";
  auto sr = data::synthesize(so);
  data::ImportOptions io;
  io.source = domain == "yelp" ? "yelp" : "amazon2023";
  io.reviews = {sr.reviews_file};
  io.meta = {sr.meta_file};
  io.out = dir / "data";
  io.on_bad = [](const Error&) {};
  data::import_raw(io);
  data::TaskBuildOptions to;
  to.data = dir / "data";
  to.out = s.tasks;
  to.seed = seed;
  data::build_tasks(to);
  retrieval::IndexOptions xo;
  xo.kind = "bm25";
  retrieval::build_index(s.tasks / "items.jsonl", s.index, xo);
  return s;
}

// The book sample, built once per process (kept until exit).
inline const Sample& book_sample() {
  static TempDir* dir = new TempDir();  // intentionally leaked: lives until the process ends
  static Sample s = build_sample(dir->path());
  return s;
}

// Runs a shell command line (stdout and stderr together).
inline CommandResult run_shell(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline std::vector<nlohmann::json> jsonl_rows(const std::filesystem::path& p) {
  std::vector<nlohmann::json> rows;
  JsonlReader r(p);
  nlohmann::json v;
  while (r.next(v)) rows.push_back(v);
  return rows;
}

// A roles file: agent, user_sim, ec_rater, persona on `base_url` (no key, no cache, test-sized timeouts).
inline std::string fake_roles_yaml(const std::string& base_url, int max_attempts = 2) {
  return "defaults:\n  backend: openai\n  base_url: " + base_url +
         "\n  api_key_env: \"\"\n  timeout_ms: 5000\n  connect_timeout_ms: 2000\n  max_concurrency: 64\n"
         "  retry: {max_attempts: " + std::to_string(max_attempts) +
         ", base_ms: 1, max_ms: 5, jitter: 0}\n"
         "roles:\n"
         "  agent: {model: fake-model, params: {temperature: 0.0, max_tokens: 256}}\n"
         "  user_sim: {model: fake-model, params: {temperature: 0.0, max_tokens: 256}}\n"
         "  ec_rater: {model: fake-model, params: {temperature: 0.0, max_tokens: 256}}\n"
         "  persona: {model: fake-model, params: {temperature: 0.0, max_tokens: 512}}\n"
         "cache: {enabled: false}\n";
}

inline std::filesystem::path write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
  return p;
}

inline std::unique_ptr<llm::RoleSet> fake_roles(const std::string& base_url, std::shared_ptr<llm::CallSink> sink,
                                                int max_attempts = 2) {
  llm::RoleSetOptions o;
  o.no_cache = true;
  o.sink = std::move(sink);
  return std::make_unique<llm::RoleSet>(
      llm::roles_from_config(Config::parse(fake_roles_yaml(base_url, max_attempts), "<test roles>"), "<test roles>", "."), o);
}

}  // namespace ecpo::test
