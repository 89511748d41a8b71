// The bundled offline sample for the ecpo / mtpo / eval tests, built once per test binary in a temp
// directory with the library calls of scripts/quickstart.sh (data synth --domain book --users 40 --seed 7,
// data import, tasks build, index build --kind bm25), plus real run directories from `simulate`
// (rule agent × agenda user) to work on; helpers to read JSONL and to run a shell command.
#pragma once
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "data/import.h"
#include "data/synth.h"
#include "data/tasks.h"
#include "episode/simulate.h"
#include "retrieval/index.h"
#include "test-support.h"
#include "util/jsonl.h"

namespace ecpo::test {

struct Sample {
  std::filesystem::path root, tasks, index;
};

inline Sample build_sample(const std::filesystem::path& dir) {
  Sample s{dir, dir / "tasks", dir / "index"};
  data::SynthOptions so;
  so.domain = "book";
  so.users = 40;
  so.seed = 7;
  so.out = dir / "raw";
  auto sr = data::synthesize(so);
  data::ImportOptions io;
  io.source = "amazon2023";
  io.reviews = {sr.reviews_file};
  io.meta = {sr.meta_file};
  io.out = dir / "data";
  io.on_bad = [](const Error&) {};
  data::import_raw(io);
  data::TaskBuildOptions to;
  to.data = dir / "data";
  to.out = s.tasks;
  to.seed = 7;
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

// A rule × agenda run on the first `limit` tasks of `split` (key=value settings passed on; "seed=N" sets the
// run seed), built once per (split, limit, settings) and process.
inline std::filesystem::path sample_run(const std::string& split = "train", std::size_t limit = 40,
                                        const std::vector<std::string>& settings = {}) {
  static std::mutex mu;
  static std::map<std::string, std::filesystem::path> made;
  std::lock_guard lk(mu);
  std::string key = split + "/" + std::to_string(limit);
  for (const auto& s : settings) key += "/" + s;
  if (auto it = made.find(key); it != made.end()) return it->second;
  const Sample& sm = book_sample();
  episode::SimulateOptions o;
  o.tasks = sm.tasks;
  o.split = split;
  o.index = sm.index;
  o.agent = "rule";
  o.user = "agenda";
  o.limit = limit;
  o.concurrency = 4;
  for (const auto& st : settings) {
    if (st.rfind("seed=", 0) == 0) o.seed = std::stoull(st.substr(5));
    else o.overrides.push_back(st);
  }
  o.out = sm.root / ("run-" + std::to_string(made.size()));
  episode::simulate(o);
  made[key] = o.out;
  return o.out;
}

inline std::vector<nlohmann::json> jsonl_rows(const std::filesystem::path& p) {
  std::vector<nlohmann::json> rows;
  JsonlReader r(p);
  nlohmann::json v;
  while (r.next(v)) rows.push_back(v);
  return rows;
}

inline std::filesystem::path write_text(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
  return p;
}

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Copies a run directory's config and trajectories (not run.db) into `dir`, editing each episode with `edit`.
template <typename F>
inline std::filesystem::path edited_run(const std::filesystem::path& from, const std::filesystem::path& dir, F edit) {
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(from / "config.yaml", dir / "config.yaml", std::filesystem::copy_options::overwrite_existing);
  JsonlWriter w(dir / "trajectories.jsonl");
  for (auto e : jsonl_rows(from / "trajectories.jsonl")) {
    edit(e);
    w.write(e);
  }
  w.commit();
  return dir;
}

}  // namespace ecpo::test
