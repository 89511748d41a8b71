// llm-bench — how close the OpenAI client gets to the latency-bound ideal, and what it costs in CPU.
// For each concurrency C: C threads each make K calls (N = C·K) against the fake server, which sleeps L ms
// per reply. Ideal wall time = N·L/C; "ideal/wall" is the efficiency (goal ≥ 0.95 at C = 64).
// The fake server runs in a forked child process (forked before any thread exists), so "client CPU us/call"
// is the whole client process's CPU (getrusage RUSAGE_SELF user+sys over the run): the calling threads
// and any transport thread alike. "caller thr us/call" is the calling threads' own CPU alone.
// Baseline, same run: a bare cpp-httplib keep-alive client posting the same body and parsing the JSON.
// "ecpo OpenAiClient" is the client on its only transport, libcurl (per-thread easy handles).
//   llm-bench [--calls-per-thread K=40] [--latency-ms 20,100] [--concurrency 1,8,64]
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
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

double process_cpu_us() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

struct Row {
  double wall_s = 0, cpu_us_per_call = 0, caller_us_per_call = 0;
  int failures = 0;
};

// Runs `call(thread, i)` K times on each of C threads; the process's CPU time over the run, and the
// calling threads' own.
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
  const double p0 = process_cpu_us();
  auto t0 = std::chrono::steady_clock::now();
  go = true;
  for (auto& t : ts) t.join();
  Row r;
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.cpu_us_per_call = (process_cpu_us() - p0) / (static_cast<double>(C) * K);
  r.caller_us_per_call = cpu.load() / (static_cast<double>(C) * K);
  r.failures = failures;
  return r;
}

// A fake server in a child process: forked before the parent makes any thread; the port comes back on a
// pipe; closing the control pipe makes the child report its stats and exit.
struct ServerChild {
  pid_t pid = -1;
  int port = 0;
  int ctrl_w = -1, data_r = -1;
};

ServerChild fork_server(double latency_ms, const std::vector<ServerChild>& earlier) {
  int ctrl[2], data[2];
  if (::pipe(ctrl) != 0 || ::pipe(data) != 0) {
    std::perror("pipe");
    std::exit(1);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(1);
  }
  if (pid == 0) {
    for (const auto& e : earlier) {  // or an earlier child would never see its control pipe close
      ::close(e.ctrl_w);
      ::close(e.data_r);
    }
    ::close(ctrl[1]);
    ::close(data[0]);
    FakeServerOptions so;
    so.latency_ms = latency_ms;
    so.threads = 256;
    FakeServer srv(so);
    int port = srv.start();
    long long msg[2] = {port, 0};
    if (::write(data[1], msg, sizeof msg) != sizeof msg) ::_exit(1);
    char c;
    while (::read(ctrl[0], &c, 1) > 0) {
    }
    auto st = srv.stats();
    long long out[2] = {static_cast<long long>(st.chat_requests), st.max_in_flight};
    if (::write(data[1], out, sizeof out) != sizeof out) ::_exit(1);
    ::_exit(0);  // no graceful stop: the parent kills and reaps us
  }
  ::close(ctrl[0]);
  ::close(data[1]);
  ServerChild s;
  s.pid = pid;
  s.ctrl_w = ctrl[1];
  s.data_r = data[0];
  long long msg[2];
  if (::read(s.data_r, msg, sizeof msg) != sizeof msg) {
    std::fprintf(stderr, "llm-bench: the fake server child did not start\n");
    std::exit(1);
  }
  s.port = static_cast<int>(msg[0]);
  return s;
}

// Closes the control pipe, reads {chat requests, max in flight}, then kills and reaps the child.
std::pair<long long, long long> stop_server(ServerChild& s) {
  ::close(s.ctrl_w);
  long long out[2] = {0, 0};
  if (::read(s.data_r, out, sizeof out) != sizeof out) out[0] = out[1] = -1;
  ::close(s.data_r);
  ::kill(s.pid, SIGKILL);
  int status = 0;
  ::waitpid(s.pid, &status, 0);
  return {out[0], out[1]};
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

  // Every server child is forked here, before this process starts any thread.
  std::vector<ServerChild> servers;
  for (double L : Ls) servers.push_back(fork_server(L, servers));

  Table t({"client", "C", "calls", "L ms", "wall s", "ideal s", "ideal/wall", "client CPU us/call", "CPU vs httplib",
           "caller thr us/call", "failures"});
  long long served = 0, max_in_flight = 0;
  for (std::size_t li = 0; li < Ls.size(); ++li) {
    const double L = Ls[li];
    const int port = servers[li].port;
    const std::string base_url = "http://127.0.0.1:" + std::to_string(port) + "/v1";
    for (int C : Cs) {
      const int N = C * K;
      const double ideal = N * L / C / 1000.0;

      // Baseline: bare cpp-httplib client per thread (keep-alive), same body, JSON parsed.
      OpenAiOptions oo;
      oo.base_urls = {base_url};
      oo.model = "fake-model";
      oo.max_concurrency = C;
      oo.timeout_ms = 30000;
      OpenAiClient client(oo);
      const std::string body = client.request_body(msgs, {});
      std::vector<std::unique_ptr<httplib::Client>> hc;
      for (int i = 0; i < C; ++i) {
        hc.push_back(std::make_unique<httplib::Client>("127.0.0.1", port));
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

      auto client_call = [&](int, int) {
        try {
          return !client.chat(msgs, {}).text.empty();
        } catch (const ChatError&) {
          return false;
        }
      };
      Row ours = run(C, K, client_call);

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
               fmt(r.caller_us_per_call, "%.1f"), std::to_string(r.failures)});
      };
      row("httplib (baseline)", base, true);
      row("ecpo OpenAiClient", ours, true);
      row("ecpo cache hit", hits, false);
    }
  }
  for (auto& s : servers) {
    auto [n, m] = stop_server(s);
    served += n;
    max_in_flight = std::max(max_in_flight, m);
  }
  std::printf("%s", t.str().c_str());
  std::printf("fake servers (child processes): %lld chat requests, max %lld in flight\n", served, max_in_flight);
  return 0;
}
