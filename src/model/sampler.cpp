// Greedy / temperature / top-k / top-p sampling (see sampler.h).
#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/error.h"

namespace ecpo::model {

int argmax(const std::vector<float>& logits) {
  if (logits.empty()) throw Error("argmax of empty logits", "sampler");
  int best = 0;
  for (int i = 1; i < static_cast<int>(logits.size()); ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

double Sampler::uniform() { return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0); }

std::vector<std::pair<int, double>> Sampler::distribution(const std::vector<float>& logits) const {
  const int v = static_cast<int>(logits.size());
  std::vector<int> order(v);
  std::iota(order.begin(), order.end(), 0);
  // stable: equal logits keep id order, so the result is deterministic
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  int keep = v;
  if (p_.top_k > 0) keep = std::min(keep, p_.top_k);
  const double t = p_.temperature > 0 ? p_.temperature : 1.0;
  const double mx = logits[order[0]];
  std::vector<std::pair<int, double>> out;
  double z = 0;
  for (int i = 0; i < keep; ++i) {
    double e = std::exp((logits[order[i]] - mx) / t);
    out.emplace_back(order[i], e);
    z += e;
  }
  for (auto& [id, pr] : out) pr /= z;
  if (p_.top_p < 1.0) {
    double cum = 0;
    std::size_t n = 0;
    while (n < out.size()) {
      cum += out[n].second;
      ++n;
      if (cum >= p_.top_p) break;
    }
    out.resize(std::max<std::size_t>(n, 1));
    double z2 = 0;
    for (auto& e : out) z2 += e.second;
    for (auto& e : out) e.second /= z2;
  }
  return out;
}

int Sampler::sample(const std::vector<float>& logits) {
  if (logits.empty()) throw Error("cannot sample from empty logits", "sampler");
  if (p_.temperature <= 0) return argmax(logits);
  auto dist = distribution(logits);
  double u = uniform(), cum = 0;
  for (const auto& [id, pr] : dist) {
    cum += pr;
    if (u < cum) return id;
  }
  return dist.back().first;  // rounding: u ≈ 1
}

}  // namespace ecpo::model
