// The project's one seeded PRNG, with its own distributions, so that a seed gives the same numbers with every
// standard library (std::uniform_int_distribution, std::normal_distribution and friends are
// implementation-defined). Engine: std::mt19937_64, whose output sequence the standard fixes. Used by the
// synthesiser and task builder (data/), the sampler and weight initialiser (model/), the fake server's fault
// draws (llm/). Not cryptographic; not thread-safe (one per thread).
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <string_view>
#include <vector>

namespace ecpo {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : eng_(seed) {}
  std::uint64_t next() { return eng_(); }
  // Uniform in [0, n) by rejection (unbiased); n == 0 returns 0.
  std::uint64_t below(std::uint64_t n) {
    if (n <= 1) return 0;
    const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    std::uint64_t x;
    do x = eng_(); while (x >= limit);
    return x % n;
  }
  // Uniform integer in [lo, hi] (inclusive).
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
  }
  // Uniform double in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(eng_() >> 11) * 0x1.0p-53; }
  // Standard normal by Box–Muller on two uniform() draws; the second value of each pair is kept for the
  // next call.
  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    const double r = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * u2;
    spare_ = r * std::sin(th);
    has_spare_ = true;
    return r * std::cos(th);
  }
  bool chance(double p) { return uniform() < p; }
  // Index drawn with probability proportional to weights[i] (weights non-negative, sum > 0).
  std::size_t weighted(const std::vector<double>& weights) {
    double total = 0;
    for (double w : weights) total += w;
    double r = uniform() * total;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      if (r < weights[i]) return i;
      r -= weights[i];
    }
    return weights.empty() ? 0 : weights.size() - 1;
  }
  template <typename T>
  const T& pick(const std::vector<T>& v) {
    return v[static_cast<std::size_t>(below(v.size()))];
  }

 private:
  std::mt19937_64 eng_;
  double spare_ = 0;
  bool has_spare_ = false;
};

// FNV-1a 64-bit: a stable hash for deriving per-record seeds from ids (std::hash is not portable).
inline std::uint64_t fnv1a64(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

// Mixes a seed with a stream id (splitmix64 finaliser), so independent streams stay uncorrelated.
inline std::uint64_t mix_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace ecpo
