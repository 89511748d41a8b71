// bench-sim — how fast episodes run, and where the time goes.
// Part 1 (offline): N episodes rule × agenda over BM25 (goal >= 100 episodes/s on 2 threads), as `ecpo
//   simulate` runs them (the whole call: checks, personas, episodes, store, export), at 1 and 2 threads
//   (ratio = the scaling baseline in the same run); then the same episodes instrumented per component
//   (retrieval, agent, user simulator, run store) on one thread.
// Part 2 (fake server, latency L): M episodes actcrs × a user simulator at concurrency C; wall time against
//   the ideal calls·L/C (goal >= 0.90) and against the schedule bound (an episode's dependent calls run one
//   after another, so a last, partial wave of episodes cannot use the idle slots). AILO's EC call runs
//   beside its policy call (sim.parallel_ec), so more than C calls can be in flight and ideal/wall can
//   exceed 1; the "sequential" row turns that off.
// Part 3: LLM calls per turn of each user simulator, measured in part 2, beside the official code's count
//   computed from its definition (protocol §4: 5 user calls per later round + an opener, last reply unrated;
//   D1: 3 agent calls per action).
//   bench-sim [--episodes 1000] [--llm-episodes 200] [--latency-ms 100] [--concurrency 32] [--work DIR]
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "agent/agent.h"
#include "data/import.h"
#include "data/records-io.h"
#include "data/synth.h"
#include "data/tasks.h"
#include "episode/run-store.h"
#include "episode/runner.h"
#include "episode/simulate.h"
#include "llm/fake-server.h"
#include "retrieval/index.h"
#include "sim/catalog.h"
#include "sim/persona.h"
#include "sim/user-sim.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/table.h"

using namespace ecpo;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double secs(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }
// CPU seconds of the whole process (user + system): on a shared machine the wall clock also counts time
// other processes held the cores; episodes per CPU-second is what the code itself costs.
double cpu_s() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
std::string f(double v, const char* fmt = "%.2f") {
  char b[64];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}

struct Sample {
  fs::path tasks, index;
};

Sample build_sample(const fs::path& dir, std::size_t users) {
  data::SynthOptions so;
  so.domain = "book";
  so.users = users;
  so.seed = 7;
  so.out = dir / "raw";
  auto sr = data::synthesize(so);
  data::ImportOptions io;
  io.source = "amazon2023";
  io.reviews = {sr.reviews_file};
  io.meta = {sr.meta_file};
  io.out = dir / "data";
  io.on_bad = [](const Error&) {};
  data::import_raw(io);
  data::TaskBuildOptions to;
  to.data = dir / "data";
  to.out = dir / "tasks";
  to.seed = 7;
  data::build_tasks(to);
  retrieval::IndexOptions xo;
  retrieval::build_index(dir / "tasks" / "items.jsonl", dir / "index", xo);
  return {dir / "tasks", dir / "index"};
}

// --- per-component timing (summed over the calls) ---
std::atomic<std::int64_t> g_retrieval_ns{0}, g_agent_ns{0}, g_user_ns{0}, g_store_ns{0};
std::int64_t ns_since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

class TimedRetriever : public retrieval::Retriever {
 public:
  explicit TimedRetriever(const retrieval::Retriever& r) : r_(r) {}
  std::vector<retrieval::Hit> search(const std::string& q, std::size_t k) const override {
    auto t0 = Clock::now();
    auto h = r_.search(q, k);
    g_retrieval_ns += ns_since(t0);
    return h;
  }
  std::string kind() const override { return r_.kind(); }
  std::size_t size() const override { return r_.size(); }

 private:
  const retrieval::Retriever& r_;
};

class TimedAgent : public agent::Agent {
 public:
  explicit TimedAgent(std::unique_ptr<agent::Agent> a) : a_(std::move(a)) {}
  std::string kind() const override { return a_->kind(); }
  agent::AgentTurn act(const sim::Dialogue& d) override {
    auto t0 = Clock::now();
    auto t = a_->act(d);
    g_agent_ns += ns_since(t0);
    return t;
  }

 private:
  std::unique_ptr<agent::Agent> a_;
};

// Times a callable and adds the time to g_user_ns.
template <typename F>
auto timed_user(F&& fn) {
  auto t0 = Clock::now();
  auto r = fn();
  g_user_ns += ns_since(t0);
  return r;
}

class TimedUser : public sim::UserSimulator {
 public:
  explicit TimedUser(std::unique_ptr<sim::UserSimulator> u) : u_(std::move(u)) {}
  std::string kind() const override { return u_->kind(); }
  sim::UserStep open() override { return timed_user([&] { return u_->open(); }); }
  sim::UserStep respond(const sim::Dialogue& d, int t) override {
    return timed_user([&] { return u_->respond(d, t); });
  }
  std::optional<sim::EcScore> rate(const sim::Dialogue& d, int t) override {
    return timed_user([&] { return u_->rate(d, t); });
  }

 private:
  std::unique_ptr<sim::UserSimulator> u_;
};

void part1(const Sample& s, std::size_t episodes, const fs::path& work) {
  std::printf("== 1. offline episodes: rule x agenda, BM25, %zu episodes (train split)\n", episodes);
  Table t({"threads", "episodes", "wall s", "episodes/s", "vs 1 thread", "CPU s", "episodes/CPU-s", "sr", "recall",
           "ec_mean"});
  double base = 0;
  for (std::size_t threads : {1, 2}) {
    episode::SimulateOptions o;
    o.tasks = s.tasks;
    o.index = s.index;
    o.split = "train";
    o.agent = "rule";
    o.user = "agenda";
    o.limit = episodes;
    o.concurrency = threads;
    o.out = work / ("offline-" + std::to_string(threads));
    fs::remove_all(o.out);
    auto t0 = Clock::now();
    double c0 = cpu_s();
    auto r = episode::simulate(o);
    double w = secs(t0, Clock::now()), cpu = cpu_s() - c0;
    double eps = static_cast<double>(r.metrics.episodes) / w;
    if (threads == 1) base = eps;
    t.row({std::to_string(threads), std::to_string(r.metrics.episodes), f(w, "%.3f"), f(eps, "%.1f"), f(eps / base),
           f(cpu, "%.3f"), f(static_cast<double>(r.metrics.episodes) / cpu, "%.1f"), f(r.metrics.sr, "%.3f"),
           f(r.metrics.recall, "%.3f"), f(r.metrics.ec_mean, "%.3f")});
  }
  std::printf("%s", t.str().c_str());

  // Where the time goes: the same episodes on one thread, each component timed.
  auto catalog = sim::ItemCatalog::load(s.tasks / "items.jsonl");
  auto retriever = retrieval::open_retriever(s.index);
  TimedRetriever timed_retriever(*retriever);
  auto tasks = data::read_tasks(s.tasks / "tasks_train.jsonl");
  if (tasks.size() > episodes) tasks.resize(episodes);
  std::map<std::string, sim::Persona> personas;
  auto t_p = Clock::now();
  data::for_each_user(s.tasks / "users.jsonl", [&](data::User&& u) {
    personas[u.user_id] = sim::build_persona_offline(u, catalog, "book");
  });
  double persona_s = secs(t_p, Clock::now());
  fs::remove_all(work / "instrumented");
  episode::RunStore store(work / "instrumented");
  agent::AgentDeps deps;
  deps.domain = "book";
  deps.retriever = &timed_retriever;
  deps.catalog = &catalog;
  g_retrieval_ns = g_agent_ns = g_user_ns = g_store_ns = 0;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    episode::EpisodeSetup setup;
    setup.episode_id = "ep-" + std::to_string(i);
    setup.task_index = i;
    setup.task = tasks[i];
    setup.target = catalog.at(tasks[i].target_item_id);
    setup.agent_kind = "rule";
    setup.user_kind = "agenda";
    setup.seed = episode::episode_seed(0, tasks[i].task_id);
    sim::TaskView view;
    view.task_id = tasks[i].task_id;
    view.domain = "book";
    view.target = setup.target;
    view.catalog = &catalog;
    view.seed = setup.seed;
    view.persona = personas[tasks[i].user_id];
    TimedUser user(sim::make_user_simulator("agenda", view, {}, {}));
    TimedAgent ag(agent::make_agent("rule", deps));
    auto rec = episode::run_episode(setup, ag, user);
    auto ts = Clock::now();
    store.commit_episode(rec);
    g_store_ns += ns_since(ts);
  }
  double total = secs(t0, Clock::now());
  auto te = Clock::now();
  episode::export_run(work / "instrumented");
  double export_s = secs(te, Clock::now());
  double retr = static_cast<double>(g_retrieval_ns) / 1e9;
  double agent_s = static_cast<double>(g_agent_ns) / 1e9 - retr;  // the agent's own work, searches excluded
  double user_s = static_cast<double>(g_user_ns) / 1e9, store_s = static_cast<double>(g_store_ns) / 1e9;
  double other = total - retr - agent_s - user_s - store_s;
  Table b({"component (1 thread)", "seconds", "share", "us per episode"});
  auto row = [&](const char* name, double v) {
    b.row({name, f(v, "%.4f"), f(100 * v / total, "%.1f%%"), f(1e6 * v / static_cast<double>(tasks.size()), "%.0f")});
  };
  row("retrieval (BM25 search)", retr);
  row("agent (ActCRS prompt rendering, rules)", agent_s);
  row("user simulator + heuristic EC", user_s);
  row("run store (one transaction per episode)", store_s);
  row("episode loop, title matching, records", other);
  row("total episode time", total);
  std::printf("%s", b.str().c_str());
  std::printf("outside the episodes: offline personas for %zu users %.3f s; export (trajectories + metrics) %.3f s\n\n",
              personas.size(), persona_s, export_s);
}

llm::FakeServerOptions ailo_script(double latency_ms) {
  using nlohmann::json;
  llm::FakeServerOptions o;
  o.latency_ms = latency_ms;
  o.threads = 256;
  auto rule = [](const char* m, json reply) { return llm::FakeScript::Rule{m, std::move(reply)}; };
  json ec{{"reason", "no guidance"}, {"flexibility", 2}, {"coherence", 2}, {"guidance", 0}, {"score", 4}};
  json fused{{"ec", ec}, {"policy_reason", "asked"}, {"policy", "respond_to_clarification"}, {"response", "Cozy, please."}};
  o.script.rules = {
      rule("in one reply", fused.dump()),  // ailo-fused
      rule("choose one policy", json{{"reason", "asked"}, {"policy", "respond_to_clarification"}}.dump()),
      rule("expectation confirmation", ec.dump()),
      rule("rate how well", json{{"reason", "r"}, {"rating", 2}}.dump()),
      rule("rate the strategy", json{{"reason", "r"}, {"rating", 3}}.dump()),
      rule("start the conversation", json{{"reason", "r"}, {"response", "Hi, any book tips?"}}.dump()),
      rule("answer it", json{{"reason", "r"}, {"response", "Something cozy, please."}}.dump()),
      rule("observations and your actions", "Ask[What else do you like?]"),
  };
  return o;
}

struct LlmRun {
  episode::RunMetrics m;
  double wall = 0;
};

LlmRun llm_run(const Sample& s, const std::string& url, const fs::path& work, const std::string& user, std::size_t n,
               std::size_t c, std::vector<std::string> overrides, const std::string& tag) {
  fs::path roles = work / "roles.yaml";
  write_file_atomic(roles, "defaults:\n  backend: openai\n  base_url: " + url +
                               "\n  api_key_env: \"\"\n  timeout_ms: 30000\n  max_concurrency: 256\n"
                               "roles:\n  agent: {model: fake-model, params: {temperature: 0.0}}\n"
                               "  user_sim: {model: fake-model, params: {temperature: 0.0}}\n"
                               "  ec_rater: {model: fake-model, params: {temperature: 0.0}}\n"
                               "cache: {enabled: false}\n");
  episode::SimulateOptions o;
  o.tasks = s.tasks;
  o.index = s.index;
  o.split = "train";
  o.agent = "actcrs";
  o.user = user;
  o.roles = roles;
  o.limit = n;
  o.concurrency = c;
  o.overrides = std::move(overrides);
  o.out = work / ("llm-" + tag);
  fs::remove_all(o.out);
  auto t0 = Clock::now();
  auto r = episode::simulate(o);
  return {r.metrics, secs(t0, Clock::now())};
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t episodes = 1000, llm_episodes = 200, concurrency = 32;
  double latency = 100;
  fs::path work;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--episodes") episodes = std::stoul(argv[i + 1]);
    else if (a == "--llm-episodes") llm_episodes = std::stoul(argv[i + 1]);
    else if (a == "--latency-ms") latency = std::stod(argv[i + 1]);
    else if (a == "--concurrency") concurrency = std::stoul(argv[i + 1]);
    else if (a == "--work") work = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  try {
    if (work.empty()) work = fs::temp_directory_path() / ("bench-sim-" + std::to_string(::getpid()));
    fs::create_directories(work);
    std::printf("bench-sim: %u hardware threads; work dir %s\n", std::thread::hardware_concurrency(), work.c_str());
    auto t0 = Clock::now();
    Sample s = build_sample(work / "sample", 100);
    std::printf("sample: data synth --domain book --users 100 --seed 7 -> %zu train tasks (%.2f s)\n\n",
                data::read_tasks(s.tasks / "tasks_train.jsonl").size(), secs(t0, Clock::now()));
    part1(s, episodes, work);

    llm::FakeServer server(ailo_script(latency));
    server.start();
    std::printf("== 2. actcrs x user simulators against the fake server: %zu episodes, latency %.0f ms, concurrency %zu\n",
                llm_episodes, latency, concurrency);
    Table t({"user", "episodes", "calls", "wall s", "ideal s (calls*L/C)", "ideal/wall", "schedule bound s", "bound/wall",
             "CPU ms/call"});
    struct Named {
      std::string label, user, tag;
      std::vector<std::string> ov;
    };
    std::vector<Named> runs = {{"ailo", "ailo", "ailo", {}},
                               {"ailo, sequential EC", "ailo", "seq", {"sim.parallel_ec=false"}},
                               {"ailo-fused", "ailo-fused", "fused", {}},
                               {"ailo + extra raters", "ailo", "extra", {"sim.extra_raters=true"}}};
    std::vector<std::pair<std::string, LlmRun>> results;
    // Warm-up (not reported): connections, server threads, the index's page cache.
    llm_run(s, server.base_url(), work, "ailo", concurrency, concurrency, {}, "warmup");
    for (const auto& r : runs) {
      double c0 = cpu_s();
      LlmRun x = llm_run(s, server.base_url(), work, r.user, llm_episodes, concurrency, r.ov, r.tag);
      double cpu_ms = (cpu_s() - c0) * 1000.0 / static_cast<double>(x.m.calls);  // client + fake server
      double ideal = static_cast<double>(x.m.calls) * latency / 1000.0 / static_cast<double>(concurrency);
      // Every episode here has the same chain of dependent calls, so episodes run in waves of C and a last,
      // partial wave leaves slots idle: bound = waves × (chain × L). The chain is the calls an episode waits
      // for one after another: with sim.parallel_ec the EC call (and the recommendation rater) of rounds
      // 1..4 overlap the policy call.
      double per_ep_calls = static_cast<double>(x.m.calls) / static_cast<double>(x.m.episodes);
      double overlapped = 0;
      if (r.tag == "ailo") overlapped = 4;   // EC ∥ policy in rounds 1..4
      if (r.tag == "extra") overlapped = 8;  // EC and recommendation rater ∥ policy
      double per_episode = (per_ep_calls - overlapped) * latency / 1000.0;
      double waves = std::ceil(static_cast<double>(x.m.episodes) / static_cast<double>(concurrency));
      double bound = waves * per_episode;  // >= ideal when no call overlaps another of its episode
      t.row({r.label, std::to_string(x.m.episodes), std::to_string(x.m.calls), f(x.wall, "%.2f"), f(ideal, "%.2f"),
             f(ideal / x.wall, "%.3f"), f(bound, "%.2f"), f(bound / x.wall, "%.3f"), f(cpu_ms, "%.2f")});
      results.push_back({r.label, x});
    }
    std::printf("%s\n", t.str().c_str());

    std::printf("== 3. LLM calls per agent turn (5-turn episodes, the agent asks every turn; opener and final rating counted)\n");
    Table c({"setting", "user-side calls/turn", "agent calls/turn", "total calls/turn", "source"});
    for (const auto& [label, x] : results) {
      double turns = static_cast<double>(x.m.turns);
      double agent_per_turn = 1.0;  // one call per action, one action per turn in this script (D1 fixed)
      double total = static_cast<double>(x.m.calls) / turns;
      c.row({"actcrs x " + label, f(total - agent_per_turn), f(agent_per_turn), f(total), "measured"});
    }
    // The official code (protocol §4, D1): an opener + 5 user calls in each of rounds 1..4 (the last reply is
    // never rated); every agent action costs 3 calls.
    double off_user = (1.0 + 5.0 * 4.0) / 5.0, off_agent = 3.0;
    c.row({"official code (ActCRS x AILO)", f(off_user), f(off_agent), f(off_user + off_agent), "computed: §4, D1"});
    std::printf("%s", c.str().c_str());
    server.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
