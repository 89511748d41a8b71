// Engine benchmark: for tiny and small random models (from `ecpo model init`) in float32 and bfloat16, measures
// prefill tokens/s (one forward over a P-token prompt) and decode tokens/s (greedy with the KV cache), the
// hardware bound for decode (measured read bandwidth ÷ weight bytes per token), peak RSS, and — when given the
// JSON written by ref_bench.py — PyTorch eager's numbers and the ratios. Prints one table.
// Usage: bench_model_engine --models DIR [--threads 2] [--prompt 128] [--decode 64] [--python FILE.json]
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
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string models, python;
    int threads = 2, prompt_len = 128, decode_len = 64;
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
      else if (a == "--python") python = next();
      else throw ecpo::Error("unknown flag " + a, "bench_model_engine", "see the usage line in bench-engine.cpp");
    }
    if (models.empty()) throw ecpo::Error("--models DIR is required (holding tiny/ and small/)", "bench_model_engine");
    nlohmann::json py;
    if (!python.empty() && fs::exists(python)) py = ecpo::read_json_file(python);

    struct Row {
      std::string name, dtype;
      double params, bytes, prefill, decode, decode_torch;
    };
    std::vector<Row> rows;
    ecpo::Table table({"model", "dtype", "params", "MB read/token", "prefill tok/s", "py prefill", "prefill ×py",
                       "decode tok/s", "torch-ops decode", "py decode", "decode ×py", "bound tok/s", "decode/bound"});
    for (const std::string name : {"tiny", "small"}) {
      const fs::path dir = fs::path(models) / name;
      if (!fs::exists(dir / "config.json")) {
        std::fprintf(stderr, "skipping %s: %s missing\n", name.c_str(), dir.c_str());
        continue;
      }
      for (const std::string dtype : {"float32", "bfloat16"}) {
        auto lm = ecpo::model::CausalLM::load(dir, {dtype, threads, {}});
        const int V = static_cast<int>(lm->config().vocab_size);
        std::vector<int> prompt(prompt_len);
        for (int i = 0; i < prompt_len; ++i) prompt[i] = (i * 7919 + 13) % (V - 16);
        // prefill: best of 5 full forwards (after a warm-up)
        lm->logits_last(prompt);
        double best_prefill = 1e30;
        for (int r = 0; r < 5; ++r) {
          auto t0 = clock_type::now();
          lm->logits_last(prompt);
          best_prefill = std::min(best_prefill, seconds_since(t0));
        }
        // decode: greedy with the KV cache from a 16-token prompt; decode_ms covers all steps after the first
        ecpo::model::GenerateParams gp;
        gp.max_tokens = decode_len;
        gp.stop_at_eos = false;
        std::vector<int> short_prompt(prompt.begin(), prompt.begin() + std::min(16, prompt_len));
        // decode twice: on the hand-written kernels (default), and through torch ops (set_fast_decode(false))
        auto best_decode_tps = [&] {
          lm->generate(short_prompt, gp);  // warm-up
          double best = 0;
          for (int r = 0; r < 3; ++r) {
            auto res = lm->generate(short_prompt, gp);
            best = std::max(best, (res.ids.size() - 1) / (res.decode_ms / 1000.0));
          }
          return best;
        };
        const double best_decode = best_decode_tps();
        lm->set_fast_decode(false);
        const double torch_decode = best_decode_tps();
        lm->set_fast_decode(true);
        rows.push_back({name, dtype, static_cast<double>(lm->config().num_parameters()),
                        static_cast<double>(lm->decode_bytes()), prompt_len / best_prefill, best_decode, torch_decode});
      }
    }
    const double rss_mb = peak_rss_mb();  // before the 1 GiB bandwidth buffer
    const double bw = read_bandwidth_gbs(threads);
    std::printf("read bandwidth (%d threads, 1 GiB sum): %.1f GB/s\n", threads, bw);
    for (const Row& row : rows) {
      {
        const std::string &name = row.name, &dtype = row.dtype;
        const double prefill_tps = row.prefill, best_decode = row.decode;
        const double mb = row.bytes / 1e6;
        const double bound = bw * 1e9 / row.bytes;
        std::string pyp = "-", pyd = "-", rp = "-", rd = "-";
        if (py.contains(name) && py[name].contains(dtype)) {
          double a = py[name][dtype]["prefill_tps"], b = py[name][dtype]["decode_tps"];
          pyp = fmt(a);
          pyd = fmt(b);
          rp = fmt(prefill_tps / a, 2);
          rd = fmt(best_decode / b, 2);
        }
        table.row({name, dtype, fmt(row.params / 1e6, 2) + "M", fmt(mb), fmt(prefill_tps), pyp, rp,
                   fmt(best_decode), fmt(row.decode_torch), pyd, rd, fmt(bound), fmt(best_decode / bound, 2)});
      }
    }
    table.print(std::cout);
    std::printf("prompt %d tokens (prefill), %d greedy tokens (decode, KV cache), %d threads; peak RSS %.0f MB\n",
                prompt_len, decode_len, threads, rss_mb);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
