// Kernels (see kernels.h): the algorithms live once in kernels-isa.inc and are compiled three times here — portable
// C++ (an 8-lane struct, the same lane layout and reduction tree as AVX2), AVX2+FMA and AVX-512 (each under a
// `#pragma GCC target` region, so the rest of the build keeps the baseline ISA) — plus an AVX-512 BF16 level whose
// bf16-weight products use vdpbf16ps; one set is picked at run time with __builtin_cpu_supports, or by ECPO_KERNELS. Register blocking: C = A·Bᵀ uses 4×3 accumulators on
// AVX2 (12 of 16 ymm), 4×6 on AVX-512 (24 of 32 zmm); C += A·B uses 6×2 and 4×4 vectors.
#include "model/kernels.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
// GCC 12's own _mm512_* helpers trip -Wmaybe-uninitialized inside the intrinsic headers (a known false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#define ECPO_X86 1
#endif

#include "util/error.h"

namespace ecpo::model::kernels {
namespace {

// ---- portable: 8 lanes in a struct, unfused multiply-add, std::exp ------------------------------------------------
namespace portable {
constexpr int W = 8;
constexpr int MR_NT = 4, NR_NT = 3, MR_NN = 4, NV_NN = 2;
struct V {
  float l[W];
};
inline V vzero() { return V{}; }
inline V vload(const float* p) {
  V v;
  for (int i = 0; i < W; ++i) v.l[i] = p[i];
  return v;
}
inline V vload(const std::uint16_t* p) {
  V v;
  for (int i = 0; i < W; ++i) v.l[i] = from_bf16(p[i]);
  return v;
}
inline V vset1(float x) {
  V v;
  for (int i = 0; i < W; ++i) v.l[i] = x;
  return v;
}
#define ECPO_PORTABLE_OP(name, expr)       \
  inline V name(V a, V b) {                \
    V v;                                   \
    for (int i = 0; i < W; ++i) v.l[i] = expr; \
    return v;                              \
  }
ECPO_PORTABLE_OP(vadd, a.l[i] + b.l[i])
ECPO_PORTABLE_OP(vsub, a.l[i] - b.l[i])
ECPO_PORTABLE_OP(vmul, a.l[i] * b.l[i])
ECPO_PORTABLE_OP(vdiv, a.l[i] / b.l[i])
ECPO_PORTABLE_OP(vmax, a.l[i] > b.l[i] ? a.l[i] : b.l[i])
#undef ECPO_PORTABLE_OP
inline V vfma(V a, V b, V c) {
  for (int i = 0; i < W; ++i) c.l[i] += a.l[i] * b.l[i];
  return c;
}
inline void vstore(float* p, V v) {
  for (int i = 0; i < W; ++i) p[i] = v.l[i];
}
// The AVX2 tree: ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
inline float reduce(V v) {
  return ((v.l[0] + v.l[1]) + (v.l[2] + v.l[3])) + ((v.l[4] + v.l[5]) + (v.l[6] + v.l[7]));
}
// out[t] += reduce(v_t) for t < n (four vectors at once on the vector levels).
inline void reduce4_add(V a, V b, V c, V d, float* out, int n) {
  const V v[4] = {a, b, c, d};
  for (int t = 0; t < n; ++t) out[t] += reduce(v[t]);
}
inline float hmax(V v) {
  float m = v.l[0];
  for (int i = 1; i < W; ++i) m = v.l[i] > m ? v.l[i] : m;
  return m;
}
inline V vexp(V x) {
  for (int i = 0; i < W; ++i) x.l[i] = std::exp(x.l[i]);
  return x;
}
inline float sfma(float a, float b, float c) { return a * b + c; }
inline void in_register(V&) {}
#include "model/kernels-isa.inc"
void to_bf16_v(const float* x, std::uint16_t* out, i64 n) {
  for (i64 i = 0; i < n; ++i) out[i] = to_bf16(x[i]);
}
}  // namespace portable

#ifdef ECPO_X86

// Cephes expf on vectors: x clamped to [-87.34, 88], n = round(x·log2 e), r = x − n·ln 2 (two-part ln 2), a degree-6
// polynomial for e^r, scaled by 2^n through the exponent bits. ≤ 2 ulp on the clamped range.
#define ECPO_VEXP_BODY(P, SI, CAST)                                                                                      \
  x = P##_min_ps(P##_max_ps(x, P##_set1_ps(-87.336544f)), P##_set1_ps(88.0f));                                   \
  V fx = P##_fmadd_ps(x, P##_set1_ps(1.44269504088896341f), P##_set1_ps(0.5f));                                  \
  fx = FLOOR(fx);                                                                                                \
  x = P##_fnmadd_ps(fx, P##_set1_ps(0.693359375f), x);                                                           \
  x = P##_fnmadd_ps(fx, P##_set1_ps(-2.12194440e-4f), x);                                                        \
  const V z = P##_mul_ps(x, x);                                                                                  \
  V y = P##_set1_ps(1.9875691500e-4f);                                                                           \
  y = P##_fmadd_ps(y, x, P##_set1_ps(1.3981999507e-3f));                                                         \
  y = P##_fmadd_ps(y, x, P##_set1_ps(8.3334519073e-3f));                                                         \
  y = P##_fmadd_ps(y, x, P##_set1_ps(4.1665795894e-2f));                                                         \
  y = P##_fmadd_ps(y, x, P##_set1_ps(1.6666665459e-1f));                                                         \
  y = P##_fmadd_ps(y, x, P##_set1_ps(5.0000001201e-1f));                                                         \
  y = P##_fmadd_ps(y, z, x);                                                                                     \
  y = P##_add_ps(y, P##_set1_ps(1.0f));                                                                          \
  SI n = P##_add_epi32(P##_cvtps_epi32(fx), P##_set1_epi32(127));                                                \
  n = P##_slli_epi32(n, 23);                                                                                     \
  return P##_mul_ps(y, CAST(n));

// ---- AVX2 + FMA ----------------------------------------------------------------------------------------------------
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
namespace avx2 {
constexpr int W = 8;
constexpr int MR_NT = 4, NR_NT = 3, MR_NN = 6, NV_NN = 2;
using V = __m256;
inline V vzero() { return _mm256_setzero_ps(); }
inline V vload(const float* p) { return _mm256_loadu_ps(p); }
inline V vload(const std::uint16_t* p) {
  const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
inline V vset1(float x) { return _mm256_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
inline V vadd(V a, V b) { return _mm256_add_ps(a, b); }
inline V vsub(V a, V b) { return _mm256_sub_ps(a, b); }
inline V vmul(V a, V b) { return _mm256_mul_ps(a, b); }
inline V vdiv(V a, V b) { return _mm256_div_ps(a, b); }
inline V vmax(V a, V b) { return _mm256_max_ps(a, b); }
inline void vstore(float* p, V v) { _mm256_storeu_ps(p, v); }
// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)): two horizontal adds within each 128-bit half, then the halves.
inline __m128 reduce4(V a, V b, V c, V d) {  // [reduce(a), reduce(b), reduce(c), reduce(d)]
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}
inline float reduce(V v) { return _mm_cvtss_f32(reduce4(v, v, v, v)); }
inline void reduce4_add(V a, V b, V c, V d, float* out, int n) {
  const __m128 r = reduce4(a, b, c, d);
  if (n == 4) {
    _mm_storeu_ps(out, _mm_add_ps(_mm_loadu_ps(out), r));
  } else {
    float t[4];
    _mm_storeu_ps(t, r);
    for (int i = 0; i < n; ++i) out[i] += t[i];
  }
}
inline float hmax(V v) {
  __m128 t = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  t = _mm_max_ps(t, _mm_movehl_ps(t, t));
  return _mm_cvtss_f32(_mm_max_ss(t, _mm_movehdup_ps(t)));
}
inline float sfma(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}
inline void in_register(V& v) { asm("" : "+x"(v)); }
#define FLOOR(v) _mm256_floor_ps(v)
inline V vexp(V x) { ECPO_VEXP_BODY(_mm256, __m256i, _mm256_castsi256_ps) }
#undef FLOOR
#include "model/kernels-isa.inc"
// to_bf16 on 8 floats: u + 0x7fff + ((u >> 16) & 1), high half; NaN → (u >> 16) | 0x40.
void to_bf16_v(const float* x, std::uint16_t* out, i64 n) {
  const __m256i bias = _mm256_set1_epi32(0x7fff), one = _mm256_set1_epi32(1), quiet = _mm256_set1_epi32(0x40);
  i64 i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 f = _mm256_loadu_ps(x + i);
    const __m256i u = _mm256_castps_si256(f);
    const __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(u, bias), _mm256_and_si256(_mm256_srli_epi32(u, 16), one)), 16);
    const __m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), quiet);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(f, f, _CMP_UNORD_Q));
    const __m256i v = _mm256_blendv_epi8(r, q, nan);  // 8 × u32 holding 16-bit values
    const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), packed);
  }
  for (; i < n; ++i) out[i] = to_bf16(x[i]);
}
}  // namespace avx2
#pragma GCC pop_options

// ---- AVX-512 (F, BW, VL) -------------------------------------------------------------------------------------------
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")
namespace avx512 {
constexpr int W = 16;
constexpr int MR_NT = 4, NR_NT = 6, MR_NN = 4, NV_NN = 4;
using V = __m512;
inline V vzero() { return _mm512_setzero_ps(); }
inline V vload(const float* p) { return _mm512_loadu_ps(p); }
inline V vload(const std::uint16_t* p) {
  const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
inline V vset1(float x) { return _mm512_set1_ps(x); }
inline V vfma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
inline V vadd(V a, V b) { return _mm512_add_ps(a, b); }
inline V vsub(V a, V b) { return _mm512_sub_ps(a, b); }
inline V vmul(V a, V b) { return _mm512_mul_ps(a, b); }
inline V vdiv(V a, V b) { return _mm512_div_ps(a, b); }
inline V vmax(V a, V b) { return _mm512_max_ps(a, b); }
inline void vstore(float* p, V v) { _mm512_storeu_ps(p, v); }
inline __m256 fold(V v) {  // l_i + l_{i+8}
  return _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
// fold (l_i + l_{i+8}), then the AVX2 tree
inline __m128 reduce4(V a, V b, V c, V d) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(fold(a), fold(b)), _mm256_hadd_ps(fold(c), fold(d)));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}
inline float reduce(V v) { return _mm_cvtss_f32(reduce4(v, v, v, v)); }
inline void reduce4_add(V a, V b, V c, V d, float* out, int n) {
  const __m128 r = reduce4(a, b, c, d);
  if (n == 4) {
    _mm_storeu_ps(out, _mm_add_ps(_mm_loadu_ps(out), r));
  } else {
    float t[4];
    _mm_storeu_ps(t, r);
    for (int i = 0; i < n; ++i) out[i] += t[i];
  }
}
inline float hmax(V v) { return _mm512_reduce_max_ps(v); }
inline float sfma(float a, float b, float c) {
  return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
}
inline void in_register(V& v) { asm("" : "+v"(v)); }
#define FLOOR(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
inline V vexp(V x) { ECPO_VEXP_BODY(_mm512, __m512i, _mm512_castsi512_ps) }
#undef FLOOR
#include "model/kernels-isa.inc"
void to_bf16_v(const float* x, std::uint16_t* out, i64 n) {
  const __m512i bias = _mm512_set1_epi32(0x7fff), one = _mm512_set1_epi32(1), quiet = _mm512_set1_epi32(0x40);
  i64 i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 f = _mm512_loadu_ps(x + i);
    const __m512i u = _mm512_castps_si512(f);
    const __m512i r = _mm512_srli_epi32(
        _mm512_add_epi32(_mm512_add_epi32(u, bias), _mm512_and_si512(_mm512_srli_epi32(u, 16), one)), 16);
    const __m512i q = _mm512_or_si512(_mm512_srli_epi32(u, 16), quiet);
    const __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(r, nan, q)));
  }
  for (; i < n; ++i) out[i] = to_bf16(x[i]);
}
}  // namespace avx512
#pragma GCC pop_options

// ---- AVX-512 + BF16 dot products (vdpbf16ps) --------------------------------------------------------------------
// Everything as the AVX-512 level, except C = A·Bᵀ with bf16 B: A is rounded to bf16 too (nearest even) and pairs of
// products are summed by vdpbf16ps — twice the multiply-adds per instruction of widening B to float32, at the cost of
// rounding the activations at the product's input (as llama.cpp's and oneDNN's bf16 paths do). Per element: one
// accumulator over 32-element steps, the AVX-512 reduction tree per 512-block, then the tail one product at a time —
// the same for every M, so the determinism contract holds.
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")
namespace avx512bf16 {
using i64 = std::int64_t;
constexpr int MR = 4, NR = 6;
constexpr i64 KC = 1024;

template <int MRt, int NRt>
void micro_dp(const std::uint16_t* a, i64 lda, const std::uint16_t* b, i64 ldb, float* c, i64 ldc, i64 kc) {
  const i64 kv = kc - kc % 32;
  __m512 acc[MRt][NRt];
#pragma GCC unroll 8
  for (int i = 0; i < MRt; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NRt; ++j) acc[i][j] = _mm512_setzero_ps();
  for (i64 p = 0; p < kv; p += 32) {
    __m512bh bv[NRt];
#pragma GCC unroll 8
    for (int j = 0; j < NRt; ++j) bv[j] = (__m512bh)_mm512_loadu_si512(b + j * ldb + p);
#pragma GCC unroll 8
    for (int i = 0; i < MRt; ++i) {
      const __m512bh av = (__m512bh)_mm512_loadu_si512(a + i * lda + p);
#pragma GCC unroll 8
      for (int j = 0; j < NRt; ++j) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], av, bv[j]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < MRt; ++i)
#pragma GCC unroll 2
    for (int j = 0; j < NRt; j += 4) {
      const __m512 z = _mm512_setzero_ps();
      avx512::reduce4_add(acc[i][j], j + 1 < NRt ? acc[i][j + 1] : z, j + 2 < NRt ? acc[i][j + 2] : z,
                          j + 3 < NRt ? acc[i][j + 3] : z, c + i * ldc + j, NRt - j < 4 ? NRt - j : 4);
    }
  for (i64 p = kv; p < kc; ++p)
    for (int i = 0; i < MRt; ++i)
      for (int j = 0; j < NRt; ++j)
        c[i * ldc + j] = avx512::sfma(from_bf16(a[i * lda + p]), from_bf16(b[j * ldb + p]), c[i * ldc + j]);
}

using MicroDp = void (*)(const std::uint16_t*, i64, const std::uint16_t*, i64, float*, i64, i64);
struct DpTable {
  MicroDp f[MR + 1][NR + 1] = {};
  template <int MRt, int NRt>
  void fill() {
    f[MRt][NRt] = micro_dp<MRt, NRt>;
    if constexpr (NRt > 1) fill<MRt, NRt - 1>();
    else if constexpr (MRt > 1) fill<MRt - 1, NR>();
  }
  DpTable() { fill<MR, NR>(); }
};

const DpTable& dp_table() {
  static const DpTable table;
  return table;
}

constexpr i64 MC = 240, NC = 16 * NR;

// Rows [mc, me) of C, columns [n0, n1), plus one K block of kc columns: A's row i at a + (i − mc)·lda and B's rows
// at b (both already at the block's first column).
void dp_block(i64 mc, i64 me, i64 n0, i64 n1, i64 kc, const std::uint16_t* a, i64 lda, const std::uint16_t* b,
              i64 ldb, float* c, i64 ldc) {
  const DpTable& table = dp_table();
  for (i64 nc = n0; nc < n1; nc += NC) {
    const i64 ne = n1 - nc < NC ? n1 : nc + NC;
    for (i64 i = mc; i < me; i += MR) {
      const int mr = static_cast<int>(me - i < MR ? me - i : MR);
      for (i64 j = nc; j < ne; j += NR) {
        const int nr = static_cast<int>(ne - j < NR ? ne - j : NR);
        table.f[mr][nr](a + (i - mc) * lda, lda, b + j * ldb, ldb, c + i * ldc + j, ldc, kc);
      }
    }
  }
}

// C += A·Bᵀ with A already rounded to bf16 (row stride lda). gemm_nt_dp rounds A block by block and runs the same
// blocks in the same order, so the sums are the same — a caller that cuts one product into many column chunks
// rounds A once (gemm_nt_bf16a) instead of once per chunk.
void gemm_nt_pre(i64 m, i64 n0, i64 n1, i64 k, const std::uint16_t* a, i64 lda, const std::uint16_t* b, i64 ldb,
                 float* c, i64 ldc) {
  if (m == 1) {  // decode: one row of B at a time, start to end (one sequential stream)
    const DpTable& table = dp_table();
    for (i64 j = n0; j < n1; ++j)
      for (i64 kb = 0; kb < k; kb += KC)
        table.f[1][1](a + kb, lda, b + j * ldb + kb, ldb, c + j, ldc, k - kb < KC ? k - kb : KC);
    return;
  }
  for (i64 mc = 0; mc < m; mc += MC) {
    const i64 me = m - mc < MC ? m : mc + MC;
    for (i64 kb = 0; kb < k; kb += KC)
      dp_block(mc, me, n0, n1, k - kb < KC ? k - kb : KC, a + mc * lda + kb, lda, b + kb, ldb, c, ldc);
  }
}

void gemm_nt_dp(i64 m, i64 n0, i64 n1, i64 k, const float* a, i64 lda, const std::uint16_t* b, i64 ldb, float* c,
                i64 ldc) {
  thread_local std::vector<std::uint16_t> ab;  // A rounded to bf16: the rows of one M block × one K block
  if (m == 1) {  // decode: A once
    ab.resize(static_cast<std::size_t>(k));
    avx512::to_bf16_v(a, ab.data(), k);
    gemm_nt_pre(1, n0, n1, k, ab.data(), k, b, ldb, c, ldc);
    return;
  }
  ab.resize(static_cast<std::size_t>(MC * KC));
  for (i64 mc = 0; mc < m; mc += MC) {
    const i64 me = m - mc < MC ? m : mc + MC;
    for (i64 kb = 0; kb < k; kb += KC) {
      const i64 kc = k - kb < KC ? k - kb : KC;
      for (i64 i = mc; i < me; ++i) avx512::to_bf16_v(a + i * lda + kb, ab.data() + (i - mc) * kc, kc);
      dp_block(mc, me, n0, n1, kc, ab.data(), kc, b + kb, ldb, c, ldc);
    }
  }
}

void gemm_nt_any(i64 m, i64 n0, i64 n1, i64 k, const float* a, i64 lda, const void* b, WType bt, i64 ldb, float* c,
                 i64 ldc) {
  if (bt == WType::bf16) gemm_nt_dp(m, n0, n1, k, a, lda, static_cast<const std::uint16_t*>(b), ldb, c, ldc);
  else avx512::gemm_nt_any(m, n0, n1, k, a, lda, b, bt, ldb, c, ldc);
}
}  // namespace avx512bf16
#pragma GCC pop_options

bool cpu_has(const std::string& name) {
  __builtin_cpu_init();
  if (name == "avx512bf16") return cpu_has("avx512") && __builtin_cpu_supports("avx512bf16");
  if (name == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  if (name == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return name == "portable";
}

#else

bool cpu_has(const std::string& name) { return name == "portable"; }

#endif  // ECPO_X86

using i64 = std::int64_t;

struct Table {
  std::string name;
  void (*gemm_nt)(i64, i64, i64, i64, const float*, i64, const void*, WType, i64, float*, i64);
  void (*gemm_nn)(i64, i64, i64, const float*, i64, const void*, WType, i64, float*, i64);
  float (*exp_sum)(float*, i64, float);
  float (*max_of)(const float*, i64);
  void (*scale)(float*, i64, float);
  void (*silu_mul)(float*, const float*, i64);
  void (*to_bf16_n)(const float*, std::uint16_t*, i64);
  // bf16 weights × A pre-rounded to bf16: set only where bf16 products round A (avx512bf16)
  void (*gemm_nt_pre)(i64, i64, i64, i64, const std::uint16_t*, i64, const std::uint16_t*, i64, float*, i64) = nullptr;
};

#define ECPO_TABLE(ns) \
  Table { #ns, ns::gemm_nt_any, ns::gemm_nn_any, ns::exp_sum_v, ns::max_of_v, ns::scale_v, ns::silu_mul_v, ns::to_bf16_v, nullptr }

Table table_for(const std::string& name) {
#ifdef ECPO_X86
  if (name == "avx512bf16") {
    Table t = ECPO_TABLE(avx512);
    t.name = "avx512bf16";
    t.gemm_nt = avx512bf16::gemm_nt_any;
    t.gemm_nt_pre = avx512bf16::gemm_nt_pre;
    return t;
  }
  if (name == "avx512") return ECPO_TABLE(avx512);
  if (name == "avx2") return ECPO_TABLE(avx2);
#endif
  return ECPO_TABLE(portable);
}

Table best_table() {
  for (const char* n : {"avx512bf16", "avx512", "avx2"})
    if (cpu_has(n)) return table_for(n);
  return table_for("portable");
}

// The table for a level named by the user; `where` says who named it (the environment or set_level).
Table checked_table(const std::string& name, const std::string& where) {
  if (name != "avx512bf16" && name != "avx512" && name != "avx2" && name != "portable")
    throw Error("'" + name + "' is not a kernel level", where, "use avx512bf16, avx512, avx2 or portable");
  if (!cpu_has(name)) throw Error("this CPU does not support the " + name + " kernels", where, "pick a lower level");
  return table_for(name);
}

Table& active() {
  static Table t = [] {
    const char* env = std::getenv("ECPO_KERNELS");
    return env && *env ? checked_table(env, "ECPO_KERNELS") : best_table();
  }();
  return t;
}

}  // namespace

std::string level() { return active().name; }

void set_level(const std::string& name) { active() = name.empty() ? best_table() : checked_table(name, "kernels"); }

void gemm_nt(i64 m, i64 n0, i64 n1, i64 k, const float* a, i64 lda, const void* b, WType bt, i64 ldb, float* c,
             i64 ldc, const float* bias, bool accumulate) {
  if (m <= 0 || n1 <= n0) return;
  if (!accumulate)
    for (i64 i = 0; i < m; ++i)
      for (i64 j = n0; j < n1; ++j) c[i * ldc + j] = bias ? bias[j] : 0.0f;
  if (k > 0) active().gemm_nt(m, n0, n1, k, a, lda, b, bt, ldb, c, ldc);
}

bool bf16_activations() { return active().gemm_nt_pre != nullptr; }

void gemm_nt_bf16a(i64 m, i64 n0, i64 n1, i64 k, const std::uint16_t* a, i64 lda, const std::uint16_t* b, i64 ldb,
                   float* c, i64 ldc, const float* bias, bool accumulate) {
  if (!active().gemm_nt_pre)
    throw Error("gemm_nt_bf16a needs a kernel level that rounds activations to bf16", "kernels",
                "check bf16_activations() first");
  if (m <= 0 || n1 <= n0) return;
  if (!accumulate)
    for (i64 i = 0; i < m; ++i)
      for (i64 j = n0; j < n1; ++j) c[i * ldc + j] = bias ? bias[j] : 0.0f;
  if (k > 0) active().gemm_nt_pre(m, n0, n1, k, a, lda, b, ldb, c, ldc);
}

void gemm_nn(i64 m, i64 n, i64 k, const float* a, i64 lda, const void* b, WType bt, i64 ldb, float* c, i64 ldc) {
  if (m > 0 && n > 0 && k > 0) active().gemm_nn(m, n, k, a, lda, b, bt, ldb, c, ldc);
}

float exp_sum(float* x, i64 n, float shift) { return n > 0 ? active().exp_sum(x, n, shift) : 0.0f; }
float max_of(const float* x, i64 n) { return active().max_of(x, n); }
void scale(float* x, i64 n, float s) {
  if (n > 0) active().scale(x, n, s);
}
void silu_mul(float* g, const float* u, i64 n) {
  if (n > 0) active().silu_mul(g, u, n);
}

void to_bf16_n(const float* x, std::uint16_t* out, i64 n) {
  if (n > 0) active().to_bf16_n(x, out, n);
}

std::uint16_t to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

}  // namespace ecpo::model::kernels
