// Data-stage throughput and memory at scale (issue #15): for each size (default 1,000,000 reviews) it
// synthesises Amazon-2023 Books data (`data synth`, reused when present) and a gzip copy, then runs each stage
// in its own forked child (so ru_maxrss is that stage's peak): the parse-only baselines (every line validated
// by nlohmann's SAX acceptor; every line parsed into a DOM; and, for reference, the fast-json validator the
// stages themselves use), `data import` (plain and gzip) and
// `tasks build` through the library, and the same two through the ecpo binary (its peak RSS includes the
// program's own floor, measured by `ecpo --version`). Prints one table per size; "vs parse" is the parse-only
// (SAX) CPU time over the stage's CPU time, i.e. the stage's throughput as a fraction of the baseline's.
// Usage: bench_data [--reviews N[,N...]] [--dir DIR] [--repeat N] [--ecpo BIN] [--no-cli] [--clean]
// (--repeat, default 3: rounds; each round runs every stage once, each next to its baselines, and the table
// shows medians over rounds, ratios being medians of per-round ratios — robust on a shared machine).
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "data/fast-json.h"
#include "data/import.h"
#include "data/synth.h"
#include "data/tasks.h"
#include "util/jsonl.h"
#include "util/table.h"
#include "util/text.h"

#ifndef ECPO_BIN
#define ECPO_BIN ""
#endif

namespace {
std::string g_ecpo = ECPO_BIN;  // --ecpo overrides (e.g. a copy, so that rebuilding does not disturb a run)
}

namespace fs = std::filesystem;

namespace {

struct StageResult {
  double wall = 0, cpu = 0, peak_mb = 0;  // cpu: user + system of the child (stable on a shared machine)
};

StageResult finish_child(pid_t pid, double wall) {
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "a benchmark stage failed\n");
    std::exit(1);
  }
  StageResult r;
  r.wall = wall;
  r.peak_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;
  r.cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
          static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return r;
}

int g_repeat = 3;  // rounds: every stage runs once per round, next to its baselines

// Runs fn in a child process.
StageResult run_stage_once(const std::function<void()>& fn) {
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    try {
      fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stage failed: %s\n", e.what());
      _exit(1);
    }
    _exit(0);
  }
  StageResult r = finish_child(pid, 0);
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

// Runs the ecpo binary with `args` (stdout/stderr to /dev/null).
StageResult run_binary_once(const std::vector<std::string>& args) {
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(g_ecpo.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (!std::freopen("/dev/null", "w", stdout) || !std::freopen("/dev/null", "w", stderr)) _exit(3);
    execv(g_ecpo.c_str(), argv.data());
    _exit(4);
  }
  StageResult r = finish_child(pid, 0);
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::string fmt(double v, int prec = 2) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

void validate_lines(const std::vector<fs::path>& files) {
  std::string line;
  std::size_t ok = 0;
  for (const auto& p : files) {
    ecpo::LineReader r(p);
    while (r.next(line)) ok += ecpo::json::accept(line);
  }
  if (ok == 0) std::abort();
}

// The project's fast JSON path (data/fast-json.h) with a do-nothing handler: validation at its speed.
class NullSax : public nlohmann::json_sax<ecpo::json> {
 public:
  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return true; }
  bool key(string_t&) override { return true; }
  bool end_object() override { return true; }
  bool start_array(std::size_t) override { return true; }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
};

void fast_validate_lines(const std::vector<fs::path>& files) {
  std::string line;
  std::size_t ok = 0;
  NullSax sax;
  for (const auto& p : files) {
    ecpo::LineReader r(p);
    while (r.next(line)) ok += ecpo::data::fast_sax_parse(line, sax);
  }
  if (ok == 0) std::abort();
}

void dom_lines(const std::vector<fs::path>& files) {
  ecpo::json v;
  std::size_t n = 0;
  for (const auto& p : files) {
    ecpo::JsonlReader r(p);
    while (r.next(v)) n += v.size();
  }
  if (n == 0) std::abort();
}

std::uint64_t bytes_of(const std::vector<fs::path>& files) {
  std::uint64_t n = 0;
  for (const auto& f : files) n += fs::file_size(f);
  return n;
}

void bench_size(std::size_t target, const fs::path& root, bool cli, bool clean) {
  const fs::path dir = root / ("reviews-" + std::to_string(target));
  fs::create_directories(dir);
  ecpo::data::SynthOptions so;
  so.domain = "book";
  so.reviews_per_user = 30;
  so.users = static_cast<std::size_t>(static_cast<double>(target) / 29.5) + 1;  // 4/5 users have 30, 1/5 ~27.5
  so.seed = 1;
  so.out = dir / "raw";
  const fs::path reviews = so.out / "Books.jsonl", meta = so.out / "meta_Books.jsonl";
  if (!fs::exists(meta)) {
    std::fprintf(stderr, "synthesising %zu users into %s ...\n", so.users, so.out.c_str());
    run_stage_once([&] { ecpo::data::synthesize(so); });
  }
  const fs::path reviews_gz = reviews.string() + ".gz", meta_gz = meta.string() + ".gz";
  if (!fs::exists(meta_gz)) {
    std::fprintf(stderr, "gzipping ...\n");
    const std::string cmd = "gzip -6 -k -f '" + reviews.string() + "' '" + meta.string() + "'";
    if (std::system(cmd.c_str()) != 0) std::exit(1);
  }
  std::size_t n_reviews = 0;
  {
    ecpo::LineReader r(reviews);
    std::string line;
    while (r.next(line)) ++n_reviews;
  }
  const std::vector<fs::path> raw{reviews, meta}, raw_gz{reviews_gz, meta_gz};
  const double raw_mb = static_cast<double>(bytes_of(raw)) / 1e6, gz_mb = static_cast<double>(bytes_of(raw_gz)) / 1e6;
  auto import_opts = [&](bool gz, const fs::path& out) {
    ecpo::data::ImportOptions o;
    o.source = "amazon2023";
    o.reviews = {gz ? reviews_gz : reviews};
    o.meta = {gz ? meta_gz : meta};
    o.out = out;
    return o;
  };

  std::fprintf(stderr, "running stages on %zu reviews ...\n", n_reviews);
  const std::vector<fs::path> imported{dir / "imported" / "users.jsonl", dir / "imported" / "items.jsonl"};
  ecpo::data::TaskBuildOptions to;
  to.data = dir / "imported";
  to.out = dir / "tasks";
  const bool with_cli = cli && !g_ecpo.empty();
  // Stages, in the order each round runs them; a stage's baselines run in the same round, next to it.
  struct Stage {
    std::string name, input;
    double mb = 0;
    std::function<StageResult()> run;
    int sax = -1, dom = -1;  // indexes of its baselines
    std::vector<StageResult> rounds;
  };
  std::vector<Stage> stages;
  auto add = [&](std::string name, std::string input, double mb, std::function<StageResult()> run, int sax = -1,
                 int dom = -1) {
    stages.push_back({std::move(name), std::move(input), mb, std::move(run), sax, dom, {}});
    return static_cast<int>(stages.size() - 1);
  };
  const std::string in_raw = std::to_string(n_reviews) + " reviews raw";
  const std::string in_gz = std::to_string(n_reviews) + " reviews .gz (" + fmt(gz_mb, 0) + " MB)";
  const std::string in_imp = "users.jsonl + items.jsonl";
  auto lib = [](std::function<void()> fn) { return [fn] { return run_stage_once(fn); }; };
  const int sax = add("parse-only: SAX validate (baseline)", in_raw, raw_mb, lib([&] { validate_lines(raw); }));
  const int dom = add("parse-only: DOM", in_raw, raw_mb, lib([&] { dom_lines(raw); }), sax);
  add("parse-only: fast-json validate", in_raw, raw_mb, lib([&] { fast_validate_lines(raw); }), sax, dom);
  add("data import", in_raw, raw_mb, lib([&] { ecpo::data::import_raw(import_opts(false, dir / "imported")); }), sax, dom);
  const int sax_gz = add("parse-only: SAX validate (baseline)", in_gz, raw_mb, lib([&] { validate_lines(raw_gz); }));
  add("data import", in_gz, raw_mb, lib([&] {
        ecpo::data::import_raw(import_opts(true, dir / "imported-gz"));
        fs::remove_all(dir / "imported-gz");
      }), sax_gz);
  // The tasks stages need `imported`: they come after the import in each round (first round included).
  const int tsax = add("parse-only: SAX validate (baseline)", in_imp, 0, lib([&] { validate_lines(imported); }));
  const int tdom = add("parse-only: DOM", in_imp, 0, lib([&] { dom_lines(imported); }), tsax);
  add("parse-only: fast-json validate", in_imp, 0, lib([&] { fast_validate_lines(imported); }), tsax, tdom);
  add("tasks build", in_imp, 0, lib([&] { ecpo::data::build_tasks(to); }), tsax, tdom);
  if (with_cli) {
    add("ecpo --version (program floor)", "-", 0, [] { return run_binary_once({"--version"}); });
    add("ecpo data import (CLI)", in_raw, raw_mb, [&] {
          StageResult r = run_binary_once({"data", "import", "--source", "amazon2023", "--reviews", reviews.string(),
                                           "--meta", meta.string(), "--out", (dir / "imported-cli").string()});
          fs::remove_all(dir / "imported-cli");
          return r;
        }, sax, dom);
    add("ecpo tasks build (CLI)", in_imp, 0, [&] {
          StageResult r = run_binary_once(
              {"tasks", "build", "--data", (dir / "imported").string(), "--out", (dir / "tasks-cli").string()});
          fs::remove_all(dir / "tasks-cli");
          return r;
        }, tsax, tdom);
  }
  for (int round = 0; round < g_repeat; ++round) {
    std::fprintf(stderr, "round %d of %d\n", round + 1, g_repeat);
    for (Stage& st : stages) {
      if (st.input == in_imp && st.mb == 0) st.mb = static_cast<double>(bytes_of(imported)) / 1e6;
      st.rounds.push_back(st.run());
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0.0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  };
  // A stage's speed relative to a baseline: the median over rounds of baseline CPU / stage CPU (both measured
  // in the same round, so a slow spell of a shared machine hits both).
  auto ratio = [&](const Stage& st, int base) {
    if (base < 0) return std::string("-");
    std::vector<double> r;
    for (std::size_t i = 0; i < st.rounds.size(); ++i) r.push_back(stages[base].rounds[i].cpu / st.rounds[i].cpu);
    return fmt(median(r)) + "x";
  };
  ecpo::Table t({"stage", "input", "MB in", "wall s", "CPU s", "MB/s (CPU)", "peak RSS MB", "vs parse (SAX)",
                 "vs parse (DOM)"});
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const Stage& st = stages[i];
    std::vector<double> cpu, wall;
    double peak = 0;
    for (const auto& r : st.rounds) {
      cpu.push_back(r.cpu);
      wall.push_back(r.wall);
      peak = std::max(peak, r.peak_mb);
    }
    const bool baseline = static_cast<int>(i) == sax || static_cast<int>(i) == sax_gz || static_cast<int>(i) == tsax;
    t.row({st.name, st.input, st.mb > 0 ? fmt(st.mb, 1) : "-", fmt(median(wall)), fmt(median(cpu)),
           st.mb > 0 ? fmt(st.mb / median(cpu), 1) : "-", fmt(peak, 1), baseline ? "1.00x" : ratio(st, st.sax),
           ratio(st, st.dom)});
  }
  std::cout << "\n" << n_reviews << " reviews (" << so.users << " users), files in " << dir.string() << "\n";
  t.print(std::cout);
  if (clean) fs::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes{1000000};
  fs::path dir = fs::temp_directory_path() / "ecpo-bench-data";
  bool cli = true, clean = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--reviews" && i + 1 < argc) {
      sizes.clear();
      for (const auto& s : ecpo::split(argv[++i], ',')) sizes.push_back(std::stoull(s));
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--no-cli") {
      cli = false;
    } else if (a == "--ecpo" && i + 1 < argc) {
      g_ecpo = argv[++i];
    } else if (a == "--repeat" && i + 1 < argc) {
      g_repeat = std::max(1, std::stoi(argv[++i]));
    } else if (a == "--clean") {
      clean = true;
    } else {
      std::fprintf(stderr, "usage: bench_data [--reviews N[,N...]] [--dir DIR] [--repeat N] [--ecpo BIN] [--no-cli] [--clean]\n");
      return 2;
    }
  }
  for (std::size_t n : sizes) bench_size(n, dir, cli, clean);
  std::cout << "\nEach stage runs in its own child process (peak RSS is its own). MB in: uncompressed input bytes; "
               "times are medians over the rounds; MB/s and ratios use CPU time (user + system), each ratio the "
               "median of per-round ratios against the baseline measured in the same round (the machine may be "
               "shared). "
               "Library stages exclude the ecpo binary's floor; the CLI rows include it.\n";
  return 0;
}
