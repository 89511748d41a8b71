// Decode kernels (see decode-kernels.h): one portable C++ version of each, plus AVX2+FMA and AVX-512 versions
// compiled with per-function target attributes (the rest of the build keeps the baseline ISA) and picked once
// with __builtin_cpu_supports. A matrix-vector product walks W row after row (one sequential stream, which the
// hardware prefetcher follows best: measured 1.1–1.7× over four interleaved rows) with four accumulators; the
// tail of K uses masked loads (AVX-512) or a scalar loop (AVX2).
#include "model/decode-kernels.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
// GCC 12's own _mm512_reduce_add_ps / _mm512_setzero_ps trip -Wmaybe-uninitialized on __Y inside the intrinsic
// headers (a known false positive); silence it for this file only.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define ECPO_X86 1
#endif

#include "util/error.h"

namespace ecpo::model::kernels {
namespace {

using i64 = std::int64_t;

// ---- portable ------------------------------------------------------------------------------------------------

template <typename Load>
void gemv_portable_t(const Load& load, const float* x, float* y, const float* bias, i64 k, i64 r0, i64 r1) {
  for (i64 r = r0; r < r1; ++r) {
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    i64 j = 0;
    for (; j + 8 <= k; j += 8)
      for (int u = 0; u < 8; ++u) acc[u] += load(r * k + j + u) * x[j + u];
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; j < k; ++j) s += load(r * k + j) * x[j];
    y[r] = s + (bias ? bias[r] : 0.0f);
  }
}

void gemv_portable(const void* w, WType wt, const float* x, float* y, const float* bias, i64 k, i64 r0, i64 r1) {
  if (wt == WType::f32) {
    const float* W = static_cast<const float*>(w);
    gemv_portable_t([W](i64 i) { return W[i]; }, x, y, bias, k, r0, r1);
  } else {
    const std::uint16_t* W = static_cast<const std::uint16_t*>(w);
    gemv_portable_t([W](i64 i) { return from_bf16(W[i]); }, x, y, bias, k, r0, r1);
  }
}

void accumulate_portable(const void* v, WType wt, const float* p, i64 n, i64 dim, float* out) {
  for (i64 j = 0; j < n; ++j) {
    const float pj = p[j];
    if (wt == WType::f32) {
      const float* V = static_cast<const float*>(v) + j * dim;
      for (i64 d = 0; d < dim; ++d) out[d] += pj * V[d];
    } else {
      const std::uint16_t* V = static_cast<const std::uint16_t*>(v) + j * dim;
      for (i64 d = 0; d < dim; ++d) out[d] += pj * from_bf16(V[d]);
    }
  }
}

#ifdef ECPO_X86

// ---- AVX2 + FMA ----------------------------------------------------------------------------------------------

#define ECPO_AVX2 __attribute__((target("avx2,fma")))

ECPO_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
ECPO_AVX2 inline __m256 load8(const std::uint16_t* p) {
  __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
inline float scalar(const float* p) { return *p; }
inline float scalar(const std::uint16_t* p) { return from_bf16(*p); }

ECPO_AVX2 inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

template <typename T>
ECPO_AVX2 void gemv_avx2_t(const T* W, const float* x, float* y, const float* bias, i64 k, i64 r0, i64 r1) {
  for (i64 r = r0; r < r1; ++r) {
    const T* w = W + r * k;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    i64 j = 0;
    for (; j + 32 <= k; j += 32) {
      a0 = _mm256_fmadd_ps(load8(w + j), _mm256_loadu_ps(x + j), a0);
      a1 = _mm256_fmadd_ps(load8(w + j + 8), _mm256_loadu_ps(x + j + 8), a1);
      a2 = _mm256_fmadd_ps(load8(w + j + 16), _mm256_loadu_ps(x + j + 16), a2);
      a3 = _mm256_fmadd_ps(load8(w + j + 24), _mm256_loadu_ps(x + j + 24), a3);
    }
    for (; j + 8 <= k; j += 8) a0 = _mm256_fmadd_ps(load8(w + j), _mm256_loadu_ps(x + j), a0);
    float sum = hsum8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; j < k; ++j) sum += scalar(w + j) * x[j];
    y[r] = sum + (bias ? bias[r] : 0.0f);
  }
}

template <typename T>
ECPO_AVX2 void accumulate_avx2_t(const T* V, const float* p, i64 n, i64 dim, float* out) {
  const i64 d8 = dim & ~i64(7);
  for (i64 j = 0; j < n; ++j) {
    const T* row = V + j * dim;
    const __m256 pj = _mm256_set1_ps(p[j]);
    for (i64 d = 0; d < d8; d += 8)
      _mm256_storeu_ps(out + d, _mm256_fmadd_ps(pj, load8(row + d), _mm256_loadu_ps(out + d)));
    for (i64 d = d8; d < dim; ++d) out[d] += p[j] * scalar(row + d);
  }
}

void gemv_avx2(const void* w, WType wt, const float* x, float* y, const float* bias, i64 k, i64 r0, i64 r1) {
  if (wt == WType::f32) gemv_avx2_t(static_cast<const float*>(w), x, y, bias, k, r0, r1);
  else gemv_avx2_t(static_cast<const std::uint16_t*>(w), x, y, bias, k, r0, r1);
}
void accumulate_avx2(const void* v, WType wt, const float* p, i64 n, i64 dim, float* out) {
  if (wt == WType::f32) accumulate_avx2_t(static_cast<const float*>(v), p, n, dim, out);
  else accumulate_avx2_t(static_cast<const std::uint16_t*>(v), p, n, dim, out);
}

// ---- AVX-512 -------------------------------------------------------------------------------------------------

#define ECPO_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma")))

ECPO_AVX512 inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
ECPO_AVX512 inline __m512 load16(const std::uint16_t* p) {
  __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}
ECPO_AVX512 inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
ECPO_AVX512 inline __m512 load16(const std::uint16_t* p, __mmask16 m) {
  __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

template <typename T>
ECPO_AVX512 void gemv_avx512_t(const T* W, const float* x, float* y, const float* bias, i64 k, i64 r0, i64 r1) {
  for (i64 r = r0; r < r1; ++r) {
    const T* w = W + r * k;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    i64 j = 0;
    for (; j + 64 <= k; j += 64) {
      if constexpr (sizeof(T) == 2) {  // bf16: measured +10% with two lines prefetched 256 bytes ahead
        _mm_prefetch(reinterpret_cast<const char*>(w + j) + 256, _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(w + j) + 320, _MM_HINT_T0);
      }
      a0 = _mm512_fmadd_ps(load16(w + j), _mm512_loadu_ps(x + j), a0);
      a1 = _mm512_fmadd_ps(load16(w + j + 16), _mm512_loadu_ps(x + j + 16), a1);
      a2 = _mm512_fmadd_ps(load16(w + j + 32), _mm512_loadu_ps(x + j + 32), a2);
      a3 = _mm512_fmadd_ps(load16(w + j + 48), _mm512_loadu_ps(x + j + 48), a3);
    }
    for (; j + 16 <= k; j += 16) a0 = _mm512_fmadd_ps(load16(w + j), _mm512_loadu_ps(x + j), a0);
    if (j < k) {
      const __mmask16 m = static_cast<__mmask16>((1u << (k - j)) - 1u);
      a1 = _mm512_fmadd_ps(load16(w + j, m), _mm512_maskz_loadu_ps(m, x + j), a1);
    }
    y[r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3))) + (bias ? bias[r] : 0.0f);
  }
}

template <typename T>
ECPO_AVX512 void accumulate_avx512_t(const T* V, const float* p, i64 n, i64 dim, float* out) {
  const i64 d16 = dim & ~i64(15);
  const __mmask16 tail = static_cast<__mmask16>((1u << (dim - d16)) - 1u);
  for (i64 j = 0; j < n; ++j) {
    const T* row = V + j * dim;
    const __m512 pj = _mm512_set1_ps(p[j]);
    for (i64 d = 0; d < d16; d += 16)
      _mm512_storeu_ps(out + d, _mm512_fmadd_ps(pj, load16(row + d), _mm512_loadu_ps(out + d)));
    if (tail)
      _mm512_mask_storeu_ps(out + d16, tail,
                            _mm512_fmadd_ps(pj, load16(row + d16, tail), _mm512_maskz_loadu_ps(tail, out + d16)));
  }
}

void gemv_avx512(const void* w, WType wt, const float* x, float* y, const float* bias, i64 k, i64 r0, i64 r1) {
  if (wt == WType::f32) gemv_avx512_t(static_cast<const float*>(w), x, y, bias, k, r0, r1);
  else gemv_avx512_t(static_cast<const std::uint16_t*>(w), x, y, bias, k, r0, r1);
}
void accumulate_avx512(const void* v, WType wt, const float* p, i64 n, i64 dim, float* out) {
  if (wt == WType::f32) accumulate_avx512_t(static_cast<const float*>(v), p, n, dim, out);
  else accumulate_avx512_t(static_cast<const std::uint16_t*>(v), p, n, dim, out);
}

bool cpu_has(const std::string& name) {
  __builtin_cpu_init();
  if (name == "avx512")
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
  if (name == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return name == "portable";
}

#else

bool cpu_has(const std::string& name) { return name == "portable"; }

#endif  // ECPO_X86

using GemvFn = void (*)(const void*, WType, const float*, float*, const float*, i64, i64, i64);
using AccFn = void (*)(const void*, WType, const float*, i64, i64, float*);

struct Table {
  std::string name;
  GemvFn gemv;
  AccFn acc;
};

Table table_for(const std::string& name) {
#ifdef ECPO_X86
  if (name == "avx512") return {name, gemv_avx512, accumulate_avx512};
  if (name == "avx2") return {name, gemv_avx2, accumulate_avx2};
#endif
  return {"portable", gemv_portable, accumulate_portable};
}

Table best_table() {
  for (const char* n : {"avx512", "avx2"})
    if (cpu_has(n)) return table_for(n);
  return table_for("portable");
}

// The table for a level named by the user; `where` says who named it (the environment or set_level).
Table checked_table(const std::string& name, const std::string& where) {
  if (name != "avx512" && name != "avx2" && name != "portable")
    throw Error("'" + name + "' is not a kernel level", where, "use avx512, avx2 or portable");
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

void gemv(const void* w, WType wt, const float* x, float* y, const float* bias, i64 k, i64 r0, i64 r1) {
  if (r1 > r0 && k > 0) active().gemv(w, wt, x, y, bias, k, r0, r1);
  else
    for (i64 r = r0; r < r1; ++r) y[r] = bias ? bias[r] : 0.0f;
}

void accumulate_rows(const void* v, WType wt, const float* p, i64 n, i64 dim, float* out) {
  if (n > 0 && dim > 0) active().acc(v, wt, p, n, dim, out);
}

}  // namespace ecpo::model::kernels
