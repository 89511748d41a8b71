// Dry-run estimates. Episodes come from the split sizes (tasks.json of a finished tasks stage, else the
// recipe's limits), calls from the per-turn rates of configs/estimates.yaml, dollars from the roles' models and
// configs/prices.yaml, time from the call latency and concurrency (HTTP roles) or the engine's throughput
// (the local student).
#include "pipeline/estimate.h"

#include <algorithm>
#include <cmath>

#include "llm/price-table.h"
#include "llm/prompts-dir.h"
#include "util/config.h"
#include "util/error.h"
#include "util/fs.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ecpo::pipeline {

namespace {

struct Rates {
  json root;
  double num(const std::string& dotted, double fallback) const {
    const json* v = &root;
    std::size_t start = 0;
    while (start <= dotted.size()) {
      const std::size_t dot = dotted.find('.', start);
      const std::string key = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (!v->is_object() || !v->contains(key)) return fallback;
      v = &(*v)[key];
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    return v->is_number() ? v->get<double>() : fallback;
  }
};

Rates load_rates() {
  fs::path f = llm::prompts_dir().parent_path() / "configs" / "estimates.yaml";
  if (const char* p = std::getenv("ECPO_ESTIMATES"); p && *p) f = p;
  if (!fs::exists(f)) return Rates{json::object()};
  return Rates{Config::load(f).root()};
}

// Number of tasks in a split: counted by a finished tasks stage, else unknown (-1).
long long split_tasks(const Recipe& r, const std::string& split) {
  const fs::path f = r.out_dir / "tasks" / "tasks.json";
  if (!fs::exists(f)) return -1;
  try {
    return json::parse(read_file(f)).at("counts").at(split).at("tasks").get<long long>();
  } catch (const std::exception&) {
    return -1;
  }
}

long long users_count(const Recipe& r) {
  const fs::path f = r.out_dir / "tasks" / "tasks.json";
  if (fs::exists(f)) {
    try {
      return json::parse(read_file(f)).at("counts").at("users_selected").get<long long>();
    } catch (const std::exception&) {
    }
  }
  const json* syn = r.cfg.find("data.synth.users");
  return syn && syn->is_number() ? syn->get<long long>() : -1;
}

struct RoleModels {
  std::map<std::string, std::string> model;  // role → model name
  llm::PriceTable prices;
};

RoleModels role_models(const Recipe& r) {
  RoleModels rm;
  if (r.offline) return rm;
  const fs::path roles = r.cfg.get<std::string>("roles", "");
  if (roles.empty() || !fs::exists(roles)) return rm;
  const Config c = Config::load(roles);
  const json& root = c.root();
  const json defaults = root.value("defaults", json::object());
  const json endpoints = root.value("endpoints", json::object());
  const json role_specs = root.value("roles", json::object());  // named: items() must not outlive it
  for (const auto& [name, spec] : role_specs.items()) {
    json merged = defaults;
    if (spec.contains("endpoint") && endpoints.contains(spec["endpoint"].get<std::string>()))
      merged.merge_patch(endpoints[spec["endpoint"].get<std::string>()]);
    merged.merge_patch(spec);
    if (merged.contains("model") && merged["model"].is_string()) rm.model[name] = merged["model"].get<std::string>();
  }
  fs::path pf = llm::prompts_dir().parent_path() / "configs" / "prices.yaml";
  if (root.contains("prices") && root["prices"].is_string()) {
    pf = root["prices"].get<std::string>();
    if (pf.is_relative()) pf = roles.parent_path() / pf;
  }
  if (fs::exists(pf)) {
    const Config p = Config::load(pf);
    if (p.root().contains("prices")) rm.prices = llm::PriceTable::from_json(p.root()["prices"], pf.string());
  }
  return rm;
}

void add_calls(Estimate& e, const RoleModels& rm, const std::string& role, double calls, double prompt,
               double completion) {
  e.calls += calls;
  e.prompt_tokens += calls * prompt;
  e.completion_tokens += calls * completion;
  auto it = rm.model.find(role);
  if (it != rm.model.end()) {
    llm::Usage u;
    u.prompt_tokens = static_cast<std::int64_t>(std::llround(calls * prompt));
    u.completion_tokens = static_cast<std::int64_t>(std::llround(calls * completion));
    if (auto c = rm.prices.cost(it->second, u)) e.usd += *c;
  }
}

// Parameters of the student (0 when unknown): from student.model's config.json, else from student.init (the
// `model init` presets and their size overrides). Llama/Qwen2 layout: embeddings (+ an untied head) and per
// layer q/o (h·h each), k/v (h·kv·hd each) and the MLP (3·h·I).
double student_params(const Recipe& r) {
  json c = json::object();
  const std::string model = r.cfg.get<std::string>("student.model", "");
  if (!model.empty()) {
    const fs::path f = fs::path(model) / "config.json";
    if (!fs::exists(f)) return 0;
    try {
      c = json::parse(read_file(f));
    } catch (const std::exception&) {
      return 0;
    }
  } else {
    const json* init = r.cfg.find("student.init");
    if (!init || !init->is_object()) return 0;
    const bool small = init->value("preset", std::string("tiny")) == "small";
    c = {{"vocab_size", small ? 8192 : 512}, {"hidden_size", small ? 768 : 64}, {"num_hidden_layers", small ? 12 : 2},
         {"num_attention_heads", small ? 12 : 4}, {"num_key_value_heads", small ? 4 : 2},
         {"intermediate_size", small ? 2560 : 172}, {"tie_word_embeddings", !small}};
    const std::pair<const char*, const char*> keys[] = {{"vocab", "vocab_size"}, {"hidden", "hidden_size"},
                                                        {"layers", "num_hidden_layers"}, {"heads", "num_attention_heads"},
                                                        {"kv_heads", "num_key_value_heads"}, {"intermediate", "intermediate_size"}};
    for (const auto& [k, hf] : keys)
      if (init->contains(k) && (*init)[k].is_number()) c[hf] = (*init)[k];
    if (init->contains("tie") && (*init)["tie"].is_number()) c["tie_word_embeddings"] = (*init)["tie"].get<int>() != 0;
  }
  const double v = c.value("vocab_size", 0.0), h = c.value("hidden_size", 0.0), l = c.value("num_hidden_layers", 0.0),
               heads = c.value("num_attention_heads", 1.0), kv = c.value("num_key_value_heads", heads),
               in = c.value("intermediate_size", 0.0);
  const double kv_dim = heads > 0 ? h / heads * kv : h;
  return v * h * (c.value("tie_word_embeddings", false) ? 1 : 2) + l * (2 * h * h + 2 * h * kv_dim + 3 * h * in);
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v == std::floor(v) ? "%.0f" : "%.2f", v);
  return buf;
}

}  // namespace

std::vector<Estimate> estimate_stages(const Recipe& r, const std::vector<Stage>& stages) {
  const Rates rates = load_rates();
  const RoleModels rm = role_models(r);
  const double latency = rates.num("latency_s", 1.0);
  const double turns = r.cfg.get<double>("simulate.turns", 5);
  const double concurrency = std::max(1.0, r.cfg.get<double>("simulate.concurrency", 32));
  const std::string user = r.cfg.get<std::string>("simulate.user", "ailo");
  // The engine's rates are for a model of local.params parameters; compute and memory traffic scale with the size.
  const double params = student_params(r);
  const double size_scale = params > 0 ? std::max(0.005, params / rates.num("local.params", 102255360)) : 1.0;
  const double local_prefill = rates.num("local.prefill_tokens_per_s", 400) / size_scale;
  const double local_decode = rates.num("local.decode_tokens_per_s", 60) / size_scale;
  std::vector<Estimate> out;
  double sim_turns_sgpt = 0;  // agent turns of the student's forward run (drives the rewrite estimate)
  long long test_episodes = 0;

  for (const Stage& s : stages) {
    Estimate e;
    if (s.name == "personas" && !s.config.value("offline", true)) {
      long long users = users_count(r);
      const long long limit = r.cfg.get<long long>("personas.limit", 0);
      if (limit > 0) users = users < 0 ? limit : std::min(users, limit);
      const double n = users < 0 ? 0 : static_cast<double>(users);
      add_calls(e, rm, "persona", n, rates.num("persona.prompt_tokens", 3000), rates.num("persona.completion_tokens", 400));
      e.seconds = n * latency / std::max(1.0, r.cfg.get<double>("personas.concurrency", 16));
      e.basis = fmt(n) + " users × 1 call";
    } else if (s.resumable) {  // a simulation
      const std::string split = s.config.at("split").get<std::string>();
      const long long limit = s.config.at("limit").get<long long>();
      const long long offset = s.config.at("offset").get<long long>();
      const long long avail = split_tasks(r, split);
      const double episodes =
          static_cast<double>(avail < 0 ? limit : std::clamp<long long>(avail - offset, 0, limit));
      const std::string agent = s.config.at("agent").get<std::string>();
      const bool student = s.config.at("student").get<bool>();
      // A local student behaves by how far it was trained, not like the framework's LLM expert: an untrained
      // one fails every action, a trained one rarely ends an episode early (measured rates, estimates.yaml).
      const std::string kind = s.name == "test-base" ? "untrained" : "trained";
      const std::string sk = "students." + kind + ".";
      const double tpe = student ? rates.num(sk + "turns_per_episode", turns)
                                 : rates.num("users." + user + ".turns_per_episode", turns);
      const double agent_calls = student ? rates.num(sk + "calls_per_turn", 1.0)
                                         : rates.num("agents." + agent + ".calls_per_turn", 1.0);
      const double user_calls = rates.num("users." + user + ".calls_per_turn", 3.0);
      const double opener = rates.num("users." + user + ".opener_calls", 1.0);
      const double n_turns = episodes * std::min(tpe, turns);
      const double ap = student ? rates.num(sk + "prompt_tokens", 1200) : rates.num("agents." + agent + ".prompt_tokens", 1200);
      const double ac = student ? rates.num(sk + "completion_tokens", 30) : rates.num("agents." + agent + ".completion_tokens", 30);
      add_calls(e, rm, student ? "" : "agent", n_turns * agent_calls, ap, ac);
      add_calls(e, rm, "user_sim", n_turns * user_calls + episodes * opener, rates.num("users." + user + ".prompt_tokens", 900),
                rates.num("users." + user + ".completion_tokens", 80));
      if (student) {
        // The local engine runs the agent's calls; the user's calls go to HTTP in parallel with them.
        const double agent_s = n_turns * agent_calls * (ap / local_prefill + ac / local_decode);
        e.seconds = agent_s + (user == "agenda" ? 0 : n_turns * user_calls * latency / concurrency);
      } else {
        e.seconds = (user == "agenda" && agent == "rule") ? episodes * rates.num("offline_episode_s", 0.01)
                                                         : e.calls * latency / concurrency;
      }
      if (s.name == "sim-sgpt") sim_turns_sgpt = n_turns;
      if (split == "test") test_episodes = std::max<long long>(test_episodes, static_cast<long long>(episodes));
      e.basis = fmt(episodes) + " episodes × " + fmt(std::min(tpe, turns)) + " turns × (" + fmt(agent_calls) +
                " agent + " + fmt(user_calls) + " user calls)";
    } else if (s.name == "rewrite" && !s.config.value("offline", true)) {
      const double per_turn = rates.num("rewrite.candidates_per_turn", 1.3);
      const double n = sim_turns_sgpt * per_turn;
      add_calls(e, rm, "rewriter", n, rates.num("rewrite.prompt_tokens", 1800), rates.num("rewrite.completion_tokens", 250));
      e.seconds = n * latency / std::max(1.0, r.cfg.get<double>("rewrite.concurrency", 10));
      e.basis = fmt(sim_turns_sgpt) + " scored turns × " + fmt(per_turn) + " actions below λ";
    } else if (s.name == "judge" && !s.config.value("offline", true)) {
      const double pairs = static_cast<double>(s.outputs.size()) * static_cast<double>(test_episodes);
      const double n = pairs * rates.num("judge.calls_per_pair", 2);
      add_calls(e, rm, "judge", n, rates.num("judge.prompt_tokens", 3500), rates.num("judge.completion_tokens", 200));
      e.seconds = n * latency / std::max(1.0, r.cfg.get<double>("judge.concurrency", 16));
      e.basis = fmt(pairs) + " trajectory pairs × 2 orders";
    } else if (s.name == "train-sft" || s.name == "train-dpo") {
      e.basis = "local training (no LLM calls; its time is not estimated)";
    } else {
      e.basis = "no LLM calls";
    }
    out.push_back(e);
  }
  return out;
}

}  // namespace ecpo::pipeline
