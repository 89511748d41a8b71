// Reading a finished run directory (see run-reader.h).
#include "ecpo/run-reader.h"

#include <algorithm>

#include "episode/run-store.h"
#include "util/config.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace ecpo::pref {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* kOlderHint =
    "this run was written by an older ecpo: rebuild its files with `ecpo simulate export --run RUNDIR`, "
    "or simulate it again";

void need(const json& j, const char* key, const std::string& where, const std::string& what) {
  if (!j.is_object() || !j.contains(key))
    throw Error("run from an older format: " + what + " lacks '" + key + "'", where, kOlderHint);
}

}  // namespace

void check_episode_format(const json& e, const std::string& where) {
  for (const char* k : {"episode_id", "task_id", "turns", "success", "agent", "user"}) need(e, k, where, "an episode");
  if (!e["turns"].is_array()) throw Error("run from an older format: 'turns' is not a list", where, kOlderHint);
  for (const auto& t : e["turns"]) {
    const std::string tw = where + " (" + e["episode_id"].get<std::string>() + " turn " +
                           (t.contains("index") ? t["index"].dump() : std::string("?")) + ")";
    for (const char* k : {"index", "steps", "ec", "reply", "user", "agent_state", "retrieved"}) need(t, k, tw, "a turn");
    for (const auto& s : t["steps"]) {
      for (const char* k : {"kind", "agent_state", "output", "action"}) need(s, k, tw, "an agent step");
      need(s["agent_state"], "messages", tw, "an agent step's agent_state");
    }
  }
}

void add_heuristic_roles(std::vector<std::string>& roles, const std::vector<std::string>& more) {
  for (const auto& r : more)
    if (std::find(roles.begin(), roles.end(), r) == roles.end()) roles.push_back(r);
}

std::vector<std::string> run_heuristic_roles(const json& config, const std::vector<json>& episodes) {
  std::vector<std::string> out;
  const json models = config.value("models", json::object());
  auto model = [&](const char* role) { return models.contains(role) && models[role].is_string() ? models[role].get<std::string>() : ""; };
  if (model("agent") == "rule" || config.value("agent", std::string()) == "rule") out.push_back("agent (rule)");
  if (model("user_sim") == "heuristic") out.push_back("user_sim (" + config.value("user", std::string("agenda")) + ")");
  bool heuristic_ec = model("ec_rater") == "heuristic";
  for (const auto& e : episodes) {
    if (heuristic_ec) break;
    for (const auto& t : e.value("turns", json::array()))
      if (t.contains("ec") && t["ec"].is_object() && t["ec"].value("rater", std::string()) == "heuristic") {
        heuristic_ec = true;
        break;
      }
  }
  if (heuristic_ec) out.push_back("ec_rater (heuristic)");
  if (config.value("personas", std::string()) == "offline") out.push_back("persona (offline)");
  return out;
}

std::size_t episode_role_calls(const json& e) {
  std::size_t n = 0;
  for (const auto& t : e.value("turns", json::array())) {
    n += t.value("steps", json::array()).size();  // agent calls
    n += 1;                                        // the user utterance that opened this turn
    if (t.contains("ec") && t["ec"].is_object()) n += 1;
  }
  if (e.contains("end") && e["end"].is_object()) n += 1;
  return n;
}

json load_run_config(const fs::path& dir) {
  json c;
  if (fs::exists(dir / "run.db")) {
    episode::RunStore store(dir);
    if (auto cfg = store.meta("config")) c = json::parse(*cfg);
  }
  if (c.empty() && fs::exists(dir / "config.yaml")) c = Config::load(dir / "config.yaml").root();
  if (c.empty()) throw Error("run has no configuration (run.db meta 'config' or config.yaml)", dir.string(), kOlderHint);
  return c;
}

RunData load_run(const fs::path& dir) {
  RunData r;
  r.dir = dir;
  if (!fs::is_directory(dir))
    throw Error("run directory not found", dir.string(), "pass the --out directory of `ecpo simulate`");
  const fs::path db = dir / "run.db", traj = dir / "trajectories.jsonl";
  std::vector<llm::CallRecord> calls;
  if (fs::exists(db)) {
    r.source = "run.db";
    try {
      episode::RunStore store(dir);
      if (auto cfg = store.meta("config")) r.config = json::parse(*cfg);
      store.for_each_episode([&](const json& e) { r.episodes.push_back(e); });
      calls = store.episode_calls();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& ex) {
      throw Error(std::string("cannot read the run database: ") + ex.what(), db.string(), kOlderHint);
    }
  } else if (fs::exists(traj)) {
    r.source = "trajectories.jsonl";
    JsonlReader rd(traj);
    json e;
    while (rd.next(e)) {
      check_episode_format(e, rd.where());
      r.episodes.push_back(std::move(e));
    }
  } else {
    throw Error("not a run directory (no run.db, no trajectories.jsonl)", dir.string(),
                "pass the --out directory of `ecpo simulate`");
  }
  if (r.config.empty() && fs::exists(dir / "config.yaml")) r.config = Config::load(dir / "config.yaml").root();
  if (r.config.empty())
    throw Error("run has no configuration (run.db meta 'config' or config.yaml)", dir.string(), kOlderHint);
  if (r.source == "run.db")
    for (const auto& e : r.episodes) check_episode_format(e, db.string());
  r.domain = r.config.value("domain", std::string());
  r.agent = r.config.value("agent", std::string());
  r.user = r.config.value("user", std::string());
  if (r.domain.empty()) throw Error("run configuration names no domain", dir.string(), kOlderHint);
  r.heuristic_roles = run_heuristic_roles(r.config, r.episodes);
  r.cost = cost_of_calls(calls, nullptr);
  if (calls.empty() && fs::exists(dir / "metrics.json")) {  // no call table: the exported totals
    json m = read_json_file(dir / "metrics.json");
    r.cost.llm_calls = m.value("calls", std::size_t{0});
    r.cost.cache_hits = m.value("cache_hits", std::size_t{0});
    r.cost.prompt_tokens = m.value("prompt_tokens", std::int64_t{0});
    r.cost.completion_tokens = m.value("completion_tokens", std::int64_t{0});
    r.cost.cost_usd = m.value("cost_usd", 0.0);
  }
  r.cost.trajectories = static_cast<double>(r.episodes.size());
  for (const auto& e : r.episodes) r.cost.role_calls += episode_role_calls(e);
  return r;
}

}  // namespace ecpo::pref
