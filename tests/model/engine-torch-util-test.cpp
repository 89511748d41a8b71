// torch-util-impl.h helpers the decoder and encoder share: safetensors ⇄ torch (dtype conversion, round trip),
// RMSNorm, repeat_kv, causal mask and GQA attention against loops written out by hand. (A torch TU: keep small.)
#include "model/torch-util-impl.h"

#include <cmath>
#include <limits>

#include "test-support.h"
#include "util/error.h"

using namespace ecpo::model;

TEST(TorchUtil, SafetensorsRoundTripAndDtypeConversion) {
  ecpo::test::TempDir dir;
  torch::Tensor a = torch::arange(6, torch::kFloat).view({2, 3}) / 4;
  torch::Tensor b = torch::tensor({1.5, -2.0}, torch::kFloat).to(torch::kBFloat16);
  save_safetensors(dir / "x.safetensors", {{"a", a}, {"b", b}});
  auto m = load_safetensors(dir / "x.safetensors");
  EXPECT_TRUE(torch::equal(m.at("a"), a));
  EXPECT_EQ(m.at("b").scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(m.at("b"), b));
  auto f = load_safetensors(dir / "x.safetensors", torch::kFloat);
  EXPECT_EQ(f.at("b").scalar_type(), torch::kFloat);
  EXPECT_FLOAT_EQ(f.at("b")[1].item<float>(), -2.0f);
  EXPECT_EQ(torch_dtype_from_name("bf16"), torch::kBFloat16);
  EXPECT_THROW(torch_dtype_from_name("int4"), ecpo::Error);
}

TEST(TorchUtil, RmsNormByHand) {
  // x = (3, 4): mean(x²) = 12.5, so x / sqrt(12.5 + eps) * w
  torch::Tensor x = torch::tensor({3.0f, 4.0f}), w = torch::tensor({1.0f, 2.0f});
  torch::Tensor y = rms_norm(x, w, 1e-6);
  const double r = std::sqrt(12.5 + 1e-6);
  EXPECT_NEAR(y[0].item<float>(), 3 / r, 1e-6);
  EXPECT_NEAR(y[1].item<float>(), 2 * 4 / r, 1e-6);
}

TEST(TorchUtil, CausalMaskAndGqaAttentionByHand) {
  torch::Tensor m = causal_mask(2, 3);  // 2 new queries after 1 cached key
  EXPECT_EQ(m.sizes(), (std::vector<int64_t>{1, 1, 2, 3}));
  EXPECT_EQ(m[0][0][0][1].item<float>(), 0.0f);
  EXPECT_TRUE(std::isinf(m[0][0][0][2].item<float>()));
  EXPECT_EQ(m[0][0][1][2].item<float>(), 0.0f);

  torch::manual_seed(0);
  const int64_t H = 4, Hkv = 2, T = 3, D = 5;
  torch::Tensor q = torch::randn({1, H, T, D}), k = torch::randn({1, Hkv, T, D}), v = torch::randn({1, Hkv, T, D});
  torch::Tensor out = attention(q, k, v, causal_mask(T, T));
  // by hand: query head h uses kv head h / (H / Hkv); position i sees keys 0..i
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < T; ++i) {
      const int64_t g = h / (H / Hkv);
      std::vector<double> s;
      double mx = -1e30, z = 0;
      for (int64_t j = 0; j <= i; ++j) {
        double d = 0;
        for (int64_t c = 0; c < D; ++c) d += q[0][h][i][c].item<float>() * k[0][g][j][c].item<float>();
        s.push_back(d / std::sqrt(double(D)));
        mx = std::max(mx, s.back());
      }
      for (auto& e : s) z += (e = std::exp(e - mx));
      for (int64_t c = 0; c < D; ++c) {
        double o = 0;
        for (int64_t j = 0; j <= i; ++j) o += s[j] / z * v[0][g][j][c].item<float>();
        EXPECT_NEAR(out[0][h][i][c].item<float>(), o, 1e-5) << h << " " << i << " " << c;
      }
    }
  EXPECT_EQ(repeat_kv(k, 2).sizes(), (std::vector<int64_t>{1, 4, T, D}));
  EXPECT_TRUE(torch::equal(repeat_kv(k, 2)[0][1], k[0][0]));  // heads 0,1 ← kv 0; heads 2,3 ← kv 1
  EXPECT_TRUE(torch::equal(repeat_kv(k, 2)[0][2], k[0][1]));
}
