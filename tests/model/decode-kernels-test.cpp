// The decode kernels (model/decode-kernels.h) at every level this CPU supports (portable, AVX2, AVX-512) against
// a float64 loop written here, for f32 and bf16 weights, shapes with and without vector tails, row ranges and
// bias; bf16 rounding against hand-computed bit patterns; and the decode path of CausalLM (hand-written kernels,
// one token at a time through the KV cache) against the full torch forward, f32 and bf16, Llama and Qwen2.
#include "model/decode-kernels.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstring>
#include <random>

#include "model/llama.h"
#include "test-support.h"
#include "util/error.h"
#include "util/jsonl.h"

using namespace ecpo::model;

namespace {

const std::filesystem::path kAssets = std::filesystem::path(ECPO_TEST_ASSETS) / "model";

std::vector<std::string> levels() {
  std::vector<std::string> out;
  for (const char* l : {"portable", "avx2", "avx512"}) {
    try {
      kernels::set_level(l);
      out.push_back(l);
    } catch (const ecpo::Error&) {
    }
  }
  kernels::set_level("");
  return out;
}

struct Restore {
  ~Restore() { kernels::set_level(""); }
};

std::vector<float> randn(std::size_t n, std::uint32_t seed) {
  std::mt19937 g(seed);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

// Largest |a[i] - b[i]| over two logit rows (their sizes must match).
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max<double>(m, std::fabs(a[i] - b[i]));
  return m;
}

}  // namespace

TEST(DecodeKernels, Bf16RoundsToNearestEven) {
  EXPECT_EQ(kernels::to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 lies exactly between 0x3f80 and 0x3f81: ties go to the even 0x3f80; 1 + 3·2^-8 → 0x3f82
  EXPECT_EQ(kernels::to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(kernels::to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(kernels::to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(kernels::from_bf16(0x4049), 3.140625f);  // 0x4049 = 3.140625 exactly
  EXPECT_TRUE(std::isnan(kernels::from_bf16(kernels::to_bf16(std::nanf("")))));
  EXPECT_EQ(kernels::to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
}

TEST(DecodeKernels, GemvMatchesFloat64AtEveryLevel) {
  Restore restore;
  const auto ls = levels();
  ASSERT_FALSE(ls.empty());
  std::printf("kernel levels on this CPU: ");
  for (const auto& l : ls) std::printf("%s ", l.c_str());
  std::printf("(best: %s)\n", kernels::level().c_str());
  for (const auto& [n, k] : std::vector<std::pair<int, int>>{{1, 1}, {7, 5}, {13, 64}, {9, 100}, {33, 768}, {6, 2565}}) {
    auto w = randn(static_cast<std::size_t>(n) * k, n * 31 + k);
    auto x = randn(k, k + 7);
    auto bias = randn(n, 99);
    std::vector<std::uint16_t> wb(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) wb[i] = kernels::to_bf16(w[i]);
    for (bool use_bias : {false, true})
      for (bool bf : {false, true}) {
        std::vector<double> ref(n);
        for (int r = 0; r < n; ++r) {
          double s = use_bias ? bias[r] : 0.0;
          for (int j = 0; j < k; ++j)
            s += static_cast<double>(bf ? kernels::from_bf16(wb[r * k + j]) : w[r * k + j]) * x[j];
          ref[r] = s;
        }
        for (const auto& l : ls) {
          kernels::set_level(l);
          std::vector<float> y(n, -777.0f);
          const void* wp = bf ? static_cast<const void*>(wb.data()) : w.data();
          const auto wt = bf ? kernels::WType::bf16 : kernels::WType::f32;
          // two row ranges, split unevenly, exactly as threads call it
          const int mid = n / 3;
          kernels::gemv(wp, wt, x.data(), y.data(), use_bias ? bias.data() : nullptr, k, 0, mid);
          kernels::gemv(wp, wt, x.data(), y.data(), use_bias ? bias.data() : nullptr, k, mid, n);
          for (int r = 0; r < n; ++r)
            EXPECT_NEAR(y[r], ref[r], 1e-5 * std::sqrt(static_cast<double>(k)) * 4 + 1e-6)
                << l << " n=" << n << " k=" << k << " bf16=" << bf << " bias=" << use_bias << " row " << r;
        }
      }
  }
}

TEST(DecodeKernels, AccumulateRowsMatchesFloat64AtEveryLevel) {
  Restore restore;
  for (const auto& [n, dim] : std::vector<std::pair<int, int>>{{1, 1}, {5, 64}, {17, 80}, {40, 13}}) {
    auto v = randn(static_cast<std::size_t>(n) * dim, n + dim);
    auto p = randn(n, 5);
    auto init = randn(dim, 6);
    std::vector<std::uint16_t> vb(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) vb[i] = kernels::to_bf16(v[i]);
    for (bool bf : {false, true}) {
      std::vector<double> ref(init.begin(), init.end());
      for (int j = 0; j < n; ++j)
        for (int d = 0; d < dim; ++d) ref[d] += static_cast<double>(p[j]) * (bf ? kernels::from_bf16(vb[j * dim + d]) : v[j * dim + d]);
      for (const auto& l : levels()) {
        kernels::set_level(l);
        std::vector<float> out = init;
        kernels::accumulate_rows(bf ? static_cast<const void*>(vb.data()) : v.data(),
                                 bf ? kernels::WType::bf16 : kernels::WType::f32, p.data(), n, dim, out.data());
        for (int d = 0; d < dim; ++d) EXPECT_NEAR(out[d], ref[d], 1e-4) << l << " n=" << n << " dim=" << dim << " d=" << d;
      }
    }
  }
}

TEST(DecodeKernels, UnknownOrUnsupportedLevelIsAnError) {
  Restore restore;
  EXPECT_THROW(kernels::set_level("sse9"), ecpo::Error);
  EXPECT_NO_THROW(kernels::set_level("portable"));
  EXPECT_EQ(kernels::level(), "portable");
}

class DecodePath : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

// Logits of every decoded position equal the full (torch) forward of the same prefix.
TEST_P(DecodePath, OneTokenStepsEqualFullForward) {
  Restore restore;
  const auto& [model, dtype] = GetParam();
  auto lm = CausalLM::load(kAssets / model, {dtype, 2, {}});
  ASSERT_TRUE(lm->fast_decode());
  const std::vector<int> ids = {1, 2, 3, 100, 200, 17, 42, 300, 5, 77, 250, 8};
  // f32: only summation order differs. bf16: the decode path keeps activations in f32 where the torch path
  // rounds them to bf16 after every op, so they differ by bf16 noise (cf. Bfloat16ComputeStaysCloseToFloat32).
  const double tol = dtype == "float32" ? 1e-4 : 0.15;
  const auto all = lm->logits_all(ids);  // the reference does not depend on the kernel level
  for (const auto& l : levels()) {
    kernels::set_level(l);
    for (std::size_t prefix : {std::size_t(1), std::size_t(4)}) {
      auto inc = lm->logits_incremental(ids, prefix);
      ASSERT_EQ(inc.size(), ids.size() - prefix + 1);
      for (std::size_t i = 0; i < inc.size(); ++i) {
        const auto& ref = all[prefix - 1 + i];
        ASSERT_EQ(inc[i].size(), ref.size());
        EXPECT_LT(max_abs_diff(inc[i], ref), tol) << model << " " << dtype << " " << l << " prefix " << prefix << " position " << prefix - 1 + i;
      }
    }
  }
  // the torch path through the same cache, for comparison
  lm->set_fast_decode(false);
  auto slow = lm->logits_incremental(ids, 3);
  lm->set_fast_decode(true);
  auto fast = lm->logits_incremental(ids, 3);
  for (std::size_t i = 0; i < slow.size(); ++i)
    for (std::size_t v = 0; v < slow[i].size(); ++v) ASSERT_NEAR(fast[i][v], slow[i][v], tol) << i << " " << v;
}

// Long caches: attention then runs its heads on the WorkPool (≥ 64 KiB of keys and values per head, S ≥ 512
// for tiny-llama's 16-dim heads). The tiny model is copied with a longer max_position_embeddings (RoPE works at
// any position) so 1,100 positions fit.
TEST(DecodePathF32, LongCacheAttentionOnThePoolEqualsFullForward) {
  ecpo::test::TempDir dir;
  std::filesystem::copy(kAssets / "tiny-llama", dir.path() / "m");
  auto cfg = ecpo::read_json_file(dir.path() / "m" / "config.json");
  cfg["max_position_embeddings"] = 2048;
  ecpo::write_json_file(dir.path() / "m" / "config.json", cfg);
  auto lm = CausalLM::load(dir.path() / "m", {"float32", 2, {}});
  std::vector<int> ids(1100);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>((i * 7919 + 13) % 500);
  auto inc = lm->logits_incremental(ids, 1);
  auto all = lm->logits_all(ids);
  for (std::size_t pos : {std::size_t(100), std::size_t(511), std::size_t(600), std::size_t(900), std::size_t(1099)}) {
    EXPECT_LT(max_abs_diff(inc[pos], all[pos]), 1e-4) << "position " << pos;
  }
}

// tiny-qwen2 stores bf16 weights, so float32 compute on them is exact up to activation rounding. The bf16 decode
// path rounds only the cached keys/values, the torch bf16 path every activation: the decode path must be the
// closer of the two to float32 (measured 0.024 vs 0.098 when written).
TEST(DecodePathBf16, CloserToFloat32ThanTorchBf16Ops) {
  const std::vector<int> ids = {1, 2, 3, 100, 200, 17, 42, 300, 5, 77, 250, 8};
  auto ref = CausalLM::load(kAssets / "tiny-qwen2", {"float32", 1, {}})->logits_all(ids);
  auto lm = CausalLM::load(kAssets / "tiny-qwen2", {"bfloat16", 1, {}});
  auto worst = [&](const std::vector<std::vector<float>>& inc) {
    double m = 0;
    for (std::size_t i = 1; i < inc.size(); ++i) m = std::max(m, max_abs_diff(inc[i], ref[i]));  // 0: shared prefill
    return m;
  };
  const double fast = worst(lm->logits_incremental(ids, 1));
  lm->set_fast_decode(false);
  const double slow = worst(lm->logits_incremental(ids, 1));
  std::printf("max |logit - f32| over 11 decode steps: kernels %.4f, torch bf16 ops %.4f\n", fast, slow);
  EXPECT_LT(fast, slow);
  EXPECT_LT(fast, 0.05);
}

// float32 only: in bf16 the two paths round activations differently, so greedy ids may legitimately part.
TEST(DecodePathF32, GreedyGenerationEqualsTorchPath) {
  for (const char* model : {"tiny-llama", "tiny-qwen2"}) {
    auto lm = CausalLM::load(kAssets / model, {"float32", 2, {}});
    GenerateParams p;
    p.max_tokens = 40;
    p.stop_at_eos = false;
    auto fast = lm->generate({1, 2, 3, 100, 200}, p);
    lm->set_fast_decode(false);
    auto slow = lm->generate({1, 2, 3, 100, 200}, p);
    EXPECT_EQ(fast.ids, slow.ids) << model;
    EXPECT_EQ(fast.ids.size(), 40u) << model;
  }
}

INSTANTIATE_TEST_SUITE_P(TinyModels, DecodePath,
                         ::testing::Combine(::testing::Values("tiny-llama", "tiny-qwen2"),
                                            ::testing::Values("float32", "bfloat16")));
