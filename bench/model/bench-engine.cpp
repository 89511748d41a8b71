// Engine benchmark: for the tiny and small random models (from `ecpo model init`) in float32 and bfloat16 it measures,
// side by side in one process and interleaved rep by rep (the build machines are shared: best-of-N of each, ratios
// from the same moments):
//   - prefill tok/s of a P-token prompt on the kernels at `threads` and at 1 thread (the thread scaling), and through
//     the torch reference ops (the path prefill took before the kernels; DNNL_MAX_CPU_ISA=AVX2 in the environment
//     makes torch behave as on a CPU without AVX-512 — its bf16 matrix products then take oneDNN's slow path);
//   - decode tok/s (greedy, KV cache) on the kernels and through torch ops, against the memory-bandwidth bound;
//   - prefill of a long prompt (--long L, default 2000 tokens; 0 = skip) on the kernels;
//   - and, with --python FILE.json from ref_bench.py, PyTorch eager's numbers.
// Prints one table. The kernel level is the best of this CPU unless ECPO_KERNELS forces one.
// Usage: bench_model_engine --models DIR [--threads 2] [--prompt 128] [--decode 64] [--long 2000] [--reps 5]
//                           [--python FILE.json] [--only small]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/kernels.h"
#include "model/llama.h"
#include "util/error.h"
#include "util/jsonl.h"
#include "util/table.h"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Read bandwidth: `threads` threads summing disjoint slices of a 1 GiB buffer (≫ any cache); best of 5.
double read_bandwidth_gbs(int threads) {
  const std::size_t n = (std::size_t(1) << 30) / sizeof(std::uint64_t);
  std::vector<std::uint64_t> buf(n);
  for (std::size_t i = 0; i < n; ++i) buf[i] = i;  // touch every page
  double best = 0;
  std::vector<std::uint64_t> sums(threads);
  for (int rep = 0; rep < 5; ++rep) {
    auto t0 = clock_type::now();
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t)
      ts.emplace_back([&, t] {
        const std::size_t b = n * t / threads, e = n * (t + 1) / threads;
        std::uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (std::size_t i = b; i + 3 < e; i += 4) {
          s0 += buf[i];
          s1 += buf[i + 1];
          s2 += buf[i + 2];
          s3 += buf[i + 3];
        }
        sums[t] = s0 + s1 + s2 + s3;
      });
    for (auto& t : ts) t.join();
    best = std::max(best, n * sizeof(std::uint64_t) / seconds_since(t0) / 1e9);
  }
  if (std::accumulate(sums.begin(), sums.end(), std::uint64_t(0)) == 42) std::puts("");  // keep the sums alive
  return best;
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

std::string fmt(double v, int prec = 1) {
  if (!(v > 0)) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

std::vector<int> bench_prompt(int n, int vocab) {
  std::vector<int> p(n);
  for (int i = 0; i < n; ++i) p[i] = (i * 7919 + 13) % (vocab - 16);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string models, python, only;
    int threads = 2, prompt_len = 128, decode_len = 64, long_len = 2000, reps = 5;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw ecpo::Error("missing value for " + a);
        return argv[++i];
      };
      if (a == "--models") models = next();
      else if (a == "--threads") threads = std::stoi(next());
      else if (a == "--prompt") prompt_len = std::stoi(next());
      else if (a == "--decode") decode_len = std::stoi(next());
      else if (a == "--long") long_len = std::stoi(next());
      else if (a == "--reps") reps = std::max(1, std::stoi(next()));
      else if (a == "--python") python = next();
      else if (a == "--only") only = next();
      else throw ecpo::Error("unknown flag " + a, "bench_model_engine", "see the usage line in bench-engine.cpp");
    }
    if (models.empty()) throw ecpo::Error("--models DIR is required (holding tiny/ and small/)", "bench_model_engine");
    nlohmann::json py;
    if (!python.empty() && fs::exists(python)) py = ecpo::read_json_file(python);

    struct Row {
      std::string name, dtype;
      double params, bytes;
      double prefill, prefill_1t, prefill_torch, decode, decode_torch, long_s;
      int long_tokens;
    };
    std::vector<Row> rows;
    for (const std::string name : {"tiny", "small"}) {
      if (!only.empty() && only != name) continue;
      const fs::path dir = fs::path(models) / name;
      if (!fs::exists(dir / "config.json")) {
        std::fprintf(stderr, "skipping %s: %s missing\n", name.c_str(), dir.c_str());
        continue;
      }
      for (const std::string dtype : {"float32", "bfloat16"}) {
        auto lm = ecpo::model::CausalLM::load(dir, {dtype, threads, {}});
        auto lm1 = ecpo::model::CausalLM::load(dir, {dtype, 1, {}});
        auto ref = ecpo::model::CausalLM::load(dir, {dtype, threads, {}});
        ref->set_fast_decode(false);
        const int V = static_cast<int>(lm->config().vocab_size);
        const std::vector<int> prompt = bench_prompt(prompt_len, V);
        // prefill: best of `reps` forwards each, the three engines interleaved (after one warm-up each)
        auto time_prefill = [&](ecpo::model::CausalLM& m) {
          auto t0 = clock_type::now();
          m.logits_last(prompt);
          return seconds_since(t0);
        };
        double best[3] = {1e30, 1e30, 1e30};
        for (int r = -1; r < reps; ++r) {
          const double a = time_prefill(*lm), b = time_prefill(*lm1), c = time_prefill(*ref);
          if (r < 0) continue;
          best[0] = std::min(best[0], a);
          best[1] = std::min(best[1], b);
          best[2] = std::min(best[2], c);
        }
        // decode: greedy with the KV cache from a 16-token prompt; decode_ms covers all steps after the first
        ecpo::model::GenerateParams gp;
        gp.max_tokens = decode_len;
        gp.stop_at_eos = false;
        const std::vector<int> short_prompt(prompt.begin(), prompt.begin() + std::min(16, prompt_len));
        double best_decode = 0, best_torch = 0;
        for (int r = -1; r < std::max(2, reps / 2); ++r) {
          auto a = lm->generate(short_prompt, gp), b = ref->generate(short_prompt, gp);
          if (r < 0) continue;
          best_decode = std::max(best_decode, (a.ids.size() - 1) / (a.decode_ms / 1000.0));
          best_torch = std::max(best_torch, (b.ids.size() - 1) / (b.decode_ms / 1000.0));
        }
        // long prompt on the kernels (within the context), best of 2
        double long_s = 0;
        const int L = static_cast<int>(std::min<std::int64_t>(long_len, lm->config().max_position_embeddings));
        if (name == "small" && L > 0) {
          const std::vector<int> lp = bench_prompt(L, V);
          long_s = 1e30;
          for (int r = 0; r < 2; ++r) {
            auto t0 = clock_type::now();
            lm->logits_last(lp);
            long_s = std::min(long_s, seconds_since(t0));
          }
        }
        rows.push_back({name, dtype, static_cast<double>(lm->config().num_parameters()),
                        static_cast<double>(lm->decode_bytes()), prompt_len / best[0], prompt_len / best[1],
                        prompt_len / best[2], best_decode, best_torch, long_s, L});
        std::fprintf(stderr, "%s %s done\n", name.c_str(), dtype.c_str());
      }
    }
    const double rss_mb = peak_rss_mb();  // before the 1 GiB bandwidth buffer
    const double bw = read_bandwidth_gbs(threads);
    std::printf("kernels: %s; read bandwidth (%d threads, 1 GiB sum): %.1f GB/s\n", ecpo::model::kernels::level().c_str(),
                threads, bw);
    ecpo::Table table({"model", "dtype", "params", "prefill tok/s", "1-thread", "scaling", "torch-ops prefill",
                       "×torch", "py prefill", "decode tok/s", "torch-ops decode", "py decode", "bound tok/s",
                       "decode/bound", "long prefill"});
    for (const Row& row : rows) {
      std::string pyp = "-", pyd = "-";
      if (py.contains(row.name) && py[row.name].contains(row.dtype)) {
        pyp = fmt(py[row.name][row.dtype]["prefill_tps"].get<double>());
        pyd = fmt(py[row.name][row.dtype]["decode_tps"].get<double>());
      }
      const double bound = bw * 1e9 / row.bytes;
      std::string long_cell = "-";
      if (row.long_s > 0)
        long_cell = fmt(row.long_s, 2) + " s (" + fmt(row.long_tokens / row.long_s, 0) + " tok/s)";
      table.row({row.name, row.dtype, fmt(row.params / 1e6, 2) + "M", fmt(row.prefill), fmt(row.prefill_1t),
                 fmt(row.prefill / row.prefill_1t, 2) + "×", fmt(row.prefill_torch),
                 fmt(row.prefill / row.prefill_torch, 2) + "×", pyp, fmt(row.decode), fmt(row.decode_torch), pyd,
                 fmt(bound), fmt(row.decode / bound, 2), long_cell});
    }
    table.print(std::cout);
    std::printf("prompt %d tokens (prefill, best of %d), %d greedy tokens (decode, KV cache), long prompt %d tokens, "
                "%d threads; peak RSS %.0f MB\n",
                prompt_len, reps, decode_len, long_len, threads, rss_mb);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
