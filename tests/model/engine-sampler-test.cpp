// Sampler (greedy, temperature, top-k, top-p, seeds) and the generate loop (stop ids, stop strings, max tokens)
// on a mock step function — no model needed.
#include "model/sampler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "model/generate.h"
#include "test-support.h"
#include "util/error.h"

using namespace ecpo::model;

TEST(Sampler, GreedyTakesTheFirstMaximum) {
  Sampler s({0.0, 1.0, 0, 1});
  EXPECT_EQ(s.sample({0.1f, 3.0f, -1.0f, 3.0f}), 1);
}

TEST(Sampler, TopPKeepsTheSmallestNucleusByHand) {
  // p = (0.5, 0.3, 0.2): top_p 0.7 keeps 0.5 + 0.3 (the first prefix reaching 0.7) → (0.625, 0.375).
  std::vector<float> logits = {std::log(0.2f), std::log(0.5f), std::log(0.3f)};
  Sampler s({1.0, 0.7, 0, 1});
  auto d = s.distribution(logits);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].first, 1);
  EXPECT_NEAR(d[0].second, 0.625, 1e-6);
  EXPECT_EQ(d[1].first, 2);
  EXPECT_NEAR(d[1].second, 0.375, 1e-6);
  // top_k 1 is greedy whatever the temperature
  Sampler k1({5.0, 1.0, 1, 3});
  for (int i = 0; i < 20; ++i) EXPECT_EQ(k1.sample(logits), 1);
  // temperature 2 flattens: p ∝ sqrt(p) → (√.2, √.5, √.3) / sum
  Sampler t2({2.0, 1.0, 0, 1});
  auto dt = t2.distribution(logits);
  const double z = std::sqrt(0.2) + std::sqrt(0.5) + std::sqrt(0.3);
  EXPECT_NEAR(dt[0].second, std::sqrt(0.5) / z, 1e-6);
}

TEST(Sampler, SeededDrawsAreReproducibleAndFollowTheDistribution) {
  std::vector<float> logits = {std::log(0.2f), std::log(0.5f), std::log(0.3f)};
  Sampler a({1.0, 1.0, 0, 42}), b({1.0, 1.0, 0, 42}), c({1.0, 1.0, 0, 43});
  std::vector<int> ra, rb, rc;
  for (int i = 0; i < 200; ++i) {
    ra.push_back(a.sample(logits));
    rb.push_back(b.sample(logits));
    rc.push_back(c.sample(logits));
  }
  EXPECT_EQ(ra, rb);
  EXPECT_NE(ra, rc);
  Sampler s({1.0, 1.0, 0, 7});
  std::map<int, int> count;
  const int n = 20000;
  for (int i = 0; i < n; ++i) ++count[s.sample(logits)];
  EXPECT_NEAR(count[0] / double(n), 0.2, 0.02);
  EXPECT_NEAR(count[1] / double(n), 0.5, 0.02);
  EXPECT_NEAR(count[2] / double(n), 0.3, 0.02);
}

namespace {
// The sampler as first written (full stable sort every step), kept here as the reference the lazy version must
// agree with: same ids in the same order, same probabilities, and the same id for the same uniform draw.
std::vector<std::pair<int, double>> reference_distribution(const std::vector<float>& logits, const SamplerParams& p) {
  const int v = static_cast<int>(logits.size());
  std::vector<int> order(v);
  for (int i = 0; i < v; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  int keep = p.top_k > 0 ? std::min(v, p.top_k) : v;
  const double t = p.temperature > 0 ? p.temperature : 1.0;
  std::vector<std::pair<int, double>> out;
  double z = 0;
  for (int i = 0; i < keep; ++i) {
    out.emplace_back(order[i], std::exp((logits[order[i]] - logits[order[0]]) / t));
    z += out.back().second;
  }
  for (auto& e : out) e.second /= z;
  if (p.top_p < 1.0) {
    double cum = 0;
    std::size_t n = 0;
    while (n < out.size()) {
      cum += out[n++].second;
      if (cum >= p.top_p) break;
    }
    out.resize(n);
    double z2 = 0;
    for (auto& e : out) z2 += e.second;
    for (auto& e : out) e.second /= z2;
  }
  return out;
}
}  // namespace

TEST(Sampler, LazySortingAgreesWithAFullSortOnLargeVocabularies) {
  std::mt19937 g(5);
  for (int trial = 0; trial < 12; ++trial) {
    const int v = trial % 3 == 0 ? 128256 : 5000 + trial * 100;
    std::normal_distribution<float> nd(0, trial % 2 ? 4.0f : 1.0f);  // peaked and flat distributions
    std::vector<float> logits(v);
    for (auto& x : logits) x = std::round(nd(g) * 8) / 8;  // many exact ties
    SamplerParams p{0.5 + 0.1 * (trial % 6), trial % 4 == 3 ? 1.0 : 0.9, trial % 5 == 4 ? 40 : 0, 100u + trial};
    auto ref = reference_distribution(logits, p);
    auto got = Sampler(p).distribution(logits);
    ASSERT_EQ(got.size(), ref.size()) << "trial " << trial;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      ASSERT_EQ(got[i].first, ref[i].first) << "trial " << trial << " rank " << i;
      ASSERT_NEAR(got[i].second, ref[i].second, 1e-12) << "trial " << trial << " rank " << i;
    }
    // draws: the reference walk over the same uniform numbers picks the same ids
    Sampler s(p), u(p);
    for (int k = 0; k < 50; ++k) {
      const double x = u.uniform();
      double cum = 0;
      int want = ref.back().first;
      for (const auto& [id, pr] : ref)
        if (x < (cum += pr)) {
          want = id;
          break;
        }
      ASSERT_EQ(s.sample(logits), want) << "trial " << trial << " draw " << k;
    }
  }
}

namespace {
// A mock model over vocab {0..4}: always predicts (last fed id + 1) % 5.
StepFn counting_model(std::vector<std::vector<int>>* fed) {
  return [fed](const std::vector<int>& ids) {
    fed->push_back(ids);
    std::vector<float> l(5, 0.0f);
    l[(ids.back() + 1) % 5] = 10.0f;
    return l;
  };
}
std::string letters(const std::vector<int>& ids) {
  std::string s;
  for (int i : ids) s += static_cast<char>('a' + i);
  return s;
}
}  // namespace

TEST(GenerateLoop, FeedsPromptOnceThenOneIdAndStopsOnEos) {
  std::vector<std::vector<int>> fed;
  GenerateParams p;
  p.max_tokens = 10;
  auto r = generate_loop({0, 1}, p, counting_model(&fed), letters, /*eos*/ {4});
  EXPECT_EQ(r.ids, (std::vector<int>{2, 3}));  // 4 is eos: not included
  EXPECT_EQ(r.finish_reason, "stop");
  EXPECT_EQ(r.text, "cd");
  ASSERT_EQ(fed.size(), 3u);
  EXPECT_EQ(fed[0], (std::vector<int>{0, 1}));
  EXPECT_EQ(fed[1], (std::vector<int>{2}));
  EXPECT_EQ(r.prompt_tokens, 2);
}

TEST(GenerateLoop, MaxTokensStopIdsAndStopStrings) {
  std::vector<std::vector<int>> fed;
  GenerateParams p;
  p.max_tokens = 3;
  p.stop_at_eos = false;
  auto r = generate_loop({0}, p, counting_model(&fed), letters, {4});
  EXPECT_EQ(r.ids, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(r.finish_reason, "length");

  p.max_tokens = 20;
  p.stop_ids = {3};
  r = generate_loop({0}, p, counting_model(&fed), letters, {4});
  EXPECT_EQ(r.ids, (std::vector<int>{1, 2}));
  EXPECT_EQ(r.finish_reason, "stop");

  p.stop_ids = {};
  p.stop_strings = {"ea"};  // ids 1 2 3 4 0 1 … → text "bcdeab…": stop when "ea" appears
  r = generate_loop({0}, p, counting_model(&fed), letters, {});
  EXPECT_EQ(r.text, "bcd");
  EXPECT_EQ(r.ids, (std::vector<int>{1, 2, 3, 4, 0}));
  EXPECT_EQ(r.finish_reason, "stop");

  // context limit: prompt 1 + 2 generated = max_context 3
  p.stop_strings = {};
  r = generate_loop({0}, p, counting_model(&fed), letters, {}, 3);
  EXPECT_EQ(r.ids.size(), 2u);
  EXPECT_EQ(r.finish_reason, "length");
  // stop strings without a decoder are an error
  p.stop_strings = {"x"};
  EXPECT_THROW(generate_loop({0}, p, counting_model(&fed), {}, {}), ecpo::Error);
  EXPECT_THROW(generate_loop({}, GenerateParams{}, counting_model(&fed), {}, {}), ecpo::Error);
}
