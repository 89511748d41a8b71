// Continuous-batching benchmark (issue #12): the same N requests (P-token prompts, R-token replies, greedy) run one at
// a time and then all at once, side by side in one process — (a) straight into the BatchScheduler with token ids,
// (b) through the local ChatModel (chat() from N threads, messages rendered with the chat template), (c) with --url,
// over HTTP against a running `ecpo serve` (N client threads, streaming; TTFT there = the first content chunk). Prints total
// tokens/s and the ratio to sequential, p50/p95 time to first token, and the batch the scheduler reached. Then a
// 5-turn conversation replayed turn by turn with prefix reuse on and off: prefill tokens computed and time per turn.
// The machines are shared: the sequential rate is measured on --seq-requests of the N (a per-request rate, stable), and
// the concurrent run is repeated --reps times (best wall kept).
// Usage: bench_model_batching --model DIR [--dtype float32] [--threads 2] [--requests 32] [--prompt 128]
//                             [--reply 64] [--turns 5] [--seq-requests 8] [--reps 2]
//                             [--url http://127.0.0.1:8090] [--skip-local] [--skip-chat]
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/batch-scheduler.h"
#include "model/llama.h"
#include "model/local-chat-model.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/table.h"

using namespace ecpo;
using clock_type = std::chrono::steady_clock;

namespace {

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const std::size_t i = static_cast<std::size_t>(pos);
  const double f = pos - static_cast<double>(i);
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

std::string fmt(double v, int prec = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

struct RunResult {
  double wall_ms = 0;
  std::int64_t prompt_tokens = 0, completion_tokens = 0;
  std::vector<double> ttft_ms;
  int max_active = 0;
};

// Runs `n` jobs one at a time (concurrent = false) or from n threads at once; job(i, &ttft_ms) returns
// (prompt tokens, completion tokens).
template <typename Job>
RunResult run_once(int n, bool concurrent, const Job& job) {
  RunResult r;
  r.ttft_ms.resize(n);
  std::vector<std::pair<std::int64_t, std::int64_t>> toks(n);
  const auto t0 = clock_type::now();
  if (!concurrent) {
    for (int i = 0; i < n; ++i) toks[i] = job(i, &r.ttft_ms[i]);
  } else {
    std::vector<std::thread> ts;
    for (int i = 0; i < n; ++i) ts.emplace_back([&, i] { toks[i] = job(i, &r.ttft_ms[i]); });
    for (auto& t : ts) t.join();
  }
  r.wall_ms = ms_since(t0);
  for (auto [p, c] : toks) {
    r.prompt_tokens += p;
    r.completion_tokens += c;
  }
  return r;
}

int g_seq_requests = 8, g_reps = 2;

// Sequential: the first g_seq_requests jobs. Concurrent: all n, best of g_reps.
template <typename Job>
RunResult run(int n, bool concurrent, const Job& job) {
  if (!concurrent) return run_once(std::min(n, g_seq_requests), false, job);
  RunResult best;
  for (int r = 0; r < g_reps; ++r) {
    RunResult x = run_once(n, true, job);
    if (r == 0 || x.wall_ms < best.wall_ms) best = std::move(x);
  }
  return best;
}

// A user message of about `tokens` tokens for this tokenizer (random words from a fixed list).
std::string message_of(const tok::Tokenizer& tk, int tokens, std::uint32_t seed) {
  static const char* words[] = {"movie", "book", "science", "fiction", "space", "detective", "novel", "story",
                                "recommend", "please", "similar", "classic", "modern", "thriller", "music", "quiet",
                                "summer", "history", "robot", "ocean", "mystery", "light", "funny", "long"};
  std::mt19937 g(seed);
  std::string s;
  while (static_cast<int>(tk.encode(s).size()) < tokens) {
    if (!s.empty()) s += ' ';
    s += words[std::uniform_int_distribution<int>(0, 23)(g)];
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string model_dir, dtype = "float32", url;
    int threads = 2, n = 32, prompt_len = 128, reply = 64, turns = 5;
    bool skip_local = false, skip_chat = false;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) throw Error("missing value for " + a);
        return argv[++i];
      };
      if (a == "--model") model_dir = next();
      else if (a == "--dtype") dtype = next();
      else if (a == "--threads") threads = std::stoi(next());
      else if (a == "--requests") n = std::stoi(next());
      else if (a == "--prompt") prompt_len = std::stoi(next());
      else if (a == "--reply") reply = std::stoi(next());
      else if (a == "--turns") turns = std::stoi(next());
      else if (a == "--url") url = next();
      else if (a == "--seq-requests") g_seq_requests = std::max(1, std::stoi(next()));
      else if (a == "--reps") g_reps = std::max(1, std::stoi(next()));
      else if (a == "--skip-local") skip_local = true;
      else if (a == "--skip-chat") skip_chat = true;
      else throw Error("unknown flag " + a, "bench_model_batching", "see the usage line in bench-batching.cpp");
    }
    if (model_dir.empty()) throw Error("--model DIR is required", "bench_model_batching");
    Table table({"path", "mode", "requests", "wall s", "prompt tok", "completion tok", "total tok/s", "completion tok/s",
                 "× sequential", "TTFT p50 ms", "TTFT p95 ms", "max batch"});
    auto add_rows = [&](const std::string& path, const RunResult& seq, const RunResult& con) {
      auto tps = [](const RunResult& r) { return (r.prompt_tokens + r.completion_tokens) / (r.wall_ms / 1000); };
      auto cps = [](const RunResult& r) { return r.completion_tokens / (r.wall_ms / 1000); };
      auto pct = [](const RunResult& r, double p) { return r.ttft_ms[0] < 0 ? std::string("-") : fmt(percentile(r.ttft_ms, p)); };
      table.row({path, "sequential", std::to_string(seq.ttft_ms.size()), fmt(seq.wall_ms / 1000, 2),
                 std::to_string(seq.prompt_tokens), std::to_string(seq.completion_tokens), fmt(tps(seq)), fmt(cps(seq)),
                 "1.00", pct(seq, 0.5), pct(seq, 0.95), "1"});
      table.row({path, "concurrent", std::to_string(con.ttft_ms.size()), fmt(con.wall_ms / 1000, 2),
                 std::to_string(con.prompt_tokens), std::to_string(con.completion_tokens), fmt(tps(con)), fmt(cps(con)),
                 fmt(tps(con) / tps(seq), 2), pct(con, 0.5), pct(con, 0.95),
                 con.max_active > 0 ? std::to_string(con.max_active) : "-"});
    };

    if (!skip_local) {
      // (a) the scheduler with token ids: distinct random prompts (no shared prefix), replies of exactly `reply`
      auto lm = model::CausalLM::load(model_dir, {dtype, threads, {}});
      const int V = static_cast<int>(lm->config().vocab_size);
      std::vector<std::vector<int>> prompts(n);
      std::mt19937 g(1);
      for (auto& p : prompts)
        for (int t = 0; t < prompt_len; ++t) p.push_back(std::uniform_int_distribution<int>(0, V - 17)(g));
      model::GenerateParams gp;
      gp.max_tokens = reply;
      gp.stop_at_eos = false;
      {
        model::BatchScheduler s(*lm, {n, 4096, 256, false});
        auto job = [&](int i, double* ttft) {
          model::RequestStats st;
          auto r = s.generate(prompts[i], gp, {}, &st);
          *ttft = st.ttft_ms;
          return std::pair<std::int64_t, std::int64_t>(prompt_len, static_cast<std::int64_t>(r.ids.size()));
        };
        double warm = 0;
        job(0, &warm);  // warm-up (page-in, allocations)
        RunResult seq = run(n, false, job);
        RunResult con = run(n, true, job);
        con.max_active = s.metrics().max_active;
        const auto m = s.metrics();
        std::fprintf(stderr, "scheduler: %lld steps, %lld decode rows, %lld prefill tokens\n",
                     static_cast<long long>(m.steps), static_cast<long long>(m.decode_tokens),
                     static_cast<long long>(m.prefill_tokens));
        add_rows("scheduler (ids)", seq, con);
      }
      lm.reset();
    }
    if (!skip_local && !skip_chat) {
      // (b) the local ChatModel: chat() with a rendered user message of ~prompt_len tokens
      model::LocalModelOptions lo;
      lo.model_dir = model_dir;
      lo.dtype = dtype;
      lo.threads = threads;
      lo.max_batch = n;
      lo.kv_cache_mb = 4096;
      lo.prefix_cache = false;
      auto chat = model::LocalChatModel::load(lo);
      auto tk = tok::load_tokenizer(model_dir);
      std::vector<std::vector<llm::Message>> convs(n);
      for (int i = 0; i < n; ++i) {
        const int overhead = static_cast<int>(chat->count_prompt_tokens({{"user", ""}}));
        convs[i] = {{"user", message_of(*tk, prompt_len - overhead, 100 + i)}};
      }
      llm::ChatParams cp;
      cp.max_tokens = reply;
      cp.temperature = 0;
      auto cjob = [&](int i, double* ttft) {  // (chat() reports no time to first token: the random model's first
        *ttft = -1;                            // tokens are often special ones, which stream no text)
        auto r = chat->chat(convs[i], cp);
        return std::pair<std::int64_t, std::int64_t>(r.usage.prompt_tokens, r.usage.completion_tokens);
      };
      double warm = 0;
      cjob(0, &warm);
      RunResult seq = run(n, false, cjob);
      RunResult con = run(n, true, cjob);
      con.max_active = chat->scheduler_metrics().max_active;
      add_rows("local ChatModel", seq, con);
    }

    if (!url.empty()) {
      // (c) HTTP: streaming chat completions against a running server; TTFT = first content chunk
      auto hjob = [&](int i, double* ttft) {
        httplib::Client cli(url);
        cli.set_read_timeout(600, 0);
        // The server's model id is its directory name (`ecpo serve` default); it refuses any other.
        nlohmann::json body = {{"model", std::filesystem::path(model_dir).lexically_normal().filename().string()},
                               {"messages", {{{"role", "user"}, {"content", "request " + std::to_string(i) +
                                                                                ": recommend a quiet science fiction "
                                                                                "novel with a detective story, please"}}}},
                               {"max_tokens", reply},
                               {"temperature", 0},
                               {"stream", true},
                               {"stream_options", {{"include_usage", true}}}};
        const auto t0 = clock_type::now();
        bool first = true;
        std::string buf;
        std::int64_t ptok = 0, ctok = 0;
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/chat/completions";
        req.body = body.dump();
        req.set_header("Content-Type", "application/json");
        req.content_receiver = [&](const char* data, std::size_t len, std::uint64_t, std::uint64_t) {
          buf.append(data, len);
          for (std::size_t nl; (nl = buf.find("\n\n")) != std::string::npos; buf.erase(0, nl + 2)) {
            const std::string ev = buf.substr(0, nl);
            if (ev.rfind("data: ", 0) != 0 || ev == "data: [DONE]") continue;
            auto j = nlohmann::json::parse(ev.substr(6), nullptr, false);
            if (j.is_discarded()) continue;
            if (j.contains("usage") && j["usage"].is_object()) {
              ptok = j["usage"].value("prompt_tokens", std::int64_t{0});
              ctok = j["usage"].value("completion_tokens", std::int64_t{0});
            }
            if (first && j.contains("choices") && !j["choices"].empty() &&
                !j["choices"][0]["delta"].value("content", std::string()).empty()) {
              *ttft = ms_since(t0);
              first = false;
            }
          }
          return true;
        };
        auto res = cli.send(req);
        if (!res || res->status != 200) throw Error("HTTP request failed", url);
        if (first) *ttft = ms_since(t0);
        return std::pair<std::int64_t, std::int64_t>(ptok, ctok);
      };
      double warm = 0;
      hjob(0, &warm);
      RunResult seq = run(n, false, hjob);
      RunResult con = run(n, true, hjob);
      add_rows("HTTP (ecpo serve)", seq, con);
    }
    table.print(std::cout);
    std::printf("%s, %s, %d threads; %d requests (sequential rate from %d of them, concurrent best of %d), prompts "
                "~%d tokens, replies ≤ %d tokens (greedy); load average %s\n",
                model_dir.c_str(), dtype.c_str(), threads, n, std::min(n, g_seq_requests), g_reps, prompt_len, reply, [] {
                  std::FILE* f = std::fopen("/proc/loadavg", "r");
                  static char b[64] = "?";
                  if (f && std::fgets(b, sizeof b, f)) b[std::strcspn(b, "\n")] = 0;
                  if (f) std::fclose(f);
                  return b;
                }());

    if (!skip_local && turns > 0) {
      // 5-turn conversation replay: the same conversation with prefix reuse on and off
      Table t2({"turn", "prompt tok", "cached tok (reuse)", "prefill tok reuse / none", "ms reuse", "ms none",
                "same reply"});
      std::unique_ptr<model::LocalChatModel> models[2];
      for (int k = 0; k < 2; ++k) {
        model::LocalModelOptions lo;
        lo.model_dir = model_dir;
        lo.dtype = dtype;
        lo.threads = threads;
        lo.prefix_cache = k == 0;
        models[k] = model::LocalChatModel::load(lo);
      }
      auto tk = tok::load_tokenizer(model_dir);
      std::vector<llm::Message> conv[2];
      for (auto& c : conv) c.push_back({"system", message_of(*tk, 200, 7)});
      llm::ChatParams cp;
      cp.max_tokens = reply;
      cp.temperature = 0;
      for (int turn = 0; turn < turns; ++turn) {
        llm::ChatResult r[2];
        double ms[2];
        for (int k = 0; k < 2; ++k) {
          conv[k].push_back({"user", message_of(*tk, 40, 1000 + turn)});
          const auto t0 = clock_type::now();
          r[k] = models[k]->chat(conv[k], cp);
          ms[k] = ms_since(t0);
          conv[k].push_back({"assistant", r[k].text});
        }
        t2.row({std::to_string(turn + 1), std::to_string(r[0].usage.prompt_tokens), std::to_string(r[0].usage.cached_tokens),
                std::to_string(r[0].usage.prompt_tokens - r[0].usage.cached_tokens) + " / " +
                    std::to_string(r[1].usage.prompt_tokens),
                fmt(ms[0]), fmt(ms[1]), r[0].text == r[1].text ? "yes" : "NO"});
      }
      std::printf("\nprefix reuse, %d-turn conversation (system ~200 tokens, user turns ~40, replies ≤ %d):\n", turns,
                  reply);
      t2.print(std::cout);
      const auto m = models[0]->scheduler_metrics();
      std::printf("with reuse: %lld prefix hits, %lld prefill tokens saved, %lld computed\n",
                  static_cast<long long>(m.prefix_hits), static_cast<long long>(m.prefill_tokens_saved),
                  static_cast<long long>(m.prefill_tokens));
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
