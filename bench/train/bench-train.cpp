// Trainer benchmark (driven by bench/train/run.sh): times LoRA optimiser steps of `train_run` on one batch —
// every row of a pre-tokenised file as one micro-batch, grad_accum 1, reference log-probs cached before the
// first step — and prints one JSON line {impl, objective, dtype, step_ms[], tokens, first_loss, peak_rss_mb}.
// With --report FILE it instead prints the table of ecpo vs python rows that run.sh collected.
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

int report(const fs::path& file) {
  std::map<std::string, json> ours, py;  // key: model/objective/dtype
  ecpo::JsonlReader r(file);
  json j;
  std::vector<std::string> order;
  while (r.next(j)) {
    const std::string key = j.value("model", "?") + "|" + j.value("objective", "?") + "|" + j.value("dtype", "?");
    if (!ours.count(key) && !py.count(key)) order.push_back(key);
    (j["impl"] == "ecpo" ? ours : py)[key] = j;
  }
  ecpo::Table t({"model", "objective", "dtype", "tokens/step", "ecpo ms/step", "python ms/step", "ratio",
                 "ecpo CPU ms", "python CPU ms", "CPU ratio", "ecpo tok/s", "python tok/s", "ecpo RSS MB",
                 "python RSS MB", "RSS ratio", "first loss ecpo / python"});
  for (const auto& key : order) {
    if (!ours.count(key) || !py.count(key)) continue;
    const json &a = ours[key], &b = py[key];
    const double ma = median(a["step_ms"].get<std::vector<double>>()), mb = median(b["step_ms"].get<std::vector<double>>());
    const double ca = median(a["cpu_ms"].get<std::vector<double>>()), cb = median(b["cpu_ms"].get<std::vector<double>>());
    const double tok = a["tokens"].get<double>();
    const double ra = a["peak_rss_mb"].get<double>(), rb = b["peak_rss_mb"].get<double>();
    t.row({a["model"], a["objective"], a["dtype"], fmt::format("{:.0f}", tok), fmt::format("{:.1f}", ma),
           fmt::format("{:.1f}", mb), fmt::format("{:.2f}", ma / mb), fmt::format("{:.1f}", ca), fmt::format("{:.1f}", cb),
           fmt::format("{:.2f}", ca / cb), fmt::format("{:.0f}", tok / ma * 1000), fmt::format("{:.0f}", tok / mb * 1000),
           fmt::format("{:.0f}", ra), fmt::format("{:.0f}", rb), fmt::format("{:.2f}", ra / rb),
           fmt::format("{:.4f} / {:.4f}", a["first_loss"].get<double>(), b["first_loss"].get<double>())});
  }
  t.print(std::cout);
  std::cout << "ratio = ecpo / python wall time per step (median of the measured steps; goal <= 0.80); CPU = process "
               "CPU time per step (both threads; steadier than wall time on a shared machine); RSS ratio = peak "
               "resident memory of the two processes (goal <= 1)\n";
  return 0;
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
                 "[--threads N] [--steps N] [--warmup N] [--label NAME]\n       bench_train --report RESULTS.jsonl\n");
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
  ecpo::train::train_run(req);
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
