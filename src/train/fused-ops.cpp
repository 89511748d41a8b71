// Fused autograd operations (see fused-ops.h). torch::autograd::Function forwards run with grad mode off;
// matrix products are at:: ops; the element-wise work (SwiGLU, the attention softmax, RMSNorm, RoPE) runs in row
// kernels (fused-ops-rows.inc) compiled per instruction-set level, rows split over threads with at::parallel_for.
#include "train/fused-ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#if defined(__x86_64__)
// GCC 12's own _mm512_* helpers trip -Wmaybe-uninitialized inside the intrinsic headers (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#define ECPO_TRAIN_X86 1
#endif

namespace ecpo::train {

namespace {

// ---- row kernels: fused-ops-rows.inc per instruction-set level ----------------------------------------------------
// Portable C++ (one lane), AVX2+FMA (eight) and AVX-512 (sixteen), the widest the CPU has picked at run time; the
// latter two under `#pragma GCC target`, so the rest of the build keeps the baseline ISA. bfloat16 travels as its
// bits (uint16).

inline float bf16_to_float(std::uint16_t b) {
  const std::uint32_t u = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline std::uint16_t float_to_bf16(float f) {  // nearest even, as c10::BFloat16; NaN stays NaN
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if (f != f) return static_cast<std::uint16_t>((u >> 16) | 0x40);
  return static_cast<std::uint16_t>((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}

namespace portable {
constexpr int W = 1;
using V = float;
inline V vset1(float x) { return x; }
inline V vload(const float* p, int) { return *p; }
inline V vload(const std::uint16_t* p, int) { return bf16_to_float(*p); }
inline V vload_or(const float* p, int, float) { return *p; }
inline void vstore(float* p, V v, int) { *p = v; }
inline void vstore(std::uint16_t* p, V v, int) { *p = float_to_bf16(v); }
inline V vround(V v) { return bf16_to_float(float_to_bf16(v)); }
inline V vadd(V a, V b) { return a + b; }
inline V vsub(V a, V b) { return a - b; }
inline V vmul(V a, V b) { return a * b; }
inline V vdiv(V a, V b) { return a / b; }
inline V vmax(V a, V b) { return a > b ? a : b; }
inline V vexp(V x) { return x < -87.3365f ? 0.0f : std::exp(x); }
inline float reduce_add(V v) { return v; }
inline float reduce_max(V v) { return v; }
#include "train/fused-ops-rows.inc"
}  // namespace portable

#ifdef ECPO_TRAIN_X86
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace avx2 {
constexpr int W = 8;
using V = __m256;
inline V vset1(float x) { return _mm256_set1_ps(x); }
inline V widen(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
// bf16 bits of each lane in the high half (nearest even; NaN quieted), low half zero.
inline __m256i bf16_bits(V f) {
  const __m256i u = _mm256_castps_si256(f), hi = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i r = _mm256_and_si256(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), odd), hi);
  const __m256i q = _mm256_or_si256(_mm256_and_si256(u, hi), _mm256_set1_epi32(0x400000));
  return _mm256_blendv_epi8(r, q, _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q)));
}
inline __m128i narrow(V f) {
  const __m256i b = _mm256_srli_epi32(bf16_bits(f), 16);
  return _mm_packus_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
}
inline V vload(const float* p, int k) {
  if (k == W) return _mm256_loadu_ps(p);
  float t[W] = {};
  for (int i = 0; i < k; ++i) t[i] = p[i];
  return _mm256_loadu_ps(t);
}
inline V vload(const std::uint16_t* p, int k) {
  if (k == W) return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  std::uint16_t t[W] = {};
  for (int i = 0; i < k; ++i) t[i] = p[i];
  return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
}
inline V vload_or(const float* p, int k, float fill) {
  float t[W];
  for (int i = 0; i < W; ++i) t[i] = i < k ? p[i] : fill;
  return _mm256_loadu_ps(t);
}
inline void vstore(float* p, V v, int k) {
  if (k == W) return _mm256_storeu_ps(p, v);
  float t[W];
  _mm256_storeu_ps(t, v);
  for (int i = 0; i < k; ++i) p[i] = t[i];
}
inline void vstore(std::uint16_t* p, V v, int k) {
  if (k == W) return _mm_storeu_si128(reinterpret_cast<__m128i*>(p), narrow(v));
  std::uint16_t t[W];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(t), narrow(v));
  for (int i = 0; i < k; ++i) p[i] = t[i];
}
inline V vround(V v) { return _mm256_castsi256_ps(bf16_bits(v)); }
inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
inline V vsub(V a, V b) { return _mm256_sub_ps(a, b); }
inline V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
inline V vdiv(V a, V b) { return _mm256_div_ps(a, b); }
inline V vmax(V a, V b) { return _mm256_max_ps(a, b); }
// Cephes expf (as model/kernels.cpp): 2^n · p(r), |error| ≤ 2 ulp; 0 below −87.3 (and for −inf); NaN stays NaN.
inline V vexp(V x0) {
  const V under = _mm256_cmp_ps(x0, _mm256_set1_ps(-87.3365f), _CMP_LT_OQ);
  V x = _mm256_min_ps(_mm256_set1_ps(88.3762626647949f), _mm256_max_ps(_mm256_set1_ps(-87.3365f), x0));
  V fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  const V z = _mm256_mul_ps(x, x);
  V y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_add_ps(_mm256_fmadd_ps(y, z, x), _mm256_set1_ps(1.0f));
  const __m256i n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(n)));
}
inline float reduce_add(V v) {
  __m128 t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  t = _mm_add_ps(t, _mm_movehl_ps(t, t));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
inline float reduce_max(V v) {
  __m128 t = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  t = _mm_max_ps(t, _mm_movehl_ps(t, t));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_movehdup_ps(t)));
}
#include "train/fused-ops-rows.inc"
}  // namespace avx2
#pragma GCC pop_options

// AVX-512 (F, BW, VL): sixteen lanes; partial steps use masked loads and stores.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma")
namespace avx512 {
constexpr int W = 16;
using V = __m512;
inline __mmask16 first(int k) { return static_cast<__mmask16>(k >= W ? 0xffff : (1u << k) - 1); }
inline V vset1(float x) { return _mm512_set1_ps(x); }
inline V widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
inline __m512i bf16_bits(V f) {  // as avx2::bf16_bits
  const __m512i u = _mm512_castps_si512(f), hi = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
  const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_and_si512(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd), hi);
  const __m512i q = _mm512_or_si512(_mm512_and_si512(u, hi), _mm512_set1_epi32(0x400000));
  return _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q), q);
}
inline V vload(const float* p, int k) { return k == W ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(first(k), p); }
inline V vload(const std::uint16_t* p, int k) {
  return widen(k == W ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)) : _mm256_maskz_loadu_epi16(first(k), p));
}
inline V vload_or(const float* p, int k, float fill) { return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), first(k), p); }
inline void vstore(float* p, V v, int k) {
  if (k == W) _mm512_storeu_ps(p, v);
  else _mm512_mask_storeu_ps(p, first(k), v);
}
inline void vstore(std::uint16_t* p, V v, int k) {
  const __m256i h = _mm512_cvtepi32_epi16(_mm512_srli_epi32(bf16_bits(v), 16));
  if (k == W) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), h);
  else _mm256_mask_storeu_epi16(p, first(k), h);
}
inline V vround(V v) { return _mm512_castsi512_ps(bf16_bits(v)); }
inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
inline V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
inline V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V vdiv(V a, V b) { return _mm512_div_ps(a, b); }
inline V vmax(V a, V b) { return _mm512_max_ps(a, b); }
inline V vexp(V x0) {  // as avx2::vexp
  const __mmask16 under = _mm512_cmp_ps_mask(x0, _mm512_set1_ps(-87.3365f), _CMP_LT_OQ);
  V x = _mm512_min_ps(_mm512_set1_ps(88.3762626647949f), _mm512_max_ps(_mm512_set1_ps(-87.3365f), x0));
  V fx = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)),
                              _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
  const V z = _mm512_mul_ps(x, x);
  V y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_add_ps(_mm512_fmadd_ps(y, z, x), _mm512_set1_ps(1.0f));
  const __m512i n = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(fx), _mm512_set1_epi32(127)), 23);
  return _mm512_maskz_mul_ps(static_cast<__mmask16>(~under), y, _mm512_castsi512_ps(n));
}
inline float reduce_add(V v) { return _mm512_reduce_add_ps(v); }
inline float reduce_max(V v) { return _mm512_reduce_max_ps(v); }
#include "train/fused-ops-rows.inc"
}  // namespace avx512
#pragma GCC pop_options
#endif

// The row-kernel level in use: the widest this CPU has, or the one set_row_kernel_level chose.
enum class RowLevel { portable, avx2, avx512 };

bool row_level_supported(RowLevel l) {
#ifdef ECPO_TRAIN_X86
  if (l == RowLevel::avx512)
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  if (l == RowLevel::avx2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  return l == RowLevel::portable;
}

RowLevel& row_level() {
  static RowLevel l = row_level_supported(RowLevel::avx512) ? RowLevel::avx512
                      : row_level_supported(RowLevel::avx2) ? RowLevel::avx2
                                                            : RowLevel::portable;
  return l;
}

// Storage pointer of a float32 or bfloat16 tensor for the row kernels.
template <typename S>
S* rows_of(const torch::Tensor& t) {
  return static_cast<S*>(t.data_ptr());
}

// One row-kernel call at the level in use (an expression: void, or the kernel's value).
#ifdef ECPO_TRAIN_X86
#define ECPO_ROWS(call)                                    \
  (row_level() == RowLevel::avx512 ? avx512::call          \
   : row_level() == RowLevel::avx2 ? avx2::call            \
                                   : portable::call)
#else
#define ECPO_ROWS(call) portable::call
#endif

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// ---- frozen linear ---------------------------------------------------------------------------------------------

// Large float32 products with a frozen weight go through oneDNN (at::mkldnn_linear and its input gradient: AVX-512
// kernels where OpenBLAS runs its AVX2 sgemm, ~1.7× faster on a 102M model including the layout conversions of x
// and y); small ones (the conversions would dominate) and bf16 (at::linear reaches oneDNN itself) stay on at::.
bool use_onednn(const torch::Tensor& x, const torch::Tensor& w) {
  return x.scalar_type() == torch::kFloat && w.scalar_type() == torch::kFloat && x.dim() == 2 && w.dim() == 2 &&
         x.device().is_cpu() && w.is_contiguous() && at::hasMKLDNN() &&
         x.size(0) * w.size(0) * w.size(1) >= (std::int64_t{1} << 26);
}

// y = x·wᵀ + b
torch::Tensor linear_forward(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  if (!use_onednn(x, w)) return at::linear(x, w, b);
  return at::mkldnn_linear(x.contiguous().to_mkldnn(), w, b.defined() ? c10::optional<torch::Tensor>(b) : c10::nullopt)
      .to_dense();
}

// dx = g·w
torch::Tensor linear_grad_input(const torch::Tensor& g, const torch::Tensor& w) {
  if (!use_onednn(g, w)) return at::mm(g, w);
  torch::Tensor dx = at::mkldnn_linear_backward_input({g.size(0), w.size(1)}, g.contiguous().to_mkldnn(), w);
  return dx.is_mkldnn() ? dx.to_dense() : dx;
}

struct FrozenLinearFn : public torch::autograd::Function<FrozenLinearFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const c10::optional<torch::Tensor>& b) {
    ctx->save_for_backward({w});
    return linear_forward(x, w, b.has_value() ? *b : torch::Tensor());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    return {linear_grad_input(grads[0], ctx->get_saved_variables()[0]), torch::Tensor(), torch::Tensor()};
  }
};

// ---- LoRA linear -------------------------------------------------------------------------------------------

// The adapter math runs in the activation dtype (f32; for a bf16 base in bf16, as torch.autocast runs a LoRA
// layer), on compute-dtype copies of the f32 master A and B; the gradients returned for A and B are f32.
// f32: each member's delta is one addmm_ into its column block of y (BLAS takes the strided block as is). bf16:
// libtorch's bf16 matmuls want contiguous operands (a strided output falls back to a scalar loop, ~20× slower),
// so the members' B form one block-diagonal [out, m·r] matrix B̂ (zeros between the blocks, r-wide: cheap), kept
// as a contiguous B̂ᵀ: the whole delta is y += s·(u·B̂ᵀ), the backward dU = s·g·B̂; contiguous outputs.
struct LoraLinearFn : public torch::autograd::Function<LoraLinearFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const c10::optional<torch::Tensor>& b, const torch::Tensor& a, at::TensorList bs,
                               const std::vector<std::int64_t>& offs, double scale) {
    const torch::ScalarType ct = x.scalar_type();
    torch::Tensor y = linear_forward(x, w, b.has_value() ? *b : torch::Tensor());
    torch::Tensor ac = a.scalar_type() == ct ? a : a.to(ct);
    torch::Tensor u = at::mm(x, ac.t());  // [N, m·r]
    const auto m = static_cast<std::int64_t>(bs.size());
    const std::int64_t r = a.size(0) / m;
    variable_list saved = {x, u, w, ac};
    std::vector<std::int64_t> outs;
    for (const auto& t : bs) outs.push_back(t.size(0));
    if (ct == torch::kFloat) {
      for (std::int64_t i = 0; i < m; ++i) {
        y.narrow(1, offs[i], outs[i]).addmm_(u.narrow(1, i * r, r), bs[i].t(), 1.0, scale);
        saved.push_back(bs[i]);
      }
    } else {
      torch::Tensor bt;  // B̂ᵀ [m·r, out] in ct, contiguous (bf16 matmuls with a short inner dimension are
                         // several times slower on a transposed view)
      if (m == 1 && offs[0] == 0 && outs[0] == y.size(1)) {
        bt = bs[0].t().to(ct, /*non_blocking=*/false, /*copy=*/false, at::MemoryFormat::Contiguous);
      } else {
        bt = at::zeros({m * r, y.size(1)}, y.options());
        for (std::int64_t i = 0; i < m; ++i) bt.narrow(0, i * r, r).narrow(1, offs[i], outs[i]).copy_(bs[i].t());
      }
      y.add_(at::mm(u, bt), scale);
      saved.push_back(bt);
    }
    ctx->save_for_backward(saved);
    ctx->saved_data["offs"] = c10::IValue(offs);
    ctx->saved_data["outs"] = c10::IValue(outs);
    ctx->saved_data["scale"] = scale;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const torch::Tensor &x = s[0], &u = s[1], &w = s[2], &ac = s[3];
    const auto offs = ctx->saved_data["offs"].toIntVector();
    const auto outs = ctx->saved_data["outs"].toIntVector();
    const auto m = static_cast<std::int64_t>(offs.size());
    const double scale = ctx->saved_data["scale"].toDouble();
    const torch::Tensor& g = grads[0];  // [N, out], the activation dtype
    const std::int64_t r = ac.size(0) / m;
    variable_list dbs(static_cast<std::size_t>(m));
    torch::Tensor da, du;
    if (g.scalar_type() == torch::kFloat) {
      da = at::empty(ac.sizes(), ac.options());
      du = at::empty({u.size(0), u.size(1)}, u.options());
      for (std::int64_t i = 0; i < m; ++i) {
        const torch::Tensor& bc = s[4 + static_cast<std::size_t>(i)];
        torch::Tensor gi = g.narrow(1, offs[i], outs[i]);
        torch::Tensor ui = u.narrow(1, i * r, r);
        dbs[i] = at::mm(gi.t(), ui).mul_(scale);                 // dB_i = s · g_iᵀ u_i
        torch::Tensor dui = du.narrow(1, i * r, r);
        dui.copy_(at::mm(gi, bc).mul_(scale));                   // dU_i = s · g_i B_i   [N, r]
        torch::Tensor dai = da.narrow(0, i * r, r);              // contiguous rows
        at::mm_out(dai, dui.t(), x);                             // dA_i = dU_iᵀ x
      }
    } else {
      du = at::mm(g, s[4].t()).mul_(scale);                      // dU = s · g B̂   [N, m·r]
      da = at::mm(du.t(), x).to(torch::kFloat);                  // dA = dUᵀ x
      for (std::int64_t i = 0; i < m; ++i)                       // dB_i = s · g_iᵀ u_i
        dbs[i] = at::mm(g.narrow(1, offs[i], outs[i]).t(), u.narrow(1, i * r, r)).to(torch::kFloat).mul_(scale);
    }
    torch::Tensor dx;
    if (ctx->needs_input_grad(0)) {
      dx = linear_grad_input(g, w);  // frozen weight: only the input gradient
      dx.addmm_(du, ac);
    }
    // One entry per forward argument: x, w, b (an undefined optional still has a slot), a, bs..., offs, scale.
    variable_list out = {dx, torch::Tensor(), torch::Tensor(), da};
    for (auto& d : dbs) out.push_back(d);
    out.push_back(torch::Tensor());  // offs
    out.push_back(torch::Tensor());  // scale
    return out;
  }
};

// ---- SwiGLU ------------------------------------------------------------------------------------------------

// Row by row (fused-ops-rows.inc): the forward keeps only gu (silu(gate) is recomputed in the backward: one exp per
// element, cheaper than storing and re-reading an [N, I] tensor), the backward writes d[gate | up] in one pass.
template <typename S>
void swiglu_rows(const torch::Tensor& gu, const torch::Tensor& act) {
  const std::int64_t n = gu.size(0), I = gu.size(1) / 2;
  const S* x = rows_of<S>(gu);
  S* y = rows_of<S>(act);
  at::parallel_for(0, n, std::max<std::int64_t>(1, 16384 / I), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) ECPO_ROWS(swiglu_row(x + i * 2 * I, x + i * 2 * I + I, y + i * I, I));
  });
}

template <typename S>
void swiglu_backward_rows(const torch::Tensor& gu, const torch::Tensor& g, const torch::Tensor& d) {
  const std::int64_t n = gu.size(0), I = gu.size(1) / 2;
  const S *x = rows_of<S>(gu), *gr = rows_of<S>(g);
  S* dr = rows_of<S>(d);
  at::parallel_for(0, n, std::max<std::int64_t>(1, 16384 / I), [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const S* row = x + i * 2 * I;
      ECPO_ROWS(swiglu_backward_row(row, row + I, gr + i * I, dr + i * 2 * I, dr + i * 2 * I + I, I));
    }
  });
}

struct SwigluFn : public torch::autograd::Function<SwigluFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gu_in) {
    const torch::Tensor gu = gu_in.contiguous();
    torch::Tensor act = at::empty({gu.size(0), gu.size(1) / 2}, gu.options());
    if (gu.scalar_type() == torch::kFloat) swiglu_rows<float>(gu, act);
    else swiglu_rows<std::uint16_t>(gu, act);
    ctx->save_for_backward({gu});
    return act;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor gu = ctx->get_saved_variables()[0];
    const torch::Tensor g = grads[0].contiguous();
    torch::Tensor d = at::empty_like(gu);
    if (gu.scalar_type() == torch::kFloat) swiglu_backward_rows<float>(gu, g, d);
    else swiglu_backward_rows<std::uint16_t>(gu, g, d);
    return {d};
  }
};

// ---- RoPE + attention layout -------------------------------------------------------------------------------

struct RopeDims {
  std::int64_t B, T, H, Hkv, D, rep;
  bool per_token;  // cos/sin rows indexed by b·T + t instead of t
};

template <typename S>
void rope_forward(const S* qkv, const float* cos, const float* sin, S* q, S* k, S* v, const RopeDims& d) {
  const std::int64_t W = d.H + 2 * d.Hkv;
  at::parallel_for(0, d.B * d.T, 8, [&](std::int64_t b0, std::int64_t e0) {
    for (std::int64_t bt = b0; bt < e0; ++bt) {
      const std::int64_t b = bt / d.T, t = bt % d.T;
      const float* c = cos + (d.per_token ? bt : t) * d.D;
      const float* sn = sin + (d.per_token ? bt : t) * d.D;
      const S* row = qkv + bt * W * d.D;
      for (std::int64_t h = 0; h < d.H + d.Hkv; ++h) {
        const S* x = row + h * d.D;
        S* out;
        if (h < d.H) {
          const std::int64_t j = h / d.rep, r = h % d.rep;
          out = q + ((b * d.Hkv + j) * d.rep * d.T + r * d.T + t) * d.D;
        } else {
          out = k + ((b * d.Hkv + (h - d.H)) * d.T + t) * d.D;
        }
        ECPO_ROWS(rope_row(x, c, sn, out, d.D));
      }
      for (std::int64_t j = 0; j < d.Hkv; ++j) {
        const S* x = row + (d.H + d.Hkv + j) * d.D;
        S* out = v + ((b * d.Hkv + j) * d.T + t) * d.D;
        std::copy(x, x + d.D, out);
      }
    }
  });
}

// dx[e] = g[e]·cos[e] + g[σ(e)]·sin[σ(e)], σ(e) = e ± D/2 (rope's roll is an involution).
template <typename S>
void rope_backward(const S* dq, const S* dk, const S* dv, const float* cos, const float* sin, S* dqkv, const RopeDims& d) {
  const std::int64_t W = d.H + 2 * d.Hkv;
  at::parallel_for(0, d.B * d.T, 8, [&](std::int64_t b0, std::int64_t e0) {
    for (std::int64_t bt = b0; bt < e0; ++bt) {
      const std::int64_t b = bt / d.T, t = bt % d.T;
      const float* c = cos + (d.per_token ? bt : t) * d.D;
      const float* sn = sin + (d.per_token ? bt : t) * d.D;
      S* row = dqkv + bt * W * d.D;
      for (std::int64_t h = 0; h < d.H + d.Hkv; ++h) {
        const S* g;
        if (h < d.H) {
          const std::int64_t j = h / d.rep, r = h % d.rep;
          g = dq + ((b * d.Hkv + j) * d.rep * d.T + r * d.T + t) * d.D;
        } else {
          g = dk + ((b * d.Hkv + (h - d.H)) * d.T + t) * d.D;
        }
        S* out = row + h * d.D;
        ECPO_ROWS(rope_backward_row(g, c, sn, out, d.D));
      }
      for (std::int64_t j = 0; j < d.Hkv; ++j) {
        const S* g = dv + ((b * d.Hkv + j) * d.T + t) * d.D;
        std::copy(g, g + d.D, row + (d.H + d.Hkv + j) * d.D);
      }
    }
  });
}

struct RopeSplitFn : public torch::autograd::Function<RopeSplitFn> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& qkv_in, const torch::Tensor& cos,
                               const torch::Tensor& sin, std::int64_t H, std::int64_t Hkv) {
    const torch::Tensor qkv = qkv_in.contiguous();
    RopeDims d{qkv.size(0), qkv.size(1), H, Hkv, qkv.size(3), H / Hkv, cos.size(0) != qkv.size(1)};
    auto opt = qkv.options();
    torch::Tensor q = at::empty({d.B * Hkv, d.rep * d.T, d.D}, opt), k = at::empty({d.B * Hkv, d.T, d.D}, opt),
                  v = at::empty({d.B * Hkv, d.T, d.D}, opt);
    if (qkv.scalar_type() == torch::kFloat)
      rope_forward(qkv.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(), q.data_ptr<float>(),
                   k.data_ptr<float>(), v.data_ptr<float>(), d);
    else
      rope_forward(rows_of<std::uint16_t>(qkv), cos.data_ptr<float>(), sin.data_ptr<float>(), rows_of<std::uint16_t>(q),
                   rows_of<std::uint16_t>(k), rows_of<std::uint16_t>(v), d);
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["dims"] = std::vector<std::int64_t>{d.B, d.T, H, Hkv, d.D};
    return {q, k, v};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const auto dims = ctx->saved_data["dims"].toIntVector();
    RopeDims d{dims[0], dims[1], dims[2], dims[3], dims[4], dims[2] / dims[3], s[0].size(0) != dims[1]};
    auto opt = grads[0].defined() ? grads[0].options() : grads[2].options();
    auto need = [&](int i, std::vector<std::int64_t> shape) {
      return grads[i].defined() ? grads[i].contiguous() : at::zeros(shape, opt);
    };
    torch::Tensor dq = need(0, {d.B * d.Hkv, d.rep * d.T, d.D}), dk = need(1, {d.B * d.Hkv, d.T, d.D}),
                  dv = need(2, {d.B * d.Hkv, d.T, d.D});
    torch::Tensor dqkv = at::empty({d.B, d.T, d.H + 2 * d.Hkv, d.D}, opt);
    if (dq.scalar_type() == torch::kFloat)
      rope_backward(dq.data_ptr<float>(), dk.data_ptr<float>(), dv.data_ptr<float>(), s[0].data_ptr<float>(),
                    s[1].data_ptr<float>(), dqkv.data_ptr<float>(), d);
    else
      rope_backward(rows_of<std::uint16_t>(dq), rows_of<std::uint16_t>(dk), rows_of<std::uint16_t>(dv),
                    s[0].data_ptr<float>(), s[1].data_ptr<float>(), rows_of<std::uint16_t>(dqkv), d);
    return {dqkv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// ---- block-causal attention --------------------------------------------------------------------------------

struct AttnPlan {
  std::int64_t BH, B, Hkv, rep, T, D, Tc, n_blocks;
  double scale;
  std::int64_t end(std::int64_t c) const { return std::min(T, (c + 1) * Tc); }
  std::int64_t rows(std::int64_t c) const { return end(c) - c * Tc; }
};

// The queries of block c of every stacked head, [BH, rep·rows, D] (a copy).
torch::Tensor q_block(const torch::Tensor& q, const AttnPlan& p, std::int64_t c) {
  if (p.n_blocks == 1) return q;
  return q.view({p.BH, p.rep, p.T, p.D}).narrow(2, c * p.Tc, p.rows(c)).reshape({p.BH, p.rep * p.rows(c), p.D});
}

// Scores of block c [BH, rep·rows, e] → probabilities, in place (fused-ops-rows.inc softmax_row): scaled, masked
// (causal: query t sees keys ≤ t; else the branch mask's row), softmax in f32, stored in the scores' dtype.
template <typename S>
void block_softmax(const torch::Tensor& sc, const torch::Tensor& branch_mask, const AttnPlan& p, std::int64_t c) {
  const std::int64_t rows = p.rows(c), e = p.end(c), R = sc.size(0) * sc.size(1);
  S* base = rows_of<S>(sc);
  const float* mask = branch_mask.defined() ? branch_mask.data_ptr<float>() : nullptr;
  at::parallel_for(0, R, std::max<std::int64_t>(1, 8192 / e), [&](std::int64_t b0, std::int64_t e0) {
    std::vector<float> buf(static_cast<std::size_t>(e));
    for (std::int64_t rho = b0; rho < e0; ++rho) {
      const std::int64_t bh = rho / (p.rep * rows), t = c * p.Tc + rho % rows;
      const float* mrow = mask ? mask + ((bh / p.Hkv) * p.T + t) * p.T : nullptr;
      const std::int64_t nv = mask ? e : t + 1;
      ECPO_ROWS(softmax_row(base + rho * e, mrow, buf.data(), nv, e, static_cast<float>(p.scale)));
    }
  });
}

// dP of block c → dS = scale · P ⊙ (dP − rowsum(dP ⊙ P)), in place.
template <typename S>
void block_softmax_backward(const torch::Tensor& dp, const torch::Tensor& pc, bool masked, const AttnPlan& p,
                            std::int64_t c) {
  const std::int64_t rows = p.rows(c), e = p.end(c), R = dp.size(0) * dp.size(1);
  S* d = rows_of<S>(dp);
  const S* pr = rows_of<S>(pc);
  at::parallel_for(0, R, std::max<std::int64_t>(1, 8192 / e), [&](std::int64_t b0, std::int64_t e0) {
    for (std::int64_t rho = b0; rho < e0; ++rho) {
      const std::int64_t nv = masked ? e : c * p.Tc + rho % rows + 1;
      ECPO_ROWS(softmax_backward_row(d + rho * e, pr + rho * e, nv, e, static_cast<float>(p.scale)));
    }
  });
}

struct CausalAttentionFn : public torch::autograd::Function<CausalAttentionFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const c10::optional<torch::Tensor>& mask, std::int64_t B,
                               double scale, std::int64_t block) {
    const std::int64_t BH = k.size(0), T = k.size(1), D = k.size(2);
    AttnPlan p{BH, B, BH / B, q.size(1) / T, T, D, block, (T + block - 1) / block, scale};
    if (p.n_blocks <= 1) p.Tc = T, p.n_blocks = 1;
    const torch::Tensor bm = mask.has_value() ? mask->to(torch::kFloat).contiguous() : torch::Tensor();
    torch::Tensor out = p.n_blocks == 1 ? torch::Tensor() : at::empty({BH, p.rep, T, D}, q.options());
    variable_list saved = {q, k, v};
    std::vector<torch::Tensor> probs;
    for (std::int64_t c = 0; c < p.n_blocks; ++c) {
      const std::int64_t e = p.end(c), rows = p.rows(c);
      torch::Tensor qc = q_block(q, p, c);
      torch::Tensor kc = k.narrow(1, 0, e), vc = v.narrow(1, 0, e);
      torch::Tensor pc = at::bmm(qc, kc.transpose(1, 2));  // scores [BH, rep·rows, e], then probabilities in place
      if (pc.scalar_type() == torch::kFloat) block_softmax<float>(pc, bm, p, c);
      else block_softmax<std::uint16_t>(pc, bm, p, c);
      torch::Tensor oc = at::bmm(pc, vc);  // [BH, rep·rows, D]
      if (p.n_blocks == 1) out = oc;
      else out.narrow(2, c * p.Tc, rows).copy_(oc.view({BH, p.rep, rows, D}));
      probs.push_back(pc);
    }
    for (auto& pc : probs) saved.push_back(pc);
    ctx->save_for_backward(saved);
    ctx->saved_data["plan"] = std::vector<std::int64_t>{BH, B, p.Hkv, p.rep, T, D, p.Tc, p.n_blocks};
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["has_mask"] = bm.defined();
    return out.view({BH, p.rep * T, D});
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const auto pv = ctx->saved_data["plan"].toIntVector();
    AttnPlan p{pv[0], pv[1], pv[2], pv[3], pv[4], pv[5], pv[6], pv[7], ctx->saved_data["scale"].toDouble()};
    const bool has_mask = ctx->saved_data["has_mask"].toBool();
    const torch::Tensor &q = s[0], &k = s[1], &v = s[2];
    const std::size_t first_prob = 3;
    const torch::Tensor g = grads[0].contiguous().view({p.BH, p.rep, p.T, p.D});
    torch::Tensor dq = p.n_blocks == 1 ? torch::Tensor() : at::empty({p.BH, p.rep, p.T, p.D}, q.options());
    torch::Tensor dk = at::zeros_like(k), dv = at::zeros_like(v);
    for (std::int64_t c = 0; c < p.n_blocks; ++c) {
      const std::int64_t e = p.end(c), rows = p.rows(c);
      const torch::Tensor& pc = s[first_prob + static_cast<std::size_t>(c)];  // [BH, rep·rows, e]
      torch::Tensor gc = p.n_blocks == 1 ? g.view({p.BH, p.rep * p.T, p.D})
                                         : g.narrow(2, c * p.Tc, rows).reshape({p.BH, p.rep * rows, p.D});
      torch::Tensor qc = q_block(q, p, c);
      torch::Tensor kc = k.narrow(1, 0, e), vc = v.narrow(1, 0, e);
      dv.narrow(1, 0, e).add_(at::bmm(pc.transpose(1, 2), gc));        // dV += Pᵀ·dO
      torch::Tensor dp = at::bmm(gc, vc.transpose(1, 2));               // dP = dO·Vᵀ
      torch::Tensor& ds = dp;  // dS in place
      if (dp.scalar_type() == torch::kFloat) block_softmax_backward<float>(dp, pc, has_mask, p, c);
      else block_softmax_backward<std::uint16_t>(dp, pc, has_mask, p, c);
      torch::Tensor dqc = at::bmm(ds, kc);                              // dQ = dS·K
      dk.narrow(1, 0, e).add_(at::bmm(ds.transpose(1, 2), qc));         // dK += dSᵀ·Q
      if (p.n_blocks == 1) dq = dqc;
      else dq.narrow(2, c * p.Tc, rows).copy_(dqc.view({p.BH, p.rep, rows, p.D}));
    }
    return {dq.view({p.BH, p.rep * p.T, p.D}), dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// ---- row gather -------------------------------------------------------------------------------------------

void copy_rows(const std::uint8_t* src, std::uint8_t* dst, const std::int64_t* idx, std::int64_t n, std::size_t row_bytes,
               bool gather) {
  at::parallel_for(0, n, 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      if (gather) std::memcpy(dst + i * row_bytes, src + idx[i] * row_bytes, row_bytes);
      else std::memcpy(dst + idx[i] * row_bytes, src + i * row_bytes, row_bytes);
    }
  });
}

struct GatherRowsFn : public torch::autograd::Function<GatherRowsFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& rows) {
    const torch::Tensor x = x_in.contiguous();
    const std::int64_t R = rows.size(0), C = x.size(1);
    torch::Tensor out = at::empty({R, C}, x.options());
    copy_rows(static_cast<const std::uint8_t*>(x.data_ptr()), static_cast<std::uint8_t*>(out.data_ptr()),
              rows.data_ptr<std::int64_t>(), R, static_cast<std::size_t>(C) * x.element_size(), true);
    ctx->save_for_backward({rows});
    ctx->saved_data["n"] = x.size(0);
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor rows = ctx->get_saved_variables()[0];
    const torch::Tensor g = grads[0].contiguous();
    torch::Tensor dx = at::zeros({ctx->saved_data["n"].toInt(), g.size(1)}, g.options());
    copy_rows(static_cast<const std::uint8_t*>(g.data_ptr()), static_cast<std::uint8_t*>(dx.data_ptr()),
              rows.data_ptr<std::int64_t>(), g.size(0), static_cast<std::size_t>(g.size(1)) * g.element_size(), false);
    return {dx, torch::Tensor()};
  }
};

// ---- RMSNorm -----------------------------------------------------------------------------------------------

template <typename S>
void rms_forward_rows(const S* x, const S* w, S* y, float* rstd, std::int64_t n, std::int64_t c, double eps) {
  at::parallel_for(0, n, 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const float ss = ECPO_ROWS(sum_squares(x + i * c, c));
      const float r = 1.0f / std::sqrt(ss / static_cast<float>(c) + static_cast<float>(eps));
      rstd[i] = r;
      ECPO_ROWS(rms_scale_row(x + i * c, w, r, y + i * c, c));
    }
  });
}

// dx = r·(g⊙w) − x·r³·mean((g⊙w)⊙x)   (the weight is frozen; the bf16 rounding of the forward is ignored).
template <typename S>
void rms_backward_rows(const S* x, const S* w, const S* g, const float* rstd, S* dx, std::int64_t n, std::int64_t c) {
  at::parallel_for(0, n, 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const float dot = ECPO_ROWS(sum_products(g + i * c, w, x + i * c, c));
      const float r = rstd[i];
      ECPO_ROWS(rms_backward_row(x + i * c, w, g + i * c, r, r * r * r * dot / static_cast<float>(c), dx + i * c, c));
    }
  });
}

struct RmsNormFn : public torch::autograd::Function<RmsNormFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& w, double eps) {
    const torch::Tensor x = x_in.contiguous();
    const std::int64_t c = x.size(-1), n = x.numel() / c;
    torch::Tensor y = at::empty_like(x);
    torch::Tensor rstd = at::empty({n}, x.options().dtype(torch::kFloat));
    if (x.scalar_type() == torch::kFloat)
      rms_forward_rows(x.data_ptr<float>(), w.data_ptr<float>(), y.data_ptr<float>(), rstd.data_ptr<float>(), n, c, eps);
    else
      rms_forward_rows(rows_of<std::uint16_t>(x), rows_of<std::uint16_t>(w), rows_of<std::uint16_t>(y),
                       rstd.data_ptr<float>(), n, c, eps);
    ctx->save_for_backward({x, w, rstd});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const torch::Tensor &x = s[0], &w = s[1], &rstd = s[2];
    const torch::Tensor g = grads[0].contiguous();
    const std::int64_t c = x.size(-1), n = x.numel() / c;
    torch::Tensor dx = at::empty_like(x);
    if (x.scalar_type() == torch::kFloat)
      rms_backward_rows(x.data_ptr<float>(), w.data_ptr<float>(), g.data_ptr<float>(), rstd.data_ptr<float>(),
                        dx.data_ptr<float>(), n, c);
    else
      rms_backward_rows(rows_of<std::uint16_t>(x), rows_of<std::uint16_t>(w), rows_of<std::uint16_t>(g),
                        rstd.data_ptr<float>(), rows_of<std::uint16_t>(dx), n, c);
    return {dx, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor lora_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, const torch::Tensor& a,
                          const std::vector<torch::Tensor>& bs, const std::vector<std::int64_t>& offs, double scale) {
  c10::optional<torch::Tensor> bias;
  if (b.defined()) bias = b;
  return LoraLinearFn::apply(x, w, bias, a, at::TensorList(bs), offs, scale);
}

torch::Tensor frozen_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  c10::optional<torch::Tensor> bias;
  if (b.defined()) bias = b;
  return FrozenLinearFn::apply(x, w, bias);
}

namespace {
// The row kernels read float32 or bfloat16 CPU storage.
bool row_kernel_dtype(const torch::Tensor& t) {
  return (t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kBFloat16) && t.device().is_cpu();
}
}  // namespace

torch::Tensor swiglu(const torch::Tensor& gu) {
  if (!row_kernel_dtype(gu)) {  // eager composition (other dtypes or devices)
    const std::int64_t I = gu.size(1) / 2;
    return at::silu(gu.narrow(1, 0, I)) * gu.narrow(1, I, I);
  }
  return SwigluFn::apply(gu);
}

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& branch_mask, std::int64_t batch, double scale, std::int64_t block) {
  TORCH_CHECK(row_kernel_dtype(q) && q.scalar_type() == k.scalar_type() && q.scalar_type() == v.scalar_type(),
              "causal_attention: float32 or bfloat16 CPU tensors of one dtype");
  c10::optional<torch::Tensor> m;
  if (branch_mask.defined()) m = branch_mask;
  return CausalAttentionFn::apply(q, k, v, m, batch, scale, block);
}

torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& rows) {
  return GatherRowsFn::apply(x, rows.to(torch::kLong).contiguous());
}

std::vector<torch::Tensor> rope_split(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin_signed,
                                      std::int64_t heads, std::int64_t kv_heads) {
  TORCH_CHECK(row_kernel_dtype(qkv) && cos.scalar_type() == torch::kFloat && sin_signed.scalar_type() == torch::kFloat,
              "rope_split: float32 or bfloat16 CPU qkv, float32 tables");
  return RopeSplitFn::apply(qkv, cos.contiguous(), sin_signed.contiguous(), heads, kv_heads);
}

torch::Tensor rms_norm_fused(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  const bool ok = (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16) &&
                  w.scalar_type() == x.scalar_type() && w.is_contiguous() && x.device().is_cpu();
  if (!ok) {  // eager composition (other dtypes or devices)
    torch::Tensor xf = x.to(torch::kFloat);
    return w * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps)).to(x.scalar_type());
  }
  return RmsNormFn::apply(x, w, eps);
}

std::string row_kernel_level() {
  switch (row_level()) {
    case RowLevel::avx512: return "avx512";
    case RowLevel::avx2: return "avx2";
    default: return "portable";
  }
}

bool set_row_kernel_level(const std::string& name) {
  const RowLevel l = name == "avx512" ? RowLevel::avx512 : name == "avx2" ? RowLevel::avx2 : RowLevel::portable;
  if ((name != "portable" && l == RowLevel::portable) || !row_level_supported(l)) return false;
  row_level() = l;
  return true;
}

}  // namespace ecpo::train
