// The fused autograd ops equal their eager compositions, values and gradients, in float32 and bfloat16, at every
// row-kernel level the CPU has (portable C++, AVX2, AVX-512; row lengths with full vectors and partial tails);
// LoRA dropout (the eager path) draws a different mask per module.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/types.h>

#include "train/fused-ops.h"

using namespace ecpo::train;

namespace {

// The row-kernel levels this CPU runs; the default level is restored when the test ends.
struct Levels {
  std::string saved = row_kernel_level();
  std::vector<std::string> all;
  Levels() {
    for (const char* l : {"portable", "avx2", "avx512"})
      if (set_row_kernel_level(l)) all.push_back(l);
    set_row_kernel_level(saved);
  }
  ~Levels() { set_row_kernel_level(saved); }
};

double rel(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>() /
         std::max(1e-12, b.to(torch::kDouble).abs().max().item<double>());
}

TEST(FusedOps, LoraLinearEqualsEagerComposition) {
  torch::manual_seed(3);
  for (auto dt : {torch::kFloat, torch::kBFloat16}) {
    SCOPED_TRACE(dt == torch::kFloat ? "float32" : "bfloat16");
    const std::int64_t N = 7, in = 12, r = 3;
    torch::Tensor x0 = torch::randn({N, in}).to(dt), w = torch::randn({16, in}).to(dt), b = torch::randn({16}).to(dt);
    torch::Tensor a0 = torch::randn({2 * r, in}), b1 = torch::randn({6, r}), b2 = torch::randn({4, r});  // members at 0 and 12
    auto leaf = [](const torch::Tensor& t) { return t.clone().requires_grad_(true); };
    torch::Tensor x = leaf(x0), a = leaf(a0), B1 = leaf(b1), B2 = leaf(b2);
    torch::Tensor y = lora_linear(x, w, b, a, {B1, B2}, {0, 12}, 0.7);
    torch::Tensor go = torch::randn({N, 16}).to(dt);
    (y.to(torch::kFloat) * go.to(torch::kFloat)).sum().backward();
    // eager: the same math with autograd through every op
    torch::Tensor x2 = leaf(x0), a2 = leaf(a0), B12 = leaf(b1), B22 = leaf(b2);
    torch::Tensor xf = x2.to(torch::kFloat);
    torch::Tensor d1 = at::mm(at::mm(xf, a2.narrow(0, 0, r).t()), B12.t()) * 0.7;
    torch::Tensor d2 = at::mm(at::mm(xf, a2.narrow(0, r, r).t()), B22.t()) * 0.7;
    torch::Tensor delta = torch::cat({d1, torch::zeros({N, 6}), d2}, 1);
    torch::Tensor y2 = at::linear(x2, w, b) + delta.to(dt);
    (y2.to(torch::kFloat) * go.to(torch::kFloat)).sum().backward();
    const double tol = dt == torch::kFloat ? 1e-5 : 2e-2;
    EXPECT_LT(rel(y, y2), tol);
    EXPECT_LT(rel(x.grad(), x2.grad()), tol);
    EXPECT_LT(rel(a.grad(), a2.grad()), tol);
    EXPECT_LT(rel(B1.grad(), B12.grad()), tol);
    EXPECT_LT(rel(B2.grad(), B22.grad()), tol);
  }
  // No gradient is computed for an input that does not need one.
  torch::Tensor x = torch::randn({4, 5}), w = torch::randn({3, 5}), a = torch::randn({2, 5}).requires_grad_(true);
  torch::Tensor bb = torch::randn({3, 2}).requires_grad_(true);
  lora_linear(x, w, {}, a, {bb}, {0}, 1.0).sum().backward();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_TRUE(a.grad().defined());
}

// Large float32 products take oneDNN (frozen_linear and lora_linear's frozen part), small ones at::linear: both
// equal the eager product, and the gradient reaches only x.
TEST(FusedOps, FrozenLinearEqualsLinear) {
  torch::manual_seed(8);
  for (std::int64_t n : {3, 256}) {  // 256·512·512 = 2^26: oneDNN
    SCOPED_TRACE("rows " + std::to_string(n));
    torch::Tensor x0 = torch::randn({n, 512}), w = torch::randn({512, 512}) * 0.05, b = torch::randn({512});
    torch::Tensor x = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
    torch::Tensor go = torch::randn({n, 512});
    torch::Tensor y = frozen_linear(x, w, b);
    (y * go).sum().backward();
    torch::Tensor y2 = at::linear(x2, w, b);
    (y2 * go).sum().backward();
    EXPECT_LT(rel(y, y2), 1e-5);
    EXPECT_LT(rel(x.grad(), x2.grad()), 1e-5);
    EXPECT_FALSE(y.is_mkldnn());
    EXPECT_TRUE(y.is_contiguous());
    // with LoRA blocks on top (members at columns 0 and 300)
    torch::Tensor a = (torch::randn({16, 512}) * 0.05).requires_grad_(true), b1 = torch::randn({100, 8}).requires_grad_(true),
                  b2 = torch::randn({200, 8}).requires_grad_(true);
    torch::Tensor x3 = x0.clone().requires_grad_(true), x4 = x0.clone().requires_grad_(true);
    (lora_linear(x3, w, b, a, {b1, b2}, {0, 300}, 2.0) * go).sum().backward();
    torch::Tensor ga = a.grad().clone(), gb1 = b1.grad().clone(), gb2 = b2.grad().clone();
    a.grad().zero_(), b1.grad().zero_(), b2.grad().zero_();
    torch::Tensor delta = torch::cat({at::mm(at::mm(x4, a.narrow(0, 0, 8).t()), b1.t()), torch::zeros({n, 200}),
                                      at::mm(at::mm(x4, a.narrow(0, 8, 8).t()), b2.t()), torch::zeros({n, 12})}, 1);
    ((at::linear(x4, w, b) + 2.0 * delta) * go).sum().backward();
    EXPECT_LT(rel(x3.grad(), x4.grad()), 1e-5);
    EXPECT_LT(rel(ga, a.grad()), 1e-5);
    EXPECT_LT(rel(gb1, b1.grad()), 1e-5);
    EXPECT_LT(rel(gb2, b2.grad()), 1e-5);
  }
}

TEST(FusedOps, SwigluEqualsEagerComposition) {
  torch::manual_seed(4);
  Levels lv;
  for (const auto& level : lv.all)
    for (auto dt : {torch::kFloat, torch::kBFloat16})
      for (std::int64_t I : {4, 37}) {
        SCOPED_TRACE(level + (dt == torch::kFloat ? " f32 I " : " bf16 I ") + std::to_string(I));
        ASSERT_TRUE(set_row_kernel_level(level));
        torch::Tensor g0 = (torch::randn({5, 2 * I}) * 4).to(dt);
        torch::Tensor g = g0.clone().requires_grad_(true), g2 = g0.clone().requires_grad_(true);
        torch::Tensor go = torch::randn({5, I}).to(dt);
        torch::Tensor y = swiglu(g);
        (y * go).sum().backward();
        torch::Tensor y2 = at::silu(g2.narrow(1, 0, I)) * g2.narrow(1, I, I);
        (y2 * go).sum().backward();
        const double tol = dt == torch::kFloat ? 1e-6 : 1e-2;
        EXPECT_LT(rel(y, y2), tol);
        // bf16: eager autograd rounds every intermediate of silu_backward to bf16; the fused op keeps them in f32
        // (rounding only where HF's graph stores a tensor), so both are held against float64.
        torch::Tensor g3 = g0.to(torch::kDouble).requires_grad_(true);
        (at::silu(g3.narrow(1, 0, I)) * g3.narrow(1, I, I) * go.to(torch::kDouble)).sum().backward();
        if (dt == torch::kFloat) {
          EXPECT_LT(rel(g.grad(), g2.grad()), tol);
        }
        EXPECT_LT(rel(g.grad(), g3.grad()), tol);
      }
}

TEST(FusedOps, RmsNormEqualsHfComposition) {
  torch::manual_seed(5);
  Levels lv;
  for (const auto& level : lv.all)
  for (auto dt : {torch::kFloat, torch::kBFloat16})
  for (std::int64_t C : {32, 45}) {
    SCOPED_TRACE(level + (dt == torch::kFloat ? " f32 C " : " bf16 C ") + std::to_string(C));
    ASSERT_TRUE(set_row_kernel_level(level));
    torch::Tensor x0 = (torch::randn({6, C}) * 3).to(dt), w = (torch::rand({C}) + 0.5).to(dt);
    torch::Tensor x = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
    torch::Tensor go = torch::randn({6, C}).to(dt);
    torch::Tensor y = rms_norm_fused(x, w, 1e-5);
    (y.to(torch::kFloat) * go.to(torch::kFloat)).sum().backward();
    torch::Tensor xf = x2.to(torch::kFloat);
    torch::Tensor y2 = w * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + 1e-5)).to(dt);
    (y2.to(torch::kFloat) * go.to(torch::kFloat)).sum().backward();
    if (dt == torch::kFloat) {
      EXPECT_LT(rel(y, y2), 1e-6);
      EXPECT_LT(rel(x.grad(), x2.grad()), 1e-5);
    } else {
      EXPECT_TRUE(torch::equal(y, y2));  // the same roundings as HF's bf16 path
      EXPECT_LT(rel(x.grad(), x2.grad()), 2e-2);
    }
  }
}

}  // namespace

namespace {

TEST(FusedOps, RopeSplitEqualsRotateHalfAndRepeatKv) {
  torch::manual_seed(6);
  const std::int64_t B = 2, T = 5, H = 4, Hkv = 2, rep = H / Hkv;
  Levels lv;
  for (const auto& level : lv.all)
  for (std::int64_t D : {8, 40})
  for (bool per_token : {false, true}) {
    SCOPED_TRACE(level + " D " + std::to_string(D) + (per_token ? " per-token positions" : " shared positions"));
    ASSERT_TRUE(set_row_kernel_level(level));
    torch::Tensor pos = per_token ? torch::randint(0, 50, {B, T}).to(torch::kFloat) : torch::arange(T).to(torch::kFloat).repeat({B, 1});
    torch::Tensor inv = 1.0 / torch::pow(10000.0, torch::arange(0, D, 2).to(torch::kFloat) / D);
    torch::Tensor ang = pos.reshape({B * T, 1}) * inv.view({1, D / 2});
    torch::Tensor emb = torch::cat({ang, ang}, -1);  // [B·T, D]
    torch::Tensor cos = emb.cos(), sin = emb.sin();
    torch::Tensor sign = torch::cat({-torch::ones({D / 2}), torch::ones({D / 2})});
    torch::Tensor x0 = torch::randn({B, T, H + 2 * Hkv, D});
    torch::Tensor x = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
    auto out = per_token ? rope_split(x, cos, sin * sign, H, Hkv)
                         : rope_split(x, cos.narrow(0, 0, T), (sin * sign).narrow(0, 0, T), H, Hkv);
    // HF: q·cos + rotate_half(q)·sin, then the kv heads repeated for GQA.
    auto rot = [&](const torch::Tensor& t) {  // t [B, T, h, D]
      auto c = cos.view({B, T, 1, D}), s = sin.view({B, T, 1, D});
      auto rh = torch::cat({-t.narrow(-1, D / 2, D / 2), t.narrow(-1, 0, D / 2)}, -1);
      return t * c + rh * s;
    };
    auto q = rot(x2.narrow(2, 0, H)), k = rot(x2.narrow(2, H, Hkv)), v = x2.narrow(2, H + Hkv, Hkv);
    auto q_ref = q.view({B, T, Hkv, rep, D}).permute({0, 2, 3, 1, 4}).reshape({B * Hkv, rep * T, D});
    auto k_ref = k.permute({0, 2, 1, 3}).reshape({B * Hkv, T, D});
    auto v_ref = v.permute({0, 2, 1, 3}).reshape({B * Hkv, T, D});
    EXPECT_LT(rel(out[0], q_ref), 1e-6);
    EXPECT_LT(rel(out[1], k_ref), 1e-6);
    EXPECT_TRUE(torch::equal(out[2], v_ref));
    auto g0 = torch::randn(q_ref.sizes()), g1 = torch::randn(k_ref.sizes()), g2 = torch::randn(v_ref.sizes());
    ((out[0] * g0).sum() + (out[1] * g1).sum() + (out[2] * g2).sum()).backward();
    ((q_ref * g0).sum() + (k_ref * g1).sum() + (v_ref * g2).sum()).backward();
    EXPECT_LT(rel(x.grad(), x2.grad()), 1e-6);
  }
}

}  // namespace

namespace {

TEST(FusedOps, GatherRowsEqualsIndexSelect) {
  torch::Tensor x0 = torch::randn({9, 4});
  torch::Tensor rows = torch::tensor({7, 0, 3}, torch::kLong);
  torch::Tensor x = x0.clone().requires_grad_(true), x2 = x0.clone().requires_grad_(true);
  torch::Tensor g = torch::randn({3, 4});
  torch::Tensor y = gather_rows(x, rows);
  (y * g).sum().backward();
  torch::Tensor y2 = x2.index_select(0, rows);
  (y2 * g).sum().backward();
  EXPECT_TRUE(torch::equal(y, y2));
  EXPECT_TRUE(torch::equal(x.grad(), x2.grad()));
}

}  // namespace

namespace {

// Block-causal attention (several blocks, a partial last one, packed-row masks, bf16) vs the eager
// softmax(q·kᵀ·scale + mask)·v on the stacked GQA layout.
TEST(FusedOps, BlockCausalAttentionEqualsEagerAttention) {
  torch::manual_seed(7);
  const std::int64_t B = 2, Hkv = 2, rep = 3, T = 21, D = 8;
  Levels lv;
  for (const auto& level : lv.all)
  for (auto dt : {torch::kFloat, torch::kBFloat16})
    for (bool packed : {false, true})
      for (std::int64_t block : {8, 64}) {
        SCOPED_TRACE(level + (dt == torch::kFloat ? " f32" : " bf16") + (packed ? " packed" : " causal") + " block " +
                     std::to_string(block));
        ASSERT_TRUE(set_row_kernel_level(level));
        torch::Tensor q0 = torch::randn({B * Hkv, rep * T, D}).to(dt), k0 = torch::randn({B * Hkv, T, D}).to(dt),
                      v0 = torch::randn({B * Hkv, T, D}).to(dt);
        torch::Tensor mask;  // [B, T, T]
        torch::Tensor causal = torch::full({T, T}, -INFINITY).triu(1);
        if (packed) {  // row b: prefix 0..6, branch 1 = 7..13, branch 2 = 14..20
          torch::Tensor br = torch::cat({torch::zeros({7}), torch::ones({7}), 2 * torch::ones({7})}).to(torch::kLong);
          torch::Tensor ok = ((br.view({1, T}) == 0) | (br.view({1, T}) == br.view({T, 1}))) & torch::ones({T, T}, torch::kBool).tril();
          mask = torch::zeros({T, T}).masked_fill(ok.logical_not(), -INFINITY).expand({B, T, T}).contiguous();
        }
        torch::Tensor q = q0.clone().requires_grad_(true), k = k0.clone().requires_grad_(true), v = v0.clone().requires_grad_(true);
        torch::Tensor o = causal_attention(q, k, v, mask, B, 0.3, block);
        torch::Tensor g = torch::randn(o.sizes()).to(dt);
        (o.to(torch::kFloat) * g.to(torch::kFloat)).sum().backward();
        torch::Tensor q2 = q0.clone().requires_grad_(true), k2 = k0.clone().requires_grad_(true), v2 = v0.clone().requires_grad_(true);
        torch::Tensor m = packed ? mask : causal.expand({B, T, T});
        torch::Tensor m4 = m.repeat({1, rep, 1}).view({B, 1, rep * T, T}).to(dt);
        torch::Tensor sc = (at::bmm(q2, k2.transpose(1, 2)).view({B, Hkv, rep * T, T}) * 0.3 + m4).view({B * Hkv, rep * T, T});
        torch::Tensor o2 = at::bmm(at::softmax(sc, -1, torch::kFloat).to(dt), v2);
        (o2.to(torch::kFloat) * g.to(torch::kFloat)).sum().backward();
        const double tol = dt == torch::kFloat ? 1e-5 : 3e-2;
        EXPECT_LT(rel(o, o2), tol);
        EXPECT_LT(rel(q.grad(), q2.grad()), tol);
        EXPECT_LT(rel(k.grad(), k2.grad()), tol);
        EXPECT_LT(rel(v.grad(), v2.grad()), tol);
      }
}

}  // namespace
