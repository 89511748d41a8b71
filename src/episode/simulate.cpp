// The simulate driver: validation, run directory, concurrency, resume, progress, export (see simulate.h).
#include "episode/simulate.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "agent/agent.h"
#include "agent/actcrs-prompt.h"
#include "data/records-io.h"
#include "episode/run-store.h"
#include "episode/runner.h"
#include "llm/roles.h"
#include "retrieval/index.h"
#include "sim/catalog.h"
#include "sim/persona.h"
#include "sim/prompt-template.h"
#include "sim/user-sim.h"
#include "util/config.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/log.h"
#include "util/progress.h"
#include "util/text.h"

namespace ecpo::episode {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Routes call records to the episode they belong to (by CallContext episode id) until it is stored, and
// keeps running totals for the progress line.
class EpisodeCallRouter : public llm::CallSink {
 public:
  void record(const llm::CallRecord& r) override {
    std::lock_guard lk(mu_);
    buffers_[r.episode_id].push_back(r);
    calls_++;
    tokens_ += r.prompt_tokens + r.completion_tokens;
    cost_ += r.cost_usd;
  }
  std::vector<llm::CallRecord> take(const std::string& episode_id) {
    std::lock_guard lk(mu_);
    auto it = buffers_.find(episode_id);
    if (it == buffers_.end()) return {};
    auto v = std::move(it->second);
    buffers_.erase(it);
    return v;
  }
  void totals(std::uint64_t& calls, std::int64_t& tokens, double& cost) const {
    std::lock_guard lk(mu_);
    calls = calls_;
    tokens = tokens_;
    cost = cost_;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::vector<llm::CallRecord>> buffers_;
  std::uint64_t calls_ = 0;
  std::int64_t tokens_ = 0;
  double cost_ = 0;
};

struct ResolvedOptions {
  bool final_rating = true, extra_raters = false, parallel_ec = true;
  double leak_threshold = 0.90;
  std::string prompt = "zero-shot";
  std::size_t max_search_chain = 3, description_chars = 240;
  std::vector<std::string> role_overrides;
};

ResolvedOptions resolve_overrides(const std::vector<std::string>& overrides) {
  ResolvedOptions r;
  Config c;
  for (const auto& o : overrides) {
    if (starts_with(o, "roles.") || starts_with(o, "endpoints.") || starts_with(o, "defaults.") ||
        starts_with(o, "cache.")) {
      r.role_overrides.push_back(o);
      continue;
    }
    c.set_override(o);
  }
  static const std::set<std::string> known = {"sim.final_rating", "sim.extra_raters", "sim.leak_threshold", "sim.parallel_ec",
                                              "agent.prompt", "agent.max_search_chain", "agent.description_chars"};
  for (const auto& o : overrides) {
    std::string key = o.substr(0, o.find('='));
    if (!starts_with(key, "roles.") && !starts_with(key, "endpoints.") && !starts_with(key, "defaults.") &&
        !starts_with(key, "cache.") && !known.count(key))
      throw Error("unknown setting '" + key + "'", o,
                  "use sim.final_rating, sim.extra_raters, sim.leak_threshold, sim.parallel_ec, agent.prompt, agent.max_search_chain, "
                  "agent.description_chars or roles.<role>.<key>");
  }
  r.final_rating = c.get<bool>("sim.final_rating", true);
  r.extra_raters = c.get<bool>("sim.extra_raters", false);
  r.leak_threshold = c.get<double>("sim.leak_threshold", 0.90);
  r.parallel_ec = c.get<bool>("sim.parallel_ec", true);
  r.prompt = c.get<std::string>("agent.prompt", "zero-shot");
  r.max_search_chain = static_cast<std::size_t>(c.get<int>("agent.max_search_chain", 3));
  r.description_chars = static_cast<std::size_t>(c.get<int>("agent.description_chars", 240));
  const auto& v = agent::actcrs_prompt_variants();
  if (std::find(v.begin(), v.end(), r.prompt) == v.end())
    throw Error("unknown agent.prompt '" + r.prompt + "'", "agent.prompt", "use zero-shot, few-shot or compact");
  return r;
}

std::string abs_str(const fs::path& p) { return p.empty() ? std::string() : fs::absolute(p).lexically_normal().string(); }

// The settings a resumed run must share with the run it continues.
json fingerprint(const json& config) {
  json f = config;
  for (const char* k : {"limit", "concurrency", "resume", "created"}) f.erase(k);
  return f;
}

void write_exports(RunStore& store, const fs::path& run_dir, const llm::PriceTable* prices, SimulateSummary& out) {
  MetricsBuilder mb;
  JsonlWriter w(run_dir / "trajectories.jsonl");
  store.for_each_episode_line([&](const std::string& line, const json& view) {
    w.write_line(line);
    mb.add_episode(view);
  });
  w.commit();
  out.metrics = mb.finish(store.episode_calls(), prices);
  json m = to_json(out.metrics);
  if (auto cfg = store.meta("config")) {
    json c = json::parse(*cfg);
    m["agent"] = c.value("agent", std::string());
    m["user"] = c.value("user", std::string());
    m["retrieval"] = c.value("retrieval", json());
    m["sim"] = c.value("sim", json());
  }
  write_json_file(run_dir / "metrics.json", m);
  out.trajectories = run_dir / "trajectories.jsonl";
  out.metrics_file = run_dir / "metrics.json";
}

// A one-line status on stderr (episodes, rate, calls, tokens, cost), redrawn twice a second.
class StatusLine {
 public:
  StatusLine(std::size_t total, const EpisodeCallRouter& router, const std::atomic<std::size_t>& done)
      : total_(total), router_(router), done_(done) {
    auto mode = Progress::default_mode();
    enabled_ = mode == Progress::Mode::on || (mode == Progress::Mode::automatic && ::isatty(2));
    if (enabled_) thread_ = std::thread([this] { loop(); });
  }
  ~StatusLine() { stop(); }
  void stop() {
    if (!enabled_) return;
    {
      std::lock_guard lk(mu_);
      if (stopped_) return;
      stopped_ = true;
    }
    cv_.notify_all();
    thread_.join();
    draw();
    std::fprintf(stderr, "\n");
  }

 private:
  void loop() {
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, std::chrono::milliseconds(500), [this] { return stopped_; })) draw();
  }
  void draw() {
    std::uint64_t calls;
    std::int64_t tokens;
    double cost;
    router_.totals(calls, tokens, cost);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::size_t d = done_.load();
    double rate = s > 0 ? static_cast<double>(d) / s : 0;
    std::fprintf(stderr, "\rsimulate %zu/%zu episodes  %.1f eps/s  calls %s  tokens %s  $%.4f  %s   ", d, total_, rate,
                 human_count(static_cast<double>(calls)).c_str(), human_count(static_cast<double>(tokens)).c_str(), cost,
                 rate > 0 && d < total_ ? ("ETA " + human_duration(static_cast<double>(total_ - d) / rate)).c_str() : "");
    std::fflush(stderr);
  }
  std::size_t total_;
  const EpisodeCallRouter& router_;
  const std::atomic<std::size_t>& done_;
  bool enabled_ = false, stopped_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

SimulateSummary simulate(const SimulateOptions& o) {
  auto t0 = std::chrono::steady_clock::now();
  // --- what to run (all checks before any LLM call) ---
  if (!agent::agent_known(o.agent))
    throw Error("unknown agent '" + o.agent + "'", "--agent", "use actcrs, react, chatrec, macrs or rule");
  if (!sim::user_simulator_known(o.user))
    throw Error("unknown user '" + o.user + "'", "--user", "use ailo, ailo-fused, ievalm or agenda");
  if (o.split != "test" && o.split != "train") throw Error("unknown split '" + o.split + "'", "--split", "use test or train");
  if (o.turns < 1) throw Error("--turns must be at least 1", "--turns");
  if (o.top_k < 1) throw Error("--top-k must be at least 1", "--top-k");
  const ResolvedOptions ro = resolve_overrides(o.overrides);
  const fs::path tasks_file = o.tasks / ("tasks_" + o.split + ".jsonl");
  require_exists(o.tasks, "tasks directory", "run `ecpo tasks build` first");
  require_exists(tasks_file, "task file", "run `ecpo tasks build`; it writes tasks_train.jsonl and tasks_test.jsonl");
  require_exists(o.tasks / "items.jsonl", "item database", "the tasks directory must hold items.jsonl (ecpo tasks build)");
  json index_meta = retrieval::read_index_meta(o.index);
  if (!o.personas.empty()) require_exists(o.personas, "personas file", "run `ecpo persona build` or drop --personas");

  std::vector<data::Task> tasks = data::read_tasks(tasks_file);
  if (o.offset > 0) tasks.erase(tasks.begin(), tasks.begin() + static_cast<std::ptrdiff_t>(std::min(o.offset, tasks.size())));
  if (o.limit > 0 && tasks.size() > o.limit) tasks.resize(o.limit);
  if (tasks.empty()) throw Error("no tasks to run", tasks_file.string(), "check --split, --offset and --limit");
  auto catalog = std::make_shared<sim::ItemCatalog>(sim::ItemCatalog::load(o.tasks / "items.jsonl"));
  const std::string domain = catalog->domain();
  if (domain.empty())
    throw Error("the item database has no single domain", (o.tasks / "items.jsonl").string(),
                "build tasks from one domain's import");
  for (const auto& t : tasks)
    if (!catalog->find(t.target_item_id))
      throw Error("task " + t.task_id + " targets item " + t.target_item_id + ", which is not in the item database",
                  tasks_file.string(), "tasks and items.jsonl must come from the same `ecpo tasks build`");
  const std::size_t index_items = index_meta.value("items", static_cast<std::size_t>(0));
  if (index_items != catalog->size())
    throw Error("tasks and index come from different item databases: the index holds " + std::to_string(index_items) +
                    " items, " + (o.tasks / "items.jsonl").string() + " " + std::to_string(catalog->size()),
                o.index.string(), "rebuild the index: ecpo index build --data " + o.tasks.string() + " --out " + o.index.string());
  std::unique_ptr<retrieval::Retriever> retriever = retrieval::open_retriever(o.index);
  // A probe: a target's own title must be findable by id in this index (different databases fail here).
  {
    const data::Item& probe = catalog->at(tasks.front().target_item_id);
    auto hits = retriever->search(probe.title, std::max<std::size_t>(50, o.top_k));
    bool ids_known = !hits.empty();
    for (const auto& h : hits)
      if (!catalog->find(h.item_id)) ids_known = false;
    if (!ids_known)
      throw Error("tasks and index come from different item databases: the index returns ids absent from items.jsonl",
                  o.index.string(), "rebuild the index: ecpo index build --data " + o.tasks.string());
  }
  sim::SimOptions sim_opts;
  sim_opts.final_rating = ro.final_rating;
  sim_opts.extra_raters = ro.extra_raters;
  sim_opts.leak_threshold = ro.leak_threshold;
  sim_opts.parallel_ec = ro.parallel_ec;
  for (const auto& n : agent::agent_prompt_names(o.agent, ro.prompt)) sim::domain_prompt("agent", domain, n);
  for (const auto& n : sim::user_prompt_names(o.user, sim_opts)) sim::domain_prompt("sim", domain, n);

  // --- roles (only those needed) ---
  std::vector<std::string> needed;
  if (agent::agent_uses_llm(o.agent)) needed.push_back("agent");
  if (sim::user_simulator_uses_llm(o.user)) {
    needed.push_back("user_sim");
    needed.push_back("ec_rater");
  }
  auto router = std::make_shared<EpisodeCallRouter>();
  std::unique_ptr<llm::RoleSet> roles;
  json models = json::object();
  if (!needed.empty()) {
    fs::path rp = o.roles.empty() ? llm::default_roles_path() : o.roles;
    require_exists(rp, "roles file", "pass --roles FILE (see configs/roles.yaml)");
    llm::RoleSetOptions rso;
    rso.no_cache = o.no_cache;
    rso.cache_path = o.cache;
    rso.sink = router;
    roles = std::make_unique<llm::RoleSet>(llm::load_roles(rp, ro.role_overrides), rso);
    for (const auto& r : needed)
      if (!roles->has(r))
        throw Error("the roles file has no role '" + r + "', which --agent " + o.agent + " / --user " + o.user + " needs",
                    rp.string(), "add roles." + r + " (see configs/roles.yaml)");
    for (const auto& r : needed) {
      const auto& spec = roles->spec(r);
      models[r] = spec.backend == "openai" ? spec.http.model : spec.raw.value("model", std::string(spec.backend));
    }
  }
  if (!agent::agent_uses_llm(o.agent)) models["agent"] = "rule";
  if (!sim::user_simulator_uses_llm(o.user)) models["user_sim"] = models["ec_rater"] = "heuristic";

  // --- personas ---
  std::map<std::string, sim::Persona> personas;
  std::string persona_origin = "none";
  if (sim::user_simulator_needs_persona(o.user)) {
    std::set<std::string> users;
    for (const auto& t : tasks) users.insert(t.user_id);
    if (!o.personas.empty()) {
      personas = sim::read_personas(o.personas);
      std::size_t missing = 0;
      std::string example;
      for (const auto& u : users)
        if (!personas.count(u)) {
          if (!missing++) example = u;
        }
      if (missing)
        throw Error(std::to_string(missing) + " task users have no persona (e.g. " + example + ")", o.personas.string(),
                    "run `ecpo persona build --tasks " + o.tasks.string() + "` for this task set");
      persona_origin = abs_str(o.personas);
    } else {
      require_exists(o.tasks / "users.jsonl", "users file", "the tasks directory must hold users.jsonl");
      data::for_each_user(o.tasks / "users.jsonl", [&](data::User&& u) {
        if (users.count(u.user_id)) personas[u.user_id] = sim::build_persona_offline(u, *catalog, domain);
      });
      persona_origin = "offline";
    }
  }

  // --- the run directory ---
  json config{{"tasks", abs_str(o.tasks)},
              {"split", o.split},
              {"index", abs_str(o.index)},
              {"retrieval", {{"kind", index_meta.value("kind", std::string())}, {"top_k", o.top_k}}},
              {"agent", o.agent},
              {"user", o.user},
              {"domain", domain},
              {"personas", persona_origin},
              {"roles", roles ? roles->config().source : std::string()},
              {"models", models},
              {"turns", o.turns},
              {"seed", o.seed},
              {"limit", o.limit},
              {"offset", o.offset},
              {"concurrency", o.concurrency},
              {"sim", {{"final_rating", ro.final_rating}, {"extra_raters", ro.extra_raters}, {"leak_threshold", ro.leak_threshold},
                      {"parallel_ec", ro.parallel_ec}}},
              {"agent_options", {{"prompt", ro.prompt}, {"max_search_chain", ro.max_search_chain}, {"description_chars", ro.description_chars}}},
              {"role_overrides", ro.role_overrides}};
  std::error_code ec;
  if (fs::exists(o.out) && !fs::is_empty(o.out, ec) && !o.resume)
    throw Error("run directory is not empty", o.out.string(), "pass --resume to continue it, or choose another --out");
  RunStore store(o.out);
  if (auto prev = store.meta("config")) {
    json p = fingerprint(json::parse(*prev)), n = fingerprint(config);
    if (p != n) {
      std::string diff;
      for (auto it = n.begin(); it != n.end(); ++it)
        if (!p.contains(it.key()) || p[it.key()] != it.value()) diff += (diff.empty() ? "" : ", ") + it.key();
      throw Error("--resume with different settings (" + diff + ") than the run in this directory", o.out.string(),
                  "resume with the original flags (see config.yaml there), or choose another --out");
    }
  }
  store.set_meta("config", config.dump());
  Config(config).save(o.out / "config.yaml");

  // --- run ---
  std::set<std::size_t> finished = store.finished_task_indexes();
  std::vector<std::size_t> todo;
  for (std::size_t i = 0; i < tasks.size(); ++i)
    if (!finished.count(i)) todo.push_back(i);
  SimulateSummary out;
  out.config = config;
  out.skipped = tasks.size() - todo.size();
  sim::SimRoles sim_roles;
  if (sim::user_simulator_uses_llm(o.user)) {
    sim_roles.user = roles->model("user_sim");
    sim_roles.user_params = roles->spec("user_sim").params;
    sim_roles.rater = roles->model("ec_rater");
    sim_roles.rater_params = roles->spec("ec_rater").params;
  }
  agent::AgentDeps deps;
  deps.domain = domain;
  deps.retriever = retriever.get();
  deps.catalog = catalog.get();
  deps.options.prompt = ro.prompt;
  deps.options.top_k = o.top_k;
  deps.options.max_search_chain = ro.max_search_chain;
  deps.options.description_chars = ro.description_chars;
  if (agent::agent_uses_llm(o.agent)) {
    deps.model = roles->model("agent");
    deps.params = roles->spec("agent").params;
  }
  // Test hook (fault injection): ECPO_TEST_KILL_AFTER_EPISODES=N sends SIGKILL to this process once N episodes
  // have been stored by it, while others are still in flight — the resume test's "kill -9 in the middle".
  long kill_after = 0;
  if (const char* k = std::getenv("ECPO_TEST_KILL_AFTER_EPISODES")) kill_after = std::atol(k);

  std::atomic<std::size_t> next{0}, done{out.skipped};
  std::atomic<long> stored_now{0};
  std::mutex err_mu;
  std::string store_error;
  StatusLine status(tasks.size(), *router, done);
  auto worker = [&] {
    for (;;) {
      std::size_t k = next.fetch_add(1);
      if (k >= todo.size()) return;
      {
        std::lock_guard lk(err_mu);
        if (!store_error.empty()) return;
      }
      const std::size_t ti = todo[k];
      const data::Task& task = tasks[ti];
      EpisodeSetup setup;
      char id[32];
      std::snprintf(id, sizeof id, "ep-%05zu", ti);
      setup.episode_id = id;
      setup.task_index = ti;
      setup.task = task;
      setup.target = catalog->at(task.target_item_id);
      setup.agent_kind = o.agent;
      setup.user_kind = o.user;
      setup.max_turns = o.turns;
      setup.final_rating = ro.final_rating;
      setup.title_threshold = ro.leak_threshold;
      setup.seed = episode_seed(o.seed, task.task_id);
      EpisodeRecord rec;
      try {
        sim::TaskView view;
        view.task_id = task.task_id;
        view.domain = domain;
        view.target = setup.target;
        view.catalog = catalog.get();
        view.seed = setup.seed;
        if (auto it = personas.find(task.user_id); it != personas.end()) view.persona = it->second;
        auto user = sim::make_user_simulator(o.user, view, sim_roles, sim_opts);
        auto ag = agent::make_agent(o.agent, deps);
        rec = run_episode(setup, *ag, *user);
        if (view.persona) rec.persona_source = view.persona->source;
      } catch (const std::exception& ex) {  // building the pair failed: record it as a failed episode
        rec.episode_id = setup.episode_id;
        rec.task_id = task.task_id;
        rec.task_index = ti;
        rec.agent = o.agent;
        rec.user = o.user;
        rec.seed = setup.seed;
        rec.target_item_id = task.target_item_id;
        rec.failed = true;
        rec.error = ex.what();
      }
      rec.models = models;
      rec.call_records = router->take(setup.episode_id);
      try {
        store.commit_episode(rec);
      } catch (const std::exception& ex) {
        std::lock_guard lk(err_mu);
        if (store_error.empty()) store_error = ex.what();
        return;
      }
      done++;
      if (kill_after > 0 && ++stored_now >= kill_after) std::raise(SIGKILL);
    }
  };
  const std::size_t n_threads = std::max<std::size_t>(1, std::min(o.concurrency, todo.size()));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < n_threads; ++i) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  status.stop();
  if (!store_error.empty()) throw Error("cannot store an episode: " + store_error, store.path().string());
  out.ran = todo.size();
  write_exports(store, o.out, roles ? roles->config().prices.get() : nullptr, out);
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return out;
}

SimulateSummary export_run(const fs::path& run_dir, const llm::PriceTable* prices) {
  require_exists(run_dir / "run.db", "run database", "run `ecpo simulate --out " + run_dir.string() + "` first");
  RunStore store(run_dir);
  SimulateSummary out;
  if (auto cfg = store.meta("config")) out.config = json::parse(*cfg);
  write_exports(store, run_dir, prices, out);
  return out;
}

}  // namespace ecpo::episode
