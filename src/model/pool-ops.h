// Matrix products and row loops on a WorkPool (INTERNAL to src/model/), shared by the decoder (llama-forward.cpp)
// and the BERT encoder: `linear` runs several products that share their input as one pool job, cut into chunks of
// weight rows; `for_rows` spreads a per-row loop when there is enough work to pay for waking the workers.
#pragma once
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "model/kernels.h"
#include "model/work-pool.h"

namespace ecpo::model {

// One matrix product of a `linear` call: out[i][0, n) (row stride ldc) = x[i] · w[0, n)ᵀ (+ bias), or += when
// accumulate (a residual added in place).
struct Gemm {
  const void* w;
  std::int64_t n;
  float* out;
  std::int64_t ldc;
  const float* bias;
  bool accumulate;
};

// Several products sharing x [m, k] as one pool job: each matrix's rows are cut into chunks — about 64 KiB of
// weights when m == 1 (decode streams them), else 6 to 48 rows (whole register blocks of every level), small
// enough for ~16 chunks per thread, so threads finish a job together (chunks are claimed, not pre-assigned).
inline void linear(WorkPool& pool, kernels::WType wt, std::int64_t m, std::int64_t k, const float* x,
                   std::initializer_list<Gemm> gemms) {
  struct Chunk {
    const Gemm* g;
    std::int64_t n0, n1;
  };
  const std::int64_t es = wt == kernels::WType::f32 ? 4 : 2;
  std::int64_t total = 0;
  for (const Gemm& g : gemms) total += g.n;
  const std::int64_t rows =
      m == 1 ? std::max<std::int64_t>(8, (64 * 1024) / std::max<std::int64_t>(1, k * es))
             : std::clamp<std::int64_t>(total / (16 * pool.threads()) / 6 * 6, 6, 48);
  std::vector<Chunk> chunks;
  for (const Gemm& g : gemms)
    for (std::int64_t n0 = 0; n0 < g.n; n0 += rows) chunks.push_back({&g, n0, std::min(g.n, n0 + rows)});
  // Where bf16 products round the activations (avx512bf16), x is rounded once here rather than in every chunk
  // (a chunk of 24 columns spent ~1/4 of its time re-rounding x); the sums are bit-identical.
  thread_local std::vector<std::uint16_t> xb;
  const bool pre = wt == kernels::WType::bf16 && m > 1 && kernels::bf16_activations();
  if (pre) {
    xb.resize(static_cast<std::size_t>(m * k));
    kernels::to_bf16_n(x, xb.data(), m * k);
  }
  const std::uint16_t* xr = xb.data();  // (a thread_local is not captured: the workers must see this thread's copy)
  pool.run(static_cast<std::int64_t>(chunks.size()), 1, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t c = b; c < e; ++c) {
      const Chunk& ch = chunks[c];
      if (pre)
        kernels::gemm_nt_bf16a(m, ch.n0, ch.n1, k, xr, k, static_cast<const std::uint16_t*>(ch.g->w), k,
                               ch.g->out, ch.g->ldc, ch.g->bias, ch.g->accumulate);
      else
        kernels::gemm_nt(m, ch.n0, ch.n1, k, x, k, ch.g->w, wt, k, ch.g->out, ch.g->ldc, ch.g->bias,
                         ch.g->accumulate);
    }
  });
}

// fn(i) for rows i < m, on the pool when there is enough work (`cost` ≈ float ops per row).
template <typename F>
void for_rows(WorkPool& pool, std::int64_t m, std::int64_t cost, const F& fn) {
  if (m * cost < 64 * 1024 || pool.threads() == 1) {
    for (std::int64_t i = 0; i < m; ++i) fn(i);
    return;
  }
  const std::int64_t chunk = std::max<std::int64_t>(1, m / (4 * pool.threads()));
  pool.run(m, chunk, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) fn(i);
  });
}

}  // namespace ecpo::model
