// llm-bench — how close the OpenAI client gets to the latency-bound ideal, and what it costs in CPU.
// For each concurrency C: C threads each make K calls (N = C·K) against the fake server, which sleeps L ms
// per reply. Ideal wall time = N·L/C; "ideal/wall" is the efficiency (goal ≥ 0.95 at C = 64).
// CPU µs/call counts only the client threads (CLOCK_THREAD_CPUTIME_ID), not the in-process server.
// Baseline, same run: a bare cpp-httplib keep-alive client posting the same body and parsing the JSON.
//   llm-bench [--calls-per-thread K=40] [--latency-ms 20,100] [--concurrency 1,8,64]
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "llm/fake-server.h"
#include "llm/openai-client.h"
#include "llm/response-cache.h"
#include "util/table.h"
#include "util/text.h"

using namespace ecpo;
using namespace ecpo::llm;

namespace {

double thread_cpu_us() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

struct Row {
  double wall_s = 0, cpu_us_per_call = 0;
  int failures = 0;
};

// Runs `call(thread, i)` K times on each of C threads; sums the threads' CPU time.
template <typename Call>
Row run(int C, int K, Call&& call) {
  std::atomic<double> cpu{0};
  std::atomic<int> failures{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> ts;
  for (int t = 0; t < C; ++t)
    ts.emplace_back([&, t] {
      ready++;
      while (!go) std::this_thread::yield();
      double c0 = thread_cpu_us();
      for (int i = 0; i < K; ++i)
        if (!call(t, i)) failures++;
      double d = thread_cpu_us() - c0;
      double cur = cpu.load();
      while (!cpu.compare_exchange_weak(cur, cur + d)) {
      }
    });
  while (ready < C) std::this_thread::yield();
  auto t0 = std::chrono::steady_clock::now();
  go = true;
  for (auto& t : ts) t.join();
  Row r;
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.cpu_us_per_call = cpu.load() / (static_cast<double>(C) * K);
  r.failures = failures;
  return r;
}

std::string fmt(double v, const char* f) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  int K = 40;
  std::vector<double> Ls = {20, 100};
  std::vector<int> Cs = {1, 8, 64};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--calls-per-thread")
      K = std::atoi(v.c_str());
    else if (a == "--latency-ms") {
      Ls.clear();
      for (auto& x : split(v, ',')) Ls.push_back(std::atof(x.c_str()));
    } else if (a == "--concurrency") {
      Cs.clear();
      for (auto& s : split(v, ',')) Cs.push_back(std::atoi(s.c_str()));
    } else {
      std::fprintf(stderr, "usage: llm-bench [--calls-per-thread K] [--latency-ms L,..] [--concurrency C,..]\n");
      return 2;
    }
  }
  const std::vector<Message> msgs = {{"system", "You are a helpful recommender."},
                                     {"user", "I liked The Hobbit and Dune; what should I read next?"}};

  Table t({"client", "C", "calls", "L ms", "wall s", "ideal s", "ideal/wall", "client CPU us/call", "CPU vs httplib",
           "failures"});
  std::uint64_t served = 0;
  int max_in_flight = 0;
  for (double L : Ls) {
    FakeServerOptions so;
    so.latency_ms = L;
    so.threads = 256;
    FakeServer srv(so);
    srv.start();
    for (int C : Cs) {
      const int N = C * K;
      const double ideal = N * L / C / 1000.0;

      // Baseline: bare cpp-httplib client per thread (keep-alive), same body, JSON parsed.
      OpenAiOptions oo;
      oo.base_urls = {srv.base_url()};
      oo.model = "fake-model";
      oo.max_concurrency = C;
      oo.timeout_ms = 30000;
      OpenAiClient client(oo);
      const std::string body = client.request_body(msgs, {});
      std::vector<std::unique_ptr<httplib::Client>> hc;
      for (int i = 0; i < C; ++i) {
        hc.push_back(std::make_unique<httplib::Client>("127.0.0.1", srv.port()));
        hc.back()->set_keep_alive(true);
        hc.back()->set_tcp_nodelay(true);
      }
      Row base = run(C, K, [&](int th, int) {
        auto res = hc[th]->Post("/v1/chat/completions", body, "application/json");
        if (!res || res->status != 200) return false;
        auto j = nlohmann::json::parse(res->body, nullptr, false);
        return !j.is_discarded() && j["choices"][0]["message"]["content"].is_string();
      });
      hc.clear();

      Row ours = run(C, K, [&](int, int) {
        try {
          return !client.chat(msgs, {}).text.empty();
        } catch (const ChatError&) {
          return false;
        }
      });

      // Cache hits: the same calls replayed from a filled SQLite cache (no HTTP).
      std::string cache_path = "/tmp/ecpo-llm-bench-" + std::to_string(::getpid()) + ".sqlite";
      auto cache = std::make_shared<ResponseCache>(cache_path);
      auto inner = std::make_shared<OpenAiClient>(oo);
      CachedChatModel cached(inner, cache);
      for (int i = 0; i < K; ++i) cached.chat({{"user", "q" + std::to_string(i)}}, {});
      Row hits = run(C, K, [&](int, int i) { return cached.chat({{"user", "q" + std::to_string(i)}}, {}).cache_hit; });
      std::remove(cache_path.c_str());
      std::remove((cache_path + "-wal").c_str());
      std::remove((cache_path + "-shm").c_str());

      auto row = [&](const char* name, const Row& r, bool latency_bound) {
        t.row({name, std::to_string(C), std::to_string(N), fmt(latency_bound ? L : 0, "%.0f"), fmt(r.wall_s, "%.3f"),
               latency_bound ? fmt(ideal, "%.3f") : "-", latency_bound ? fmt(ideal / r.wall_s, "%.3f") : "-",
               fmt(r.cpu_us_per_call, "%.1f"), fmt(r.cpu_us_per_call / base.cpu_us_per_call, "%.2f"),
               std::to_string(r.failures)});
      };
      row("httplib (baseline)", base, true);
      row("ecpo OpenAiClient", ours, true);
      row("ecpo cache hit", hits, false);
    }
    served += srv.stats().chat_requests;
    max_in_flight = std::max(max_in_flight, srv.stats().max_in_flight);
  }
  std::printf("%s", t.str().c_str());
  std::printf("fake server: %llu chat requests, max %d in flight\n", static_cast<unsigned long long>(served),
              max_in_flight);
  return 0;
}
