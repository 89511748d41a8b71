// The kernels (model/kernels.h) at every level this CPU supports (portable, AVX2, AVX-512, AVX-512 BF16) against
// float64 loops
// written here (for avx512bf16 with bf16 B, of the bf16-rounded A): C = A·Bᵀ and C += A·B for f32 and bf16 B, shapes with and without vector tails, K longer than one
// 512-block, column ranges, bias and accumulate; the determinism contract (a row's result is bit-identical whatever
// M and column range it is computed with — batching relies on it); exp/softmax pieces and SiLU·up; bf16 rounding.
#include "model/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "test-support.h"
#include "util/error.h"

using namespace ecpo::model;

namespace {

std::vector<std::string> levels() {
  std::vector<std::string> out;
  for (const char* l : {"portable", "avx2", "avx512", "avx512bf16"}) {
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

std::vector<std::uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<std::uint16_t> b(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) b[i] = kernels::to_bf16(v[i]);
  return b;
}

}  // namespace

TEST(Kernels, Bf16RoundsToNearestEven) {
  EXPECT_EQ(kernels::to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 lies exactly between 0x3f80 and 0x3f81: ties go to the even 0x3f80; 1 + 3·2^-8 → 0x3f82
  EXPECT_EQ(kernels::to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(kernels::to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(kernels::to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(kernels::from_bf16(0x4049), 3.140625f);  // 0x4049 = 3.140625 exactly
  EXPECT_TRUE(std::isnan(kernels::from_bf16(kernels::to_bf16(std::nanf("")))));
  EXPECT_EQ(kernels::to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  // the vectorised conversion agrees bit for bit at every level (ties, NaN, infinities, denormals, a vector tail)
  Restore restore;
  auto x = randn(1000, 8);
  x[3] = 1.0f + std::ldexp(1.0f, -8);
  x[4] = std::nanf("");
  x[5] = -std::numeric_limits<float>::infinity();
  x[6] = std::numeric_limits<float>::denorm_min();
  x[7] = std::numeric_limits<float>::max();
  for (const auto& l : levels()) {
    kernels::set_level(l);
    std::vector<std::uint16_t> out(x.size() - 3);
    kernels::to_bf16_n(x.data(), out.data(), static_cast<std::int64_t>(out.size()));
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], kernels::to_bf16(x[i])) << l << " element " << i;
  }
}

TEST(Kernels, GemmNtMatchesFloat64AtEveryLevel) {
  Restore restore;
  const auto ls = levels();
  ASSERT_FALSE(ls.empty());
  std::printf("kernel levels on this CPU: ");
  for (const auto& l : ls) std::printf("%s ", l.c_str());
  std::printf("(best: %s)\n", kernels::level().c_str());
  struct Shape {
    int m, n, k;
  };
  for (const Shape& s : std::vector<Shape>{{1, 1, 1}, {1, 7, 5}, {3, 13, 64}, {5, 9, 100}, {7, 33, 768}, {2, 6, 2565},
                                           {9, 20, 1100}, {17, 50, 24}}) {
    auto a = randn(static_cast<std::size_t>(s.m) * s.k, s.m * 7 + s.k);
    auto w = randn(static_cast<std::size_t>(s.n) * s.k, s.n * 31 + s.k);
    auto wb = to_bf16(w);
    auto bias = randn(s.n, 99);
    auto init = randn(static_cast<std::size_t>(s.m) * s.n, 5);
    for (int mode = 0; mode < 3; ++mode)  // 0: plain, 1: bias, 2: accumulate into C
      for (bool bf : {false, true})
        for (const auto& l : ls) {
          const bool round_a = bf && l == "avx512bf16";  // vdpbf16ps: A is rounded to bf16 too
          std::vector<double> ref(static_cast<std::size_t>(s.m) * s.n);
          for (int i = 0; i < s.m; ++i)
            for (int j = 0; j < s.n; ++j) {
              double acc = mode == 1 ? bias[j] : mode == 2 ? init[i * s.n + j] : 0.0;
              for (int p = 0; p < s.k; ++p) {
                const float av = round_a ? kernels::from_bf16(kernels::to_bf16(a[i * s.k + p])) : a[i * s.k + p];
                acc += static_cast<double>(av) * (bf ? kernels::from_bf16(wb[j * s.k + p]) : w[j * s.k + p]);
              }
              ref[i * s.n + j] = acc;
            }
          kernels::set_level(l);
          std::vector<float> c = mode == 2 ? init : std::vector<float>(ref.size(), -777.0f);
          const void* wp = bf ? static_cast<const void*>(wb.data()) : w.data();
          const auto wt = bf ? kernels::WType::bf16 : kernels::WType::f32;
          const int mid = s.n / 3;  // two column ranges, split unevenly, as threads call it
          for (auto [n0, n1] : {std::pair{0, mid}, std::pair{mid, s.n}})
            kernels::gemm_nt(s.m, n0, n1, s.k, a.data(), s.k, wp, wt, s.k, c.data(), s.n, mode == 1 ? bias.data() : nullptr,
                             mode == 2);
          for (std::size_t e = 0; e < ref.size(); ++e)
            ASSERT_NEAR(c[e], ref[e], 2e-5 * std::sqrt(static_cast<double>(s.k)) * 4 + 1e-6)
                << l << " m=" << s.m << " n=" << s.n << " k=" << s.k << " bf16=" << bf << " mode=" << mode << " element " << e;
        }
  }
}

// The determinism contract: the same row of A gives bit-identical outputs computed alone (M = 1, the decode path),
// inside a batch of any size, at any position of it, and in any column range.
TEST(Kernels, GemmNtRowResultsDoNotDependOnTheBatch) {
  Restore restore;
  const int m = 13, n = 70, k = 1300;  // k spans three 512-blocks and a vector tail
  auto a = randn(static_cast<std::size_t>(m) * k, 1);
  auto w = randn(static_cast<std::size_t>(n) * k, 2);
  auto wb = to_bf16(w);
  auto bias = randn(n, 3);
  for (const auto& l : levels()) {
    kernels::set_level(l);
    for (bool bf : {false, true}) {
      const void* wp = bf ? static_cast<const void*>(wb.data()) : w.data();
      const auto wt = bf ? kernels::WType::bf16 : kernels::WType::f32;
      std::vector<float> all(static_cast<std::size_t>(m) * n);
      kernels::gemm_nt(m, 0, n, k, a.data(), k, wp, wt, k, all.data(), n, bias.data(), false);
      for (int i = 0; i < m; ++i) {
        std::vector<float> one(n);
        kernels::gemm_nt(1, 0, n, k, a.data() + i * k, k, wp, wt, k, one.data(), n, bias.data(), false);
        EXPECT_EQ(0, std::memcmp(one.data(), all.data() + i * n, n * sizeof(float))) << l << " bf16=" << bf << " row " << i;
      }
      // rows 3..10 as a batch of 8, columns in three uneven ranges
      std::vector<float> part(static_cast<std::size_t>(8) * n);
      for (auto [n0, n1] : {std::pair{0, 5}, std::pair{5, 41}, std::pair{41, n}})
        kernels::gemm_nt(8, n0, n1, k, a.data() + 3 * k, k, wp, wt, k, part.data(), n, bias.data(), false);
      EXPECT_EQ(0, std::memcmp(part.data(), all.data() + 3 * n, part.size() * sizeof(float))) << l << " bf16=" << bf;
    }
  }
}

// linear() rounds the activations once per product and cuts it into column chunks (gemm_nt_bf16a): every row and
// column range must give the bits gemm_nt gives on the float32 activations.
TEST(Kernels, PreRoundedBf16ActivationsGiveTheSameBits) {
  Restore restore;
  const int m = 13, n = 70, k = 1300;
  auto a = randn(static_cast<std::size_t>(m) * k, 4);
  auto wb = to_bf16(randn(static_cast<std::size_t>(n) * k, 5));
  auto bias = randn(n, 6);
  bool ran = false;
  for (const auto& l : levels()) {
    kernels::set_level(l);
    if (!kernels::bf16_activations()) {
      std::vector<std::uint16_t> ab(k);
      std::vector<float> c(n);
      EXPECT_THROW(kernels::gemm_nt_bf16a(1, 0, n, k, ab.data(), k, wb.data(), k, c.data(), n, nullptr, false),
                   ecpo::Error) << l;
      continue;
    }
    ran = true;
    std::vector<std::uint16_t> ab(a.size());
    kernels::to_bf16_n(a.data(), ab.data(), static_cast<std::int64_t>(a.size()));
    for (int rows : {1, m}) {
      std::vector<float> want(static_cast<std::size_t>(rows) * n), got(want.size());
      kernels::gemm_nt(rows, 0, n, k, a.data(), k, wb.data(), kernels::WType::bf16, k, want.data(), n, bias.data(), false);
      for (auto [n0, n1] : {std::pair{0, 7}, std::pair{7, 48}, std::pair{48, n}})
        kernels::gemm_nt_bf16a(rows, n0, n1, k, ab.data(), k, wb.data(), k, got.data(), n, bias.data(), false);
      EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << l << " rows " << rows;
      kernels::gemm_nt(rows, 0, n, k, a.data(), k, wb.data(), kernels::WType::bf16, k, want.data(), n, nullptr, true);
      kernels::gemm_nt_bf16a(rows, 0, n, k, ab.data(), k, wb.data(), k, got.data(), n, nullptr, true);
      EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << l << " accumulate";
    }
  }
  if (!ran) GTEST_SKIP() << "this CPU has no AVX-512 BF16: the pre-rounded path is not used here";
}

TEST(Kernels, GemmNnMatchesFloat64AndRowsAreIndependent) {
  Restore restore;
  struct Shape {
    int m, n, k;
  };
  for (const Shape& s : std::vector<Shape>{{1, 1, 1}, {1, 64, 300}, {5, 16, 17}, {7, 80, 40}, {13, 13, 5}, {9, 128, 2}}) {
    auto a = randn(static_cast<std::size_t>(s.m) * s.k, s.m + s.k);
    auto b = randn(static_cast<std::size_t>(s.k) * s.n, s.n + 1);
    auto bb = to_bf16(b);
    auto init = randn(static_cast<std::size_t>(s.m) * s.n, 6);
    for (bool bf : {false, true}) {
      std::vector<double> ref(init.begin(), init.end());
      for (int i = 0; i < s.m; ++i)
        for (int p = 0; p < s.k; ++p)
          for (int j = 0; j < s.n; ++j)
            ref[i * s.n + j] += static_cast<double>(a[i * s.k + p]) * (bf ? kernels::from_bf16(bb[p * s.n + j]) : b[p * s.n + j]);
      for (const auto& l : levels()) {
        kernels::set_level(l);
        const void* bp = bf ? static_cast<const void*>(bb.data()) : b.data();
        const auto bt = bf ? kernels::WType::bf16 : kernels::WType::f32;
        std::vector<float> c = init;
        kernels::gemm_nn(s.m, s.n, s.k, a.data(), s.k, bp, bt, s.n, c.data(), s.n);
        for (std::size_t e = 0; e < ref.size(); ++e)
          ASSERT_NEAR(c[e], ref[e], 1e-4 * std::sqrt(static_cast<double>(s.k)) + 1e-6)
              << l << " m=" << s.m << " n=" << s.n << " k=" << s.k << " bf16=" << bf << " element " << e;
        for (int i = 0; i < s.m; ++i) {  // each row alone: bit-identical
          std::vector<float> one(init.begin() + i * s.n, init.begin() + (i + 1) * s.n);
          kernels::gemm_nn(1, s.n, s.k, a.data() + i * s.k, s.k, bp, bt, s.n, one.data(), s.n);
          EXPECT_EQ(0, std::memcmp(one.data(), c.data() + i * s.n, s.n * sizeof(float))) << l << " row " << i;
        }
      }
    }
  }
}

TEST(Kernels, SoftmaxPiecesAndSiluMatchTheFormulas) {
  Restore restore;
  for (int n : {1, 7, 16, 33, 300}) {
    auto x = randn(n, n);
    for (auto& v : x) v *= 20;  // exponents from about -60 to 60
    auto u = randn(n, n + 1);
    for (const auto& l : levels()) {
      kernels::set_level(l);
      const float mx = kernels::max_of(x.data(), n);
      EXPECT_EQ(mx, *std::max_element(x.begin(), x.end())) << l;
      std::vector<float> e = x;
      const float sum = kernels::exp_sum(e.data(), n, mx);
      double ref_sum = 0;
      for (int i = 0; i < n; ++i) {
        const double r = std::exp(static_cast<double>(x[i] - mx));  // the float difference the kernel exponentiates
        ref_sum += r;
        EXPECT_NEAR(e[i], r, 3e-7 * r + 1e-30) << l << " n=" << n << " i=" << i;
      }
      EXPECT_NEAR(sum, ref_sum, 1e-6 * ref_sum) << l;
      std::vector<float> s = x;
      kernels::scale(s.data(), n, 0.25f);
      for (int i = 0; i < n; ++i) EXPECT_EQ(s[i], x[i] * 0.25f);
      std::vector<float> g = x;
      kernels::silu_mul(g.data(), u.data(), n);
      for (int i = 0; i < n; ++i) {
        const double r = x[i] / (1.0 + std::exp(-static_cast<double>(x[i]))) * u[i];
        EXPECT_NEAR(g[i], r, 1e-6 * std::fabs(r) + 1e-30) << l << " n=" << n << " i=" << i << " x=" << x[i];
      }
    }
  }
  // exp far below the float range underflows towards 0, far above saturates finite (the exponent is clamped)
  for (const auto& l : levels()) {
    kernels::set_level(l);
    std::vector<float> v = {-200.0f, 0.0f, 80.0f};
    kernels::exp_sum(v.data(), 3, 0.0f);
    EXPECT_LT(v[0], 1e-37f) << l;
    EXPECT_EQ(v[1], 1.0f) << l;
    EXPECT_NEAR(v[2], std::exp(80.0), 1e-6 * std::exp(80.0)) << l;
  }
}

TEST(Kernels, UnknownOrUnsupportedLevelIsAnError) {
  Restore restore;
  EXPECT_THROW(kernels::set_level("sse9"), ecpo::Error);
  EXPECT_NO_THROW(kernels::set_level("portable"));
  EXPECT_EQ(kernels::level(), "portable");
}
