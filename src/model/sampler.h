// Next-token sampling from a logits row, torch-free and deterministic: greedy (temperature 0), temperature,
// top-k, top-p (nucleus), with an explicit seed (util/rng.h: std::mt19937_64 + our own uniform draw, so the
// same seed gives the same ids on every machine). It knows nothing about models or tokenizers.
#pragma once
#include <cstdint>
#include <vector>

#include "util/rng.h"

namespace ecpo::model {

struct SamplerParams {
  double temperature = 0.0;  // <= 0 → greedy argmax (ties → lowest id)
  double top_p = 1.0;        // keep the smallest prefix of the sorted distribution with mass >= top_p
  int top_k = 0;             // 0 → no top-k filter
  std::uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}
  // logits [V] → chosen id.
  int sample(const std::vector<float>& logits);
  // The filtered, renormalised distribution sample() draws from (ids sorted by probability), for tests.
  std::vector<std::pair<int, double>> distribution(const std::vector<float>& logits) const;
  double uniform();  // [0, 1) from the generator

 private:
  SamplerParams p_;
  Rng rng_;
};

int argmax(const std::vector<float>& logits);

}  // namespace ecpo::model
