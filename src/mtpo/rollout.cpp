// Re-simulating episodes of a run (see rollout.h).
#include "mtpo/rollout.h"

#include <set>

#include "data/records-io.h"
#include "episode/runner.h"
#include "llm/call-context.h"
#include "retrieval/index.h"
#include "util/error.h"
#include "util/fs.h"

namespace ecpo::mtpo {

namespace fs = std::filesystem;
using nlohmann::json;

llm::ChatResult BranchModel::chat(const std::vector<llm::Message>& messages, const llm::ChatParams& params) {
  if (!sampled_ && llm::current_call_context().turn == turn_) {
    sampled_ = true;
    llm::ChatParams p = params;
    p.temperature = temperature_;
    p.seed = seed_;
    return inner_->chat(messages, p);
  }
  return inner_->chat(messages, params);
}

RolloutContext::RolloutContext(const pref::RunData& run, const RolloutSetup& s) {
  const json& c = run.config;
  domain_ = run.domain;
  agent_ = run.agent;
  user_ = run.user;
  turns_ = c.value("turns", 5);
  const fs::path tasks_dir = c.value("tasks", std::string());
  const std::string split = c.value("split", std::string("train"));
  const fs::path index = c.value("index", std::string());
  const std::string moved = "the run's inputs have moved: rollouts re-simulate its tasks with its index";
  require_exists(tasks_dir / ("tasks_" + split + ".jsonl"), "the run's task file", moved);
  require_exists(tasks_dir / "items.jsonl", "the run's item database", moved);
  require_exists(index, "the run's retrieval index", moved);
  for (auto& t : data::read_tasks(tasks_dir / ("tasks_" + split + ".jsonl"))) tasks_.emplace(t.task_id, t);
  catalog_ = std::make_shared<sim::ItemCatalog>(sim::ItemCatalog::load(tasks_dir / "items.jsonl"));
  retriever_ = retrieval::open_retriever(index);
  const json so = c.value("sim", json::object());
  sim_.final_rating = so.value("final_rating", true);
  sim_.extra_raters = so.value("extra_raters", false);
  sim_.leak_threshold = so.value("leak_threshold", 0.90);
  sim_.parallel_ec = so.value("parallel_ec", true);
  // Personas as the run had them.
  const std::string pers = c.value("personas", std::string("none"));
  if (sim::user_simulator_needs_persona(user_)) {
    std::set<std::string> users;
    for (const auto& e : run.episodes)
      if (auto it = tasks_.find(e["task_id"].get<std::string>()); it != tasks_.end()) users.insert(it->second.user_id);
    if (pers == "offline") {
      data::for_each_user(tasks_dir / "users.jsonl", [&](data::User&& u) {
        if (users.count(u.user_id)) personas_[u.user_id] = sim::build_persona_offline(u, *catalog_, domain_);
      });
    } else if (pers != "none" && !pers.empty()) {
      require_exists(pers, "the run's personas file", moved);
      personas_ = sim::read_personas(pers);
    }
  }
  // Roles: only those the run's agent and user need.
  std::vector<std::string> needed;
  if (agent::agent_uses_llm(agent_)) needed.push_back("agent");
  if (sim::user_simulator_uses_llm(user_)) {
    needed.push_back("user_sim");
    needed.push_back("ec_rater");
  }
  if (!needed.empty()) {
    if (s.offline)
      throw Error("--offline rolls out rule × agenda runs only; this run's " +
                      std::string(agent::agent_uses_llm(agent_) ? "agent (" + agent_ + ")" : "user (" + user_ + ")") +
                      " is an LLM role",
                  run.dir.string(), "drop --offline and pass --roles FILE, or build the baseline from a rule × agenda run");
    fs::path rp = s.roles;
    if (rp.empty() && !c.value("roles", std::string()).empty()) rp = c.value("roles", std::string());
    if (rp.empty()) rp = llm::default_roles_path();
    require_exists(rp, "roles file", "pass --roles FILE (the roles the run was simulated with)");
    std::vector<std::string> ov = c.value("role_overrides", std::vector<std::string>{});
    ov.insert(ov.end(), s.overrides.begin(), s.overrides.end());
    llm::RoleSetOptions rso;
    rso.no_cache = s.no_cache;
    rso.cache_path = s.cache;
    rso.sink = sink_;
    roles_ = std::make_unique<llm::RoleSet>(llm::load_roles(rp, ov), rso);
    for (const auto& r : needed)
      if (!roles_->has(r)) throw Error("the roles file has no role '" + r + "'", rp.string(), "use the roles the run was simulated with");
  }
  const json ao = c.value("agent_options", json::object());
  deps_.domain = domain_;
  deps_.retriever = retriever_.get();
  deps_.catalog = catalog_.get();
  deps_.options.prompt = ao.value("prompt", std::string("zero-shot"));
  deps_.options.max_search_chain = ao.value("max_search_chain", std::size_t{3});
  deps_.options.description_chars = ao.value("description_chars", std::size_t{240});
  deps_.options.top_k = c.value("retrieval", json::object()).value("top_k", std::size_t{5});
  if (agent::agent_uses_llm(agent_)) {
    deps_.model = roles_->model("agent");
    deps_.params = roles_->spec("agent").params;
  }
  if (sim::user_simulator_uses_llm(user_)) {
    sim_roles_.user = roles_->model("user_sim");
    sim_roles_.user_params = roles_->spec("user_sim").params;
    sim_roles_.rater = roles_->model("ec_rater");
    sim_roles_.rater_params = roles_->spec("ec_rater").params;
  }
  models_ = c.value("models", json::object());
}

json RolloutContext::run(const json& source, const std::string& rollout_id, const agent::AgentDeps& deps) const {
  const std::string task_id = source["task_id"].get<std::string>();
  auto it = tasks_.find(task_id);
  if (it == tasks_.end())
    throw Error("task " + task_id + " is not in the run's task file", task_id, "the tasks directory changed since the run");
  const data::Task& task = it->second;
  episode::EpisodeSetup setup;
  setup.episode_id = rollout_id;
  setup.task_index = source.value("task_index", std::size_t{0});
  setup.task = task;
  setup.target = catalog_->at(task.target_item_id);
  setup.agent_kind = agent_;
  setup.user_kind = user_;
  setup.max_turns = turns_;
  setup.final_rating = sim_.final_rating;
  setup.title_threshold = sim_.leak_threshold;
  setup.seed = source.value("seed", std::uint64_t{0});
  episode::EpisodeRecord rec;
  try {
    sim::TaskView view;
    view.task_id = task.task_id;
    view.domain = domain_;
    view.target = setup.target;
    view.catalog = catalog_.get();
    view.seed = setup.seed;
    if (auto p = personas_.find(task.user_id); p != personas_.end()) view.persona = p->second;
    auto user = sim::make_user_simulator(user_, view, sim_roles_, sim_);
    auto ag = agent::make_agent(agent_, deps);
    rec = episode::run_episode(setup, *ag, *user);
  } catch (const std::exception& ex) {
    rec.episode_id = rollout_id;
    rec.task_id = task_id;
    rec.failed = true;
    rec.error = ex.what();
  }
  rec.models = models_;
  return episode::to_json(rec);
}

}  // namespace ecpo::mtpo
