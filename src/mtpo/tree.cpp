// Tree sampling (see tree.h).
#include "mtpo/tree.h"

#include <algorithm>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>

#include "llm/call-context.h"
#include "util/error.h"
#include "util/thread-pool.h"

namespace ecpo::mtpo {

using nlohmann::json;

namespace {

const char* kNoAlternative = "mtpo: no alternative action at the branch turn";

std::uint64_t mix(std::uint64_t seed, const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL ^ seed;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

struct Candidate {
  json episode;       // source or rollout
  bool source = false;
  double value = 0;
};

struct BranchPoint {
  std::size_t episode = 0;
  int turn = 0;
  std::vector<Candidate> cands;
  std::size_t rollouts = 0, aborted = 0, prefix_divergent = 0;
  bool no_alternatives = false;
};

const json& turn_of(const json& e, int t) {
  static const json none = json::object();
  for (const auto& x : e["turns"])
    if (x.value("index", -1) == t) return x;
  return none;
}

}  // namespace

double rollout_value(const json& e, int t) {
  double sum = 0;
  int n = 0;
  for (const auto& x : e.value("turns", json::array()))
    if (x.value("index", 0) >= t && x.contains("ec") && x["ec"].is_object()) {
      sum += x["ec"].value("score", 0);
      n++;
    }
  return (e.value("success", false) && !e.value("failed", false) ? 5.0 : 0.0) + (n ? sum / n : 0.0);
}

TreeResult tree_sample(const pref::RunData& run, const RolloutContext& ctx, const TreeOptions& o) {
  if (o.k < 2) throw Error("--k must be at least 2 (the source and one sample)", "--k");
  if (o.depth < 1) throw Error("--depth must be at least 1", "--depth");
  std::vector<BranchPoint> points;
  std::size_t skipped_failed = 0;
  for (std::size_t i = 0; i < run.episodes.size(); ++i) {
    const json& e = run.episodes[i];
    if (e.value("failed", false)) {
      skipped_failed++;
      continue;
    }
    const int n = static_cast<int>(e["turns"].size());
    for (int t = 0; t < std::min(n, o.depth); ++t) {
      BranchPoint b;
      b.episode = i;
      b.turn = t;
      b.cands.push_back({e, true, rollout_value(e, t)});
      points.push_back(std::move(b));
    }
  }
  const bool llm_agent = ctx.agent_uses_llm();
  ThreadPool pool(std::max<std::size_t>(1, std::min(o.concurrency, std::max<std::size_t>(1, points.size()))));
  pool.parallel_for(points.size(), [&](std::size_t pi) {
    BranchPoint& b = points[pi];
    const json& src = run.episodes[b.episode];
    const std::string eid = src["episode_id"].get<std::string>();
    std::vector<std::size_t> order;  // rule agent: alternatives in the seeded draw order
    bool known = false;
    for (int j = 1; j < o.k; ++j) {
      if (!llm_agent && known && static_cast<std::size_t>(j - 1) >= order.size()) break;  // no more alternatives
      const std::string rid = eid + "~t" + std::to_string(b.turn) + "~c" + std::to_string(j);
      agent::AgentDeps deps = ctx.base_deps();
      if (llm_agent) {
        deps.model = std::make_shared<BranchModel>(deps.model, b.turn, o.temperature, mix(o.seed, rid) & 0x7fffffffULL);
      } else {
        const int t = b.turn;
        deps.options.choose = [&, t, j](int turn, const std::vector<agent::Action>& cands) -> std::size_t {
          if (turn != t) return 0;  // the prefix and the continuation follow the rule
          if (!known) {
            order.resize(cands.size() > 0 ? cands.size() - 1 : 0);
            std::iota(order.begin(), order.end(), std::size_t{1});
            std::mt19937_64 rng(mix(o.seed, eid + "/t" + std::to_string(t)));
            std::shuffle(order.begin(), order.end(), rng);
            known = true;
          }
          if (static_cast<std::size_t>(j - 1) >= order.size()) throw std::runtime_error(kNoAlternative);
          return order[static_cast<std::size_t>(j - 1)];
        };
      }
      json r = ctx.run(src, rid, deps);
      b.rollouts++;
      if (r.value("failed", false) && r.value("error", std::string()).find(kNoAlternative) != std::string::npos) {
        b.aborted++;
        b.no_alternatives = true;
        b.cands.push_back({r, false, -1});  // kept for the cost, not a candidate
        b.cands.back().value = std::nan("");
        break;
      }
      // The prefix must replay the source: same agent outputs in every turn before t.
      for (int u = 0; u < b.turn; ++u) {
        const json &a = turn_of(src, u), &c = turn_of(r, u);
        if (a.value("agent_output", std::string()) != c.value("agent_output", std::string())) {
          b.prefix_divergent++;
          break;
        }
      }
      b.cands.push_back({r, false, rollout_value(r, b.turn)});
    }
  });

  TreeResult res;
  std::size_t no_alt = 0, ties = 0, identical = 0, mismatch = 0, divergent = 0, rollouts = 0, aborted = 0;
  for (const auto& b : points) {
    rollouts += b.rollouts;
    aborted += b.aborted;
    divergent += b.prefix_divergent;
    for (const auto& c : b.cands)
      if (!c.source) {
        res.cost.role_calls += pref::episode_role_calls(c.episode);
        if (!std::isnan(c.value)) res.cost.trajectories += 1;
      }
    std::vector<const Candidate*> valid;
    for (const auto& c : b.cands)
      if (!std::isnan(c.value) && !c.episode.value("failed", false)) valid.push_back(&c);
    if (valid.size() < 2) {
      no_alt++;
      continue;
    }
    // Best: the highest value (the earliest on ties); worst: the lowest (the latest on ties).
    const Candidate* best = valid[0];
    const Candidate* worst = valid[0];
    for (const auto* c : valid) {
      if (c->value > best->value) best = c;
      if (c->value <= worst->value) worst = c;
    }
    if (!(best->value > worst->value)) {
      ties++;
      continue;
    }
    const json &tb = turn_of(best->episode, b.turn), &tw = turn_of(worst->episode, b.turn);
    const json sb = tb.value("steps", json::array()), sw = tw.value("steps", json::array());
    std::size_t step = 0;
    while (step < sb.size() && step < sw.size() && sb[step]["output"] == sw[step]["output"]) step++;
    if (step >= sb.size() || step >= sw.size()) {
      identical++;
      continue;
    }
    if (sb[step]["agent_state"]["messages"] != sw[step]["agent_state"]["messages"] || !sb[step].value("valid", true) ||
        !sw[step].value("valid", true)) {
      mismatch++;
      continue;
    }
    const json& src = run.episodes[b.episode];
    pref::Pair p;
    p.method = o.method;
    p.pair_id = src["episode_id"].get<std::string>() + "/t" + std::to_string(b.turn) + "/tree";
    p.episode_id = src["episode_id"].get<std::string>();
    p.task_id = src["task_id"].get<std::string>();
    p.turn = b.turn;
    p.step = static_cast<int>(step);
    p.kind = sb[step].value("kind", std::string());
    p.action_type = sb[step]["action"].is_object() ? sb[step]["action"].value("type", std::string()) : std::string("reply");
    p.prompt = llm::messages_from_json(sb[step]["agent_state"]["messages"]);
    p.chosen = sb[step]["output"].get<std::string>();
    p.rejected = sw[step]["output"].get<std::string>();
    p.score = 0;
    p.lambda_max = 5;
    char why[200];
    std::snprintf(why, sizeof why, "rollout value %.2f (success %d) beat %.2f (success %d) among %zu candidates",
                  best->value, best->episode.value("success", false) ? 1 : 0, worst->value,
                  worst->episode.value("success", false) ? 1 : 0, valid.size());
    p.reason = why;
    for (const auto& x : src["turns"]) {
      if (x.value("index", 0) >= b.turn) break;
      p.dialogue.push_back({"user", x["user"].value("utterance", std::string()), x["user"].value("policy", std::string())});
      p.dialogue.push_back({"assistant", x.value("reply", std::string()), x.value("act", std::string())});
    }
    const json& tt = turn_of(src, b.turn);
    if (tt.contains("user")) p.dialogue.push_back({"user", tt["user"].value("utterance", std::string()), tt["user"].value("policy", std::string())});
    json values = json::array();
    for (const auto* c : valid) values.push_back(c->value);
    p.extra = {{"values", values},
               {"chosen_from_source", best->source},
               {"rejected_from_source", worst->source},
               {"chosen_episode", best->episode.value("episode_id", std::string())},
               {"rejected_episode", worst->episode.value("episode_id", std::string())}};
    res.pairs.push_back(std::move(p));
  }
  std::vector<llm::CallRecord> calls = ctx.calls();
  pref::Cost llm = pref::cost_of_calls(calls, ctx.prices());
  res.cost.llm_calls = llm.llm_calls;
  res.cost.cache_hits = llm.cache_hits;
  res.cost.prompt_tokens = llm.prompt_tokens;
  res.cost.completion_tokens = llm.completion_tokens;
  res.cost.cost_usd = llm.cost_usd;
  res.report = {{"method", o.method},
                {"k", o.k},
                {"depth", o.depth},
                {"seed", o.seed},
                {"sampling", llm_agent ? "llm temperature " + std::to_string(o.temperature) : std::string("rule agent candidates")},
                {"episodes", run.episodes.size()},
                {"episodes_failed_skipped", skipped_failed},
                {"branch_points", points.size()},
                {"rollouts", rollouts},
                {"rollouts_aborted_no_alternative", aborted},
                {"prefix_divergent_rollouts", divergent},
                {"pairs", res.pairs.size()},
                {"skipped", {{"no_alternatives", no_alt}, {"equal_values", ties}, {"identical_steps", identical},
                             {"prompt_mismatch", mismatch}}}};
  return res;
}

}  // namespace ecpo::mtpo
