// Hand-written CPU kernels of the decoder forward, on raw pointers (INTERNAL to src/model/; no torch): matrix
// products with float32 activations against float32 or bfloat16 weights (bf16 widened exactly, bits << 16, so the
// only rounding is float32 accumulation), and the vector ops around them (exp, softmax pieces, SiLU·up).
// Chosen once at run time for the CPU (AVX-512 with BF16 dot products, AVX-512, AVX2+FMA, or portable C++);
// ECPO_KERNELS=portable|avx2|avx512|avx512bf16 forces a level (tests compare them; an unsupported level is refused).
// On avx512bf16, products with bf16 weights also round the activations to bf16 (vdpbf16ps: twice the throughput);
// every other level and dtype keeps float32 activations. Threading is the caller's (row ranges).
//
// Determinism contract, relied on by batching: every output element of gemm_nt is computed by the same sequence
// of float operations whatever M, the row's place in the batch, or the column range — so a sequence's logits do
// not depend on which other sequences share its matrix products. (It holds within one level, not across levels.)
#pragma once
#include <cstdint>
#include <string>

namespace ecpo::model::kernels {

enum class WType { f32, bf16 };

// The instruction-set level in use: "avx512bf16", "avx512", "avx2" or "portable".
std::string level();
// Forces a level ("avx512bf16" | "avx512" | "avx2" | "portable" | "" for the best this CPU has); throws when the
// CPU lacks it. Not thread-safe against concurrent kernel calls: call before using the kernels.
void set_level(const std::string& name);

// C[i][j] = init + Σ_k A[i][k]·B[j][k] for i < m, j in [n0, n1): A float32 [m, k] (row stride lda), B of type bt
// with rows of length k (row stride ldb, "weights" [N, K]), C float32 (row stride ldc). init = C[i][j] when
// accumulate, else bias[j] (or 0 when bias == nullptr). K is summed in blocks of 512: per block one float32
// vector accumulator, reduced by a fixed tree, added to C; the tail of K that does not fill a vector is added
// one product at a time. m == 1 is the decode case (matrix-vector, bound by reading B). (avx512bf16 with bf16 B:
// A rounded to bf16 first, see above.)
void gemm_nt(std::int64_t m, std::int64_t n0, std::int64_t n1, std::int64_t k, const float* a, std::int64_t lda,
             const void* b, WType bt, std::int64_t ldb, float* c, std::int64_t ldc, const float* bias, bool accumulate);

// Whether products with bf16 weights round the activations to bf16 at the active level (avx512bf16).
bool bf16_activations();
// gemm_nt with bf16 weights B and A already rounded to bf16 (to_bf16_n of the float32 rows, row stride lda):
// bit-identical to gemm_nt(bt = bf16) on the float32 A, so a caller that cuts one product into many column chunks
// rounds A once instead of once per chunk. Only where bf16_activations() (throws ecpo::Error elsewhere).
void gemm_nt_bf16a(std::int64_t m, std::int64_t n0, std::int64_t n1, std::int64_t k, const std::uint16_t* a,
                   std::int64_t lda, const std::uint16_t* b, std::int64_t ldb, float* c, std::int64_t ldc,
                   const float* bias, bool accumulate);

// C[i][j] += Σ_{p<k} A[i][p]·B[p][j] for i < m, j < n: B of type bt, row stride ldb (attention's P·V, V rows
// [S, D]). Each C element is one chain of multiply-adds in p order, whatever m.
void gemm_nn(std::int64_t m, std::int64_t n, std::int64_t k, const float* a, std::int64_t lda, const void* b, WType bt,
             std::int64_t ldb, float* c, std::int64_t ldc);

// x[i] = exp(x[i] - shift) for i < n; returns Σ x[i] (after). |error| of exp ≤ 2 ulp on the vector levels.
float exp_sum(float* x, std::int64_t n, float shift);
// max_i x[i] (n ≥ 1).
float max_of(const float* x, std::int64_t n);
// x[i] *= s.
void scale(float* x, std::int64_t n, float s);
// g[i] = silu(g[i]) · u[i] = g[i] / (1 + exp(-g[i])) · u[i].
void silu_mul(float* g, const float* u, std::int64_t n);

// float32 → bfloat16 bits, round to nearest even (as c10::BFloat16 and the Python reference do); NaN stays NaN.
std::uint16_t to_bf16(float f);
// out[i] = to_bf16(x[i]) for i < n (vectorised; bit-identical to the scalar function).
void to_bf16_n(const float* x, std::uint16_t* out, std::int64_t n);
inline float from_bf16(std::uint16_t b) {
  union {
    std::uint32_t u;
    float f;
  } v{static_cast<std::uint32_t>(b) << 16};
  return v.f;
}

}  // namespace ecpo::model::kernels
