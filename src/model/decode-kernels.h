// Hand-written CPU kernels for the single-token decode step, on raw pointers (INTERNAL to src/model/; no torch).
// Decode reads every weight once per token, so it is bound by memory bandwidth: these kernels stream float32 or
// bfloat16 weight rows against a float32 activation vector that stays in L1, accumulate in float32, and are
// chosen once at run time for the CPU (AVX-512, AVX2+FMA, or portable C++). bf16 weights are widened exactly
// (bits << 16), so the only rounding is float32 accumulation. Threading is the caller's (split row ranges).
// ECPO_KERNELS=portable|avx2|avx512 forces a level (tests compare them; an unsupported level is refused).
#pragma once
#include <cstdint>
#include <string>

#include "util/bf16.h"

namespace ecpo::model::kernels {

enum class WType { f32, bf16 };

// The instruction-set level in use: "avx512", "avx2" or "portable".
std::string level();
// Forces a level ("avx512" | "avx2" | "portable" | "" for the best this CPU has); throws ecpo::Error when the
// CPU lacks it. Not thread-safe against concurrent kernel calls: call before using the kernels.
void set_level(const std::string& name);

// y[r] = Σ_k W[r, k]·x[k] (+ bias[r] when bias != nullptr) for r in [r0, r1). W is row-major [*, K] of type wt.
void gemv(const void* w, WType wt, const float* x, float* y, const float* bias, std::int64_t k, std::int64_t r0,
          std::int64_t r1);

// out[d] += Σ_{j<n} p[j]·V[j, d] for d < dim: V row-major [n, dim] of type wt (attention's value sum).
void accumulate_rows(const void* v, WType wt, const float* p, std::int64_t n, std::int64_t dim, float* out);

// float32 → bfloat16 bits, round to nearest even (as c10::BFloat16 and the Python reference do); NaN stays NaN.
inline std::uint16_t to_bf16(float f) { return f32_to_bf16(f); }  // util/bf16.h
inline float from_bf16(std::uint16_t b) { return bf16_to_f32(b); }

}  // namespace ecpo::model::kernels
