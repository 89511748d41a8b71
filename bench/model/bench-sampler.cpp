// Sampler benchmark: µs per sampled token on a Llama-3-sized vocabulary (128,256) for temperature / top-p /
// top-k settings, the lazy-sorting Sampler against the full stable sort it replaced (re-implemented here as the
// baseline, same process). Logits: normal with σ = 1 ("flat") and σ = 4 ("peaked", closer to a trained LM).
// Usage: bench_model_sampler [--vocab 128256] [--draws 200]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "model/sampler.h"
#include "util/table.h"

using namespace ecpo::model;

namespace {

// The sampler's previous algorithm: stable-sort all ids by logit, softmax, cut to top-k / top-p, walk.
int full_sort_sample(const std::vector<float>& logits, const SamplerParams& p, double u) {
  const int v = static_cast<int>(logits.size());
  std::vector<int> order(v);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  const int keep = p.top_k > 0 ? std::min(v, p.top_k) : v;
  std::vector<double> w(keep);
  double z = 0;
  for (int i = 0; i < keep; ++i) z += (w[i] = std::exp((logits[order[i]] - logits[order[0]]) / p.temperature));
  int n = keep;
  if (p.top_p < 1) {
    double cum = 0;
    for (n = 0; n < keep;)
      if ((cum += w[n++] / z) >= p.top_p) break;
  }
  double mass = 0;
  for (int i = 0; i < n; ++i) mass += w[i];
  double cum = 0;
  for (int i = 0; i < n; ++i)
    if (u * mass < (cum += w[i])) return order[i];
  return order[n - 1];
}

}  // namespace

int main(int argc, char** argv) {
  int vocab = 128256, draws = 200;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--vocab") vocab = std::stoi(argv[i + 1]);
    else if (a == "--draws") draws = std::stoi(argv[i + 1]);
  }
  ecpo::Table t({"logits", "temperature", "top_p", "top_k", "full sort µs", "Sampler µs", "speed-up"});
  std::mt19937 g(1);
  for (float sigma : {1.0f, 4.0f}) {
    std::vector<std::vector<float>> rows(8, std::vector<float>(vocab));
    std::normal_distribution<float> nd(0, sigma);
    for (auto& r : rows)
      for (auto& x : r) x = nd(g);
    for (SamplerParams p : {SamplerParams{1.0, 1.0, 0, 1}, SamplerParams{0.7, 0.9, 0, 1}, SamplerParams{0.8, 1.0, 50, 1},
                            SamplerParams{0.6, 0.95, 40, 1}}) {
      long sink = 0;
      auto t0 = std::chrono::steady_clock::now();
      for (int d = 0; d < draws; ++d) sink += full_sort_sample(rows[d % rows.size()], p, (d % 97) / 97.0);
      const double base = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / draws;
      Sampler s(p);
      t0 = std::chrono::steady_clock::now();
      for (int d = 0; d < draws; ++d) sink += s.sample(rows[d % rows.size()]);
      const double ours = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / draws;
      char b[4][32];
      std::snprintf(b[0], 32, "%.0f", base);
      std::snprintf(b[1], 32, "%.0f", ours);
      std::snprintf(b[2], 32, "%.1f×", base / ours);
      std::snprintf(b[3], 32, "%.2f", p.temperature);
      t.row({sigma == 1.0f ? "flat (σ=1)" : "peaked (σ=4)", b[3], std::to_string(p.top_p).substr(0, 4),
             std::to_string(p.top_k), b[0], b[1], b[2]});
      if (sink == 42) std::puts("");
    }
  }
  t.print(std::cout);
  std::printf("vocabulary %d, %d draws per row, one thread\n", vocab, draws);
  return 0;
}
