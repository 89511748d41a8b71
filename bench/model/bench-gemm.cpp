// Matrix-product benchmark for the engine's choice of kernels (issue #12: "kernels or torch ops, whichever measures
// faster at that batch size"): y = x·Wᵀ for the ~100M model's shapes (W [2560, 768], [768, 2560], [8192, 768]) at
// M = 1 … 2000 rows, f32 and bf16 weights, one engine thread, best of N by process CPU time (the build machines are
// shared; CPU time is what the product costs). Columns: the engine's kernels (kernels::gemm_nt, level as chosen for
// this CPU or by ECPO_KERNELS) and torch::matmul (OpenBLAS sgemm for f32; oneDNN for bf16 — DNNL_MAX_CPU_ISA=AVX2
// in the environment reproduces a CPU without AVX-512), as GFLOP/s and the ratio.
// Usage: bench_model_gemm [--reps 5]
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "model/kernels.h"
#include "util/table.h"

namespace {

double process_cpu_s() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);  // all threads: OpenBLAS may use its own
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

std::string fmt(double v, int prec = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--reps") reps = std::max(1, std::stoi(argv[++i]));
  at::set_num_threads(1);
  namespace K = ecpo::model::kernels;
  ecpo::Table table({"N×K", "M", "kernels f32", "torch f32", "×", "kernels bf16", "torch bf16", "×"});
  std::mt19937 g(1);
  std::normal_distribution<float> d;
  struct Shape {
    int n, k;
  };
  for (const Shape s : {Shape{2560, 768}, Shape{768, 2560}, Shape{8192, 768}}) {
    std::vector<float> w(static_cast<std::size_t>(s.n) * s.k);
    for (auto& x : w) x = d(g);
    std::vector<std::uint16_t> wb(w.size());
    K::to_bf16_n(w.data(), wb.data(), static_cast<std::int64_t>(w.size()));
    torch::Tensor tw = torch::from_blob(w.data(), {s.n, s.k}, torch::kFloat);
    torch::Tensor twb = tw.to(torch::kBFloat16);
    for (int m : {1, 4, 16, 32, 64, 128, 512, 2000}) {
      std::vector<float> x(static_cast<std::size_t>(m) * s.k), y(static_cast<std::size_t>(m) * s.n);
      for (auto& v : x) v = d(g);
      torch::Tensor tx = torch::from_blob(x.data(), {m, s.k}, torch::kFloat);
      torch::Tensor txb = tx.to(torch::kBFloat16);
      double best[4] = {1e30, 1e30, 1e30, 1e30};
      const int r = m >= 512 ? std::max(2, reps / 2) : reps;
      for (int rep = -1; rep < r; ++rep) {  // (rep -1: warm-up)
        double t[4];
        double t0 = process_cpu_s();
        K::gemm_nt(m, 0, s.n, s.k, x.data(), s.k, w.data(), K::WType::f32, s.k, y.data(), s.n, nullptr, false);
        t[0] = process_cpu_s() - t0;
        t0 = process_cpu_s();
        torch::Tensor a = torch::matmul(tx, tw.t());
        t[1] = process_cpu_s() - t0;
        t0 = process_cpu_s();
        K::gemm_nt(m, 0, s.n, s.k, x.data(), s.k, wb.data(), K::WType::bf16, s.k, y.data(), s.n, nullptr, false);
        t[2] = process_cpu_s() - t0;
        t0 = process_cpu_s();
        torch::Tensor b = torch::matmul(txb, twb.t());
        t[3] = process_cpu_s() - t0;
        if (rep >= 0)
          for (int i = 0; i < 4; ++i) best[i] = std::min(best[i], t[i]);
      }
      const double flop = 2.0 * m * s.n * s.k;
      auto gf = [&](int i) { return flop / best[i] / 1e9; };
      table.row({std::to_string(s.n) + "×" + std::to_string(s.k), std::to_string(m), fmt(gf(0)), fmt(gf(1)),
                 fmt(gf(0) / gf(1), 2), fmt(gf(2)), fmt(gf(3)), fmt(gf(2) / gf(3), 2)});
    }
  }
  table.print(std::cout);
  std::printf("GFLOP/s by process CPU time (all threads), torch set to 1 thread, best of %d; kernels level %s\n", reps, K::level().c_str());
  return 0;
}
