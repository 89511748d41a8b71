// Import throughput: generates an Amazon-2023 Books file of ~N reviews with the synthesiser (into /tmp),
// then runs, each in a forked child (so ru_maxrss is that stage's peak): line reading only, line reading +
// JSON parsing (util/jsonl.h, the baseline), and the full `ecpo data import`. Prints one table with the
// ratio of each stage's time to the parse-only baseline. Usage: bench_import [reviews=1000000] [dir]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>

#include "data/import.h"
#include "data/synth.h"
#include "util/jsonl.h"
#include "util/table.h"

namespace fs = std::filesystem;

namespace {

struct StageResult {
  double seconds = 0;  // wall
  double cpu = 0;      // user + system of the child (stable when the machine is shared)
  double peak_mb = 0;
};

// Runs fn in a child process; returns its wall time and peak RSS.
StageResult run_stage(const std::function<void()>& fn) {
  int fds[2];
  if (pipe(fds) != 0) std::abort();
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto t0 = std::chrono::steady_clock::now();
    try {
      fn();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "stage failed: %s\n", e.what());
      _exit(1);
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (write(fds[1], &s, sizeof s) != sizeof s) _exit(2);
    _exit(0);
  }
  close(fds[1]);
  StageResult r;
  if (read(fds[0], &r.seconds, sizeof r.seconds) != sizeof r.seconds) r.seconds = -1;
  close(fds[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "a benchmark stage failed\n");
    std::exit(1);
  }
  r.peak_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;
  r.cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
          static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return r;
}

std::string fmt(double v, int prec = 2) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t target = argc > 1 ? std::stoull(argv[1]) : 1000000;
  const fs::path dir = argc > 2 ? fs::path(argv[2]) : fs::temp_directory_path() / "ecpo-bench-import";
  fs::create_directories(dir);

  ecpo::data::SynthOptions so;
  so.domain = "book";
  so.reviews_per_user = 30;
  so.users = static_cast<std::size_t>(static_cast<double>(target) / 29.5) + 1;  // 4/5 users have 30, 1/5 ~27.5
  so.seed = 1;
  so.out = dir / "raw";
  StageResult synth = run_stage([&] { ecpo::data::synthesize(so); });
  const fs::path reviews = so.out / "Books.jsonl", meta = so.out / "meta_Books.jsonl";
  const double mb = static_cast<double>(fs::file_size(reviews) + fs::file_size(meta)) / 1e6;

  std::size_t n_reviews = 0;
  {
    ecpo::LineReader r(reviews);
    std::string line;
    while (r.next(line)) ++n_reviews;
  }

  StageResult lines = run_stage([&] {
    std::string line;
    std::size_t n = 0;
    for (const auto& p : {reviews, meta}) {
      ecpo::LineReader r(p);
      while (r.next(line)) n += line.size();
    }
    if (n == 0) std::abort();
  });
  StageResult parse = run_stage([&] {
    ecpo::json v;
    std::size_t n = 0;
    for (const auto& p : {reviews, meta}) {
      ecpo::JsonlReader r(p);
      while (r.next(v)) n += v.size();
    }
    if (n == 0) std::abort();
  });
  StageResult import = run_stage([&] {
    ecpo::data::ImportOptions o;
    o.source = "amazon2023";
    o.reviews = {reviews};
    o.meta = {meta};
    o.out = dir / "imported";
    ecpo::data::ImportStats s = ecpo::data::import_raw(o);
    std::fprintf(stderr, "import: %s\n", ecpo::data::import_summary(s).c_str());
  });

  ecpo::Table t({"stage", "reviews", "MB in", "wall s", "CPU s", "MB/s (CPU)", "peak RSS MB", "CPU / parse-only"});
  auto row = [&](const char* name, const StageResult& r) {
    t.row({name, std::to_string(n_reviews), fmt(mb, 1), fmt(r.seconds), fmt(r.cpu), fmt(mb / r.cpu, 1),
           fmt(r.peak_mb, 1), fmt(r.cpu / parse.cpu) + "x"});
  };
  row("synth (write)", synth);
  row("read lines", lines);
  row("read + parse JSON (baseline)", parse);
  row("data import", import);
  t.print(std::cout);
  std::cout << "files: " << dir.string() << " (MB in = reviews + meta, uncompressed; each stage in its own child"
            << " process; the baseline builds a JSON DOM per line, the import extracts fields with SAX)\n";
  return 0;
}
