// Greedy / temperature / top-k / top-p sampling (see sampler.h). Sorting is lazy (only the prefix a nucleus or a
// draw reaches), so a 128k-vocabulary step costs O(V) instead of O(V log V).
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

double Sampler::uniform() { return rng_.uniform(); }

namespace {

// Strict total order of ids: higher logit first, equal logits by lower id — exactly the order a stable sort of
// 0..V-1 by descending logit gives, so results stay deterministic.
struct ByLogit {
  const float* l;
  bool operator()(int a, int b) const { return l[a] > l[b] || (l[a] == l[b] && a < b); }
};

// The candidate ids (all, or the top-k) with their weights exp((l - max)/T) and normaliser, sorted lazily: a
// nucleus or a draw usually needs only the first few dozen ids of a 128k vocabulary, so prefixes are sorted on
// demand (nth_element + sort of a growing prefix) instead of sorting everything every step.
class Candidates {
 public:
  Candidates(const std::vector<float>& logits, int top_k, double temperature) : cmp_{logits.data()} {
    const int v = static_cast<int>(logits.size());
    ids_.resize(v);
    std::iota(ids_.begin(), ids_.end(), 0);
    if (top_k > 0 && top_k < v) {
      std::nth_element(ids_.begin(), ids_.begin() + top_k, ids_.end(), cmp_);
      ids_.resize(top_k);
    }
    t_ = temperature > 0 ? temperature : 1.0;
    mx_ = logits[argmax(logits)];
    for (int id : ids_) z_ += weight(id);
  }
  double weight(int id) const { return std::exp((static_cast<double>(cmp_.l[id]) - mx_) / t_); }
  double z() const { return z_; }
  std::size_t size() const { return ids_.size(); }
  // The i-th best candidate (sorting a longer prefix when needed).
  int at(std::size_t i) {
    if (i >= sorted_) {
      std::size_t m = std::min(ids_.size(), std::max<std::size_t>(64, 4 * (i + 1)));
      if (m < ids_.size()) std::nth_element(ids_.begin() + sorted_, ids_.begin() + m, ids_.end(), cmp_);
      std::sort(ids_.begin() + sorted_, ids_.begin() + m, cmp_);
      sorted_ = m;
    }
    return ids_[i];
  }

 private:
  ByLogit cmp_;
  std::vector<int> ids_;
  std::size_t sorted_ = 0;
  double t_ = 1, mx_ = 0, z_ = 0;
};

// Length of the smallest sorted prefix whose probability mass reaches top_p (all candidates when top_p >= 1).
std::size_t nucleus_size(Candidates& c, double top_p) {
  if (top_p >= 1.0) return c.size();
  const double target = top_p * c.z();
  double cum = 0;
  for (std::size_t n = 0; n < c.size(); ++n) {
    cum += c.weight(c.at(n));
    if (cum >= target) return n + 1;
  }
  return c.size();
}

}  // namespace

std::vector<std::pair<int, double>> Sampler::distribution(const std::vector<float>& logits) const {
  if (logits.empty()) throw Error("distribution of empty logits", "sampler");
  Candidates c(logits, p_.top_k, p_.temperature);
  const std::size_t n = std::max<std::size_t>(1, nucleus_size(c, p_.top_p));
  std::vector<std::pair<int, double>> out;
  double z = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int id = c.at(i);
    out.emplace_back(id, c.weight(id));
    z += out.back().second;
  }
  for (auto& e : out) e.second /= z;
  return out;
}

int Sampler::sample(const std::vector<float>& logits) {
  if (logits.empty()) throw Error("cannot sample from empty logits", "sampler");
  if (p_.temperature <= 0) return argmax(logits);
  Candidates c(logits, p_.top_k, p_.temperature);
  const std::size_t n = std::max<std::size_t>(1, nucleus_size(c, p_.top_p));
  double mass = c.z();
  if (n < c.size()) {
    mass = 0;
    for (std::size_t i = 0; i < n; ++i) mass += c.weight(c.at(i));
  }
  // Walk the nucleus in sorted order until the cumulative weight passes u·mass (u < cum/mass, unnormalised).
  const double target = uniform() * mass;
  double cum = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int id = c.at(i);
    cum += c.weight(id);
    if (target < cum) return id;
  }
  return c.at(n - 1);  // rounding: u ≈ 1
}

}  // namespace ecpo::model
