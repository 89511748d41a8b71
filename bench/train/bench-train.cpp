// Trainer benchmark (driven by bench/train/run.sh): times LoRA optimiser steps of `train_run` on one batch —
// every row of a pre-tokenised file as one micro-batch, grad_accum 1, reference log-probs cached before the
// first step — and prints one JSON line {impl, objective, dtype, step_ms[], tokens, first_loss, peak_rss_mb}.
// With --report FILE it instead prints the table of ecpo vs python rows that run.sh collected; with --profile N it
// also prints to stderr the N ops (libtorch's profiler: name and input shapes) with the most self time.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <torch/csrc/autograd/profiler_legacy.h>

#include "train/options.h"
#include "train/trainer.h"
#include "util/config.h"
#include "util/jsonl.h"
#include "util/table.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double min_of(const std::vector<double>& v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }

// Rows of one (model, objective, dtype, impl) from several runs are pooled: run.sh alternates the two programs
// so that both meet the same moments of a shared machine.
int report(const fs::path& file) {
  struct Pool {
    json first;
    std::vector<double> ms, cpu;
    double rss = 0;
  };
  std::map<std::string, Pool> ours, py;  // key: model|objective|dtype
  std::vector<std::string> order;
  ecpo::JsonlReader r(file);
  json j;
  while (r.next(j)) {
    const std::string key = j.value("model", "?") + "|" + j.value("objective", "?") + "|" + j.value("dtype", "?");
    if (!ours.count(key) && !py.count(key)) order.push_back(key);
    Pool& p = (j["impl"] == "ecpo" ? ours : py)[key];
    if (p.first.is_null()) p.first = j;
    for (double v : j["step_ms"].get<std::vector<double>>()) p.ms.push_back(v);
    for (double v : j["cpu_ms"].get<std::vector<double>>()) p.cpu.push_back(v);
    p.rss = std::max(p.rss, j["peak_rss_mb"].get<double>());
  }
  ecpo::Table t({"model", "objective", "dtype", "tokens/step", "steps", "ecpo ms/step med (min)", "python ms/step med (min)",
                 "ratio med", "ratio min", "CPU ratio med", "ecpo tok/s", "python tok/s", "ecpo RSS MB",
                 "python RSS MB", "RSS ratio", "first loss ecpo / python"});
  for (const auto& key : order) {
    if (!ours.count(key) || !py.count(key)) continue;
    const Pool &a = ours[key], &b = py[key];
    const double ma = median(a.ms), mb = median(b.ms), na = min_of(a.ms), nb = min_of(b.ms);
    const double tok = a.first["tokens"].get<double>();
    t.row({a.first["model"], a.first["objective"], a.first["dtype"], fmt::format("{:.0f}", tok),
           fmt::format("{} / {}", a.ms.size(), b.ms.size()), fmt::format("{:.1f} ({:.1f})", ma, na),
           fmt::format("{:.1f} ({:.1f})", mb, nb), fmt::format("{:.2f}", ma / mb), fmt::format("{:.2f}", na / nb),
           fmt::format("{:.2f}", median(a.cpu) / median(b.cpu)), fmt::format("{:.0f}", tok / na * 1000),
           fmt::format("{:.0f}", tok / nb * 1000), fmt::format("{:.0f}", a.rss), fmt::format("{:.0f}", b.rss),
           fmt::format("{:.2f}", a.rss / b.rss),
           fmt::format("{:.4f} / {:.4f}", a.first["first_loss"].get<double>(), b.first["first_loss"].get<double>())});
  }
  t.print(std::cout);
  std::cout << "ratio = ecpo / python wall time per optimiser step (goal <= 0.80): median, and best step (min; the least "
               "disturbed by other load on a shared machine); CPU = process CPU time per step (both threads); tok/s "
               "at the best step; RSS = peak resident memory of each process (goal ratio <= 1)\n";
  return 0;
}

// --profile: libtorch's op profiler over the whole run (reference pass and warm-up included), printed to stderr
// as the ops (name and input shapes) with the most self time.
struct OpStat {
  double self_us = 0, total_us = 0;
  std::int64_t calls = 0;
};

void print_profile(const torch::autograd::profiler::thread_event_lists& lists, int top) {
  using torch::autograd::profiler::EventKind;
  using torch::autograd::profiler::LegacyEvent;
  std::map<std::string, OpStat> stats;
  for (const auto& list : lists) {
    struct Open {
      const LegacyEvent* ev;
      std::string key;
      double child_us = 0;
    };
    std::vector<Open> stack;
    for (const auto& e : list) {
      if (e.kind() == EventKind::PushRange) {
        std::string key = e.name();
        for (const auto& s : e.shapes()) {
          key += " [";
          for (std::size_t i = 0; i < s.size(); ++i) key += (i ? "," : "") + std::to_string(s[i]);
          key += "]";
        }
        stack.push_back({&e, key});
      } else if (e.kind() == EventKind::PopRange && !stack.empty()) {
        const Open o = stack.back();
        stack.pop_back();
        const double us = o.ev->cpuElapsedUs(e);
        OpStat& st = stats[o.key];
        st.self_us += us - o.child_us;
        st.total_us += us;
        ++st.calls;
        if (!stack.empty()) stack.back().child_us += us;
      }
    }
  }
  std::vector<std::pair<std::string, OpStat>> v(stats.begin(), stats.end());
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.self_us > b.second.self_us; });
  double all = 0;
  for (const auto& [k, s] : v) all += s.self_us;
  std::fprintf(stderr, "profile: %.1f ms self time in ops\n%10s %10s %8s  op [input shapes]\n", all / 1000, "self ms",
               "total ms", "calls");
  for (int i = 0; i < top && i < static_cast<int>(v.size()); ++i)
    std::fprintf(stderr, "%10.2f %10.2f %8lld  %s\n", v[i].second.self_us / 1000, v[i].second.total_us / 1000,
                 static_cast<long long>(v[i].second.calls), v[i].first.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a = {{"--objective", "sft"}, {"--dtype", "float32"}, {"--threads", "2"},
                                          {"--steps", "5"},       {"--warmup", "2"},      {"--label", ""}};
  for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
  if (a.count("--report")) return report(a["--report"]);
  spdlog::set_level(spdlog::level::warn);  // one JSON line on stdout
  if (!a.count("--model") || !a.count("--data")) {
    std::fprintf(stderr,
                 "usage: bench_train --model DIR --data FILE.jsonl [--objective sft|dpo] [--dtype float32|bfloat16] "
                 "[--threads N] [--steps N] [--warmup N] [--label NAME] [--profile TOP]\n       bench_train --report RESULTS.jsonl\n");
    return 2;
  }
  const int steps = std::stoi(a["--steps"]), warmup = std::stoi(a["--warmup"]);
  std::size_t rows = 0;
  {
    ecpo::JsonlReader r(a["--data"]);
    json j;
    while (r.next(j)) ++rows;
  }
  char tmpl[] = "/tmp/ecpo-bench-train-XXXXXX";
  const fs::path out = fs::path(::mkdtemp(tmpl)) / "run";
  ecpo::train::TrainRequest req;
  req.model_dir = a["--model"];
  req.data = a["--data"];
  req.out = out;
  ecpo::Config c;
  c.set_overrides({"lr=1e-5", "warmup_steps=0", "save_steps=0", "grad_accum=1", "cutoff_len=0",
                   "batch_size=" + std::to_string(rows), "max_steps=" + std::to_string(steps + warmup),
                   "dtype=" + a["--dtype"], "threads=" + a["--threads"]});
  req.options = ecpo::train::train_options_from(c, a["--objective"]);
  const int profile_top = a.count("--profile") ? std::stoi(a["--profile"]) : 0;
  if (profile_top > 0) {
    torch::autograd::profiler::enableProfilerLegacy(
        torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU, /*report_input_shapes=*/true));
    ecpo::train::train_run(req);
    print_profile(torch::autograd::profiler::disableProfilerLegacy(), profile_top);
  } else {
    ecpo::train::train_run(req);
  }
  std::vector<double> ms, cpu_ms;
  double first_loss = 0, tokens = 0;
  {
    ecpo::JsonlReader r(out / "metrics.jsonl");
    json j;
    while (r.next(j)) {
      const auto step = j["step"].get<int>();
      if (step == 1) first_loss = j["loss"].get<double>();
      if (step > warmup) {
        ms.push_back(j["step_seconds"].get<double>() * 1000.0);
        cpu_ms.push_back(j["cpu_seconds"].get<double>() * 1000.0);
      }
      tokens = j["tokens"].get<double>();
    }
  }
  fs::remove_all(out.parent_path());
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  json o = {{"impl", "ecpo"},  {"model", a["--label"]}, {"objective", a["--objective"]}, {"dtype", a["--dtype"]}, {"step_ms", ms}, {"cpu_ms", cpu_ms},
            {"tokens", tokens}, {"first_loss", first_loss},     {"peak_rss_mb", ru.ru_maxrss / 1024.0}};
  std::cout << o.dump() << "\n";
  return 0;
}
