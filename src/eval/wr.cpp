// Win rate and rewrite judging (see wr.h).
#include "eval/wr.h"

#include <algorithm>
#include <array>
#include <map>

#include "agent/action.h"
#include "ecpo/candidates.h"
#include "llm/roles.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/text.h"
#include "util/thread-pool.h"

namespace ecpo::eval {

namespace fs = std::filesystem;
using nlohmann::json;

sim::Dialogue episode_dialogue(const json& e) {
  sim::Dialogue d;
  for (const auto& t : e.value("turns", json::array())) {
    d.push_back({"user", t["user"].value("utterance", std::string()), t["user"].value("policy", std::string())});
    d.push_back({"assistant", t.value("reply", std::string()), t.value("act", std::string())});
  }
  if (e.contains("end") && e["end"].is_object())
    d.push_back({"user", e["end"].value("utterance", std::string()), e["end"].value("policy", std::string())});
  return d;
}

namespace {

// One judgement job: item i in order o (0: the first item shown first, 1: swapped), retried.
struct Job {
  std::optional<Comparison> got;
  std::string error;
  int attempts = 0;
};

template <typename Call>
std::vector<Job> run_jobs(std::size_t items, std::size_t concurrency, int retries, Call call) {
  std::vector<Job> jobs(items * 2);
  ThreadPool pool(std::max<std::size_t>(1, std::min(concurrency, jobs.size())));
  pool.parallel_for(jobs.size(), [&](std::size_t j) {
    for (int attempt = 0; attempt <= retries; ++attempt) {
      jobs[j].attempts = attempt + 1;
      std::string err;
      jobs[j].got = call(j / 2, static_cast<int>(j % 2), attempt, &err);
      if (jobs[j].got) return;
      jobs[j].error = err;
    }
  });
  return jobs;
}

// The verdict for the item of interest (shown first in order 0, second in order 1): +1, 0, −1.
int mapped(const std::string& pick, int order) {
  if (pick == "tie") return 0;
  const int first_wins = pick == "1" ? 1 : -1;
  return order == 0 ? first_wins : -first_wins;
}

struct Tally {
  std::map<std::string, std::array<std::size_t, 3>> counts;  // criterion → {win, tie, loss}
  std::map<std::string, std::array<std::size_t, 2>> consistent;  // criterion → {agree, judged in both orders}
};

json tally_json(const Tally& t, const std::vector<std::string>& criteria, std::size_t n, json& wr, json& pc_by) {
  json counts = json::object();
  std::size_t agree = 0, both = 0;
  for (const auto& c : criteria) {
    const auto& k = t.counts.at(c);
    counts[c] = {{"win", k[0]}, {"tie", k[1]}, {"loss", k[2]}};
    wr[c] = n ? json((static_cast<double>(k[0]) + 0.5 * static_cast<double>(k[1])) / static_cast<double>(2 * n)) : json(nullptr);
    const auto& pc = t.consistent.at(c);
    pc_by[c] = pc[1] ? json(static_cast<double>(pc[0]) / static_cast<double>(pc[1])) : json(nullptr);
    agree += pc[0];
    both += pc[1];
  }
  return {{"counts", counts},
          {"position_consistency", both ? json(static_cast<double>(agree) / static_cast<double>(both)) : json(nullptr)}};
}

void aggregate(const std::vector<Job>& jobs, std::size_t i, const std::vector<std::string>& criteria, Tally& t,
               json& verdicts) {
  for (const auto& c : criteria) {
    int v[2] = {0, 0};
    bool ok[2] = {false, false};
    for (int o = 0; o < 2; ++o) {
      const Job& j = jobs[2 * i + static_cast<std::size_t>(o)];
      if (j.got) {
        ok[o] = true;
        v[o] = mapped(j.got->pick.at(c), o);
      }
      auto& k = t.counts[c];
      k[v[o] > 0 ? 0 : v[o] == 0 ? 1 : 2]++;  // a failed order counts as a tie
    }
    if (ok[0] && ok[1]) {
      t.consistent[c][1]++;
      if (v[0] == v[1]) t.consistent[c][0]++;
    }
    verdicts[c] = {ok[0] ? json(v[0]) : json(nullptr), ok[1] ? json(v[1]) : json(nullptr)};
  }
}

json order_json(const Job& j) {
  if (!j.got) return {{"failed", true}, {"error", j.error}, {"attempts", j.attempts}};
  json o = {{"reason", j.got->reason}, {"attempts", j.attempts}};
  for (const auto& [k, v] : j.got->pick) o[k] = v;
  return o;
}

Tally empty_tally(const std::vector<std::string>& criteria) {
  Tally t;
  for (const auto& c : criteria) {
    t.counts[c] = {0, 0, 0};
    t.consistent[c] = {0, 0};
  }
  return t;
}

}  // namespace

json judge_runs(const pref::RunData& a, const pref::RunData& b, Judge& judge, std::size_t concurrency, int retries) {
  std::map<std::string, const json*> ea, eb;
  for (const auto& e : a.episodes) ea.emplace(e["task_id"].get<std::string>(), &e);
  for (const auto& e : b.episodes) eb.emplace(e["task_id"].get<std::string>(), &e);
  std::vector<std::string> matched;
  json unmatched = json::array();
  for (const auto& [id, e] : ea) {
    if (eb.count(id)) {
      const std::string ta = e->value("target_item_id", std::string()), tb = eb[id]->value("target_item_id", std::string());
      if (ta != tb)
        throw Error("A and B are on different task sets: task " + id + " targets " + ta + " in A and " + tb + " in B",
                    a.dir.string() + " vs " + b.dir.string(), "judge runs simulated from the same `ecpo tasks build` output");
      matched.push_back(id);
    } else {
      unmatched.push_back({{"task_id", id}, {"only_in", "a"}});
    }
  }
  for (const auto& [id, e] : eb)
    if (!ea.count(id)) unmatched.push_back({{"task_id", id}, {"only_in", "b"}});
  if (matched.empty())
    throw Error("A and B are on different task sets: they share no task (" + std::to_string(ea.size()) + " and " +
                    std::to_string(eb.size()) + " tasks)",
                a.dir.string() + " vs " + b.dir.string(), "simulate both with the same --tasks, --split and --limit");
  if (a.domain != b.domain)
    throw Error("A and B are from different domains (" + a.domain + ", " + b.domain + ")", b.dir.string(),
                "judge runs of the same domain");
  std::vector<sim::Dialogue> da, db;
  for (const auto& id : matched) {
    da.push_back(episode_dialogue(*ea[id]));
    db.push_back(episode_dialogue(*eb[id]));
  }
  auto jobs = run_jobs(matched.size(), concurrency, retries, [&](std::size_t i, int order, int attempt, std::string* err) {
    JudgeCall call{"wr/" + matched[i] + (order ? "/ba" : "/ab"), attempt};
    return order == 0 ? judge.compare_dialogues(da[i], db[i], call, err) : judge.compare_dialogues(db[i], da[i], call, err);
  });
  const auto& crit = wr_criteria();
  Tally t = empty_tally(crit);
  json judgements = json::array(), failures = json::array();
  for (std::size_t i = 0; i < matched.size(); ++i) {
    json verdicts = json::object();
    aggregate(jobs, i, crit, t, verdicts);
    judgements.push_back({{"task_id", matched[i]},
                          {"a_episode", ea[matched[i]]->value("episode_id", std::string())},
                          {"b_episode", eb[matched[i]]->value("episode_id", std::string())},
                          {"ab", order_json(jobs[2 * i])},
                          {"ba", order_json(jobs[2 * i + 1])},
                          {"a_verdict", verdicts}});
    for (int o = 0; o < 2; ++o) {
      const Job& j = jobs[2 * i + static_cast<std::size_t>(o)];
      if (!j.got)
        failures.push_back({{"task_id", matched[i]}, {"order", o ? "ba" : "ab"}, {"attempts", j.attempts}, {"error", j.error}});
    }
  }
  json wr = json::object(), pc_by = json::object();
  json agg = tally_json(t, crit, matched.size(), wr, pc_by);
  std::vector<std::string> heur;
  for (const auto& h : a.heuristic_roles) heur.push_back("a: " + h);
  for (const auto& h : b.heuristic_roles) heur.push_back("b: " + h);
  if (judge.heuristic()) heur.push_back("judge (heuristic)");
  return {{"wr", wr},
          {"judgements", judgements},
          {"failures", failures},
          {"unmatched", unmatched},
          {"position_consistency", agg["position_consistency"]},
          {"position_consistency_by_criterion", pc_by},
          {"counts", agg["counts"]},
          {"n", matched.size()},
          {"judge", judge.label()},
          {"heuristic_roles", heur},
          {"a", fs::absolute(a.dir).lexically_normal().string()},
          {"b", fs::absolute(b.dir).lexically_normal().string()},
          {"a_agent", a.agent},
          {"b_agent", b.agent},
          {"retries", retries}};
}

namespace {
std::string act_of(const std::string& text, const std::string& action_type) {
  if (auto a = agent::parse_action(text)) return agent::action_type_name(a->type);
  return action_type.empty() ? std::string("reply") : action_type;
}
std::string user_text(const std::string& text) {
  if (auto a = agent::parse_action(text)) return a->argument;
  return text;
}
}  // namespace

json judge_pairs(const std::vector<pref::Pair>& pairs, const std::string& domain, Judge& judge, std::size_t concurrency,
                 int retries) {
  std::vector<StepView> views;
  for (const auto& p : pairs) {
    pref::Candidate c;
    c.kind = p.kind;
    c.prompt = p.prompt;
    StepView v;
    v.dialogue = p.dialogue;
    v.state = pref::candidate_state_text(c, domain);
    v.first = p.chosen;
    v.second = p.rejected;
    v.first_act = act_of(p.chosen, p.action_type);
    v.second_act = act_of(p.rejected, p.action_type);
    views.push_back(std::move(v));
  }
  const bool heur = judge.heuristic();
  auto jobs = run_jobs(pairs.size(), concurrency, retries, [&](std::size_t i, int order, int attempt, std::string* err) {
    StepView v = views[i];
    if (heur) {  // the offline rules read what the user would see
      v.first = user_text(v.first);
      v.second = user_text(v.second);
    }
    if (order == 1) {
      std::swap(v.first, v.second);
      std::swap(v.first_act, v.second_act);
    }
    return judge.compare_steps(v, {"pairs/" + pairs[i].pair_id + (order ? "/or" : "/ro"), attempt}, err);
  });
  const auto& crit = pair_criteria();
  Tally t = empty_tally(crit);
  json judgements = json::array(), failures = json::array();
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    json verdicts = json::object();
    aggregate(jobs, i, crit, t, verdicts);
    judgements.push_back({{"pair_id", pairs[i].pair_id},
                          {"score", pairs[i].score},
                          {"rewrite_first", order_json(jobs[2 * i])},
                          {"original_first", order_json(jobs[2 * i + 1])},
                          {"rewrite_verdict", verdicts}});
    for (int o = 0; o < 2; ++o) {
      const Job& j = jobs[2 * i + static_cast<std::size_t>(o)];
      if (!j.got)
        failures.push_back({{"pair_id", pairs[i].pair_id}, {"order", o ? "original_first" : "rewrite_first"},
                            {"attempts", j.attempts}, {"error", j.error}});
    }
  }
  json wr = json::object(), pc_by = json::object();
  json agg = tally_json(t, crit, pairs.size(), wr, pc_by);
  const auto& b = agg["counts"]["better"];
  const double total = static_cast<double>(2 * pairs.size());
  auto share = [&](const char* k) { return pairs.empty() ? json(nullptr) : json(b[k].get<double>() / total); };
  std::vector<std::string> heur_roles;
  for (const auto& p : pairs)
    if (p.rewriter == "heuristic") pref::add_heuristic_roles(heur_roles, {"rewriter (heuristic)"});
  if (heur) heur_roles.push_back("judge (heuristic)");
  return {{"win", share("win")},
          {"tie", share("tie")},
          {"lose", share("loss")},
          {"n", pairs.size()},
          {"bias", {{"information_fidelity", wr["information_fidelity"]}, {"coherence", wr["coherence"]}}},
          {"wr", wr},
          {"counts", agg["counts"]},
          {"position_consistency", agg["position_consistency"]},
          {"position_consistency_by_criterion", pc_by},
          {"judgements", judgements},
          {"failures", failures},
          {"judge", judge.label()},
          {"heuristic_roles", heur_roles}};
}

JudgeSummary judge_command(const JudgeOptions& o) {
  const bool pairs_mode = !o.pairs.empty();
  if (o.out.empty()) throw Error("no output directory", "--out", "pass --out DIR");
  if (pairs_mode && (!o.a.empty() || !o.b.empty()))
    throw Error("--pairs judges rewrites; --a/--b judge runs: give one or the other", "--pairs", "run two commands");
  if (!pairs_mode && (o.a.empty() || o.b.empty()))
    throw Error("judge needs --a RUNDIR and --b RUNDIR (or --pairs FILE)", "--a/--b", "e.g. ecpo judge --a runs/ecpo --b runs/expert --out judge/");
  if (o.retries < 0) throw Error("--retries must be >= 0", "--retries");
  // Inputs first: nothing is called before they are all readable.
  std::optional<pref::RunData> ra, rb;
  std::vector<pref::Pair> pairs;
  std::string domain = o.domain;
  std::vector<std::string> source_heuristic;  // pairs mode: the roles of the run and rewrite behind the pairs
  if (pairs_mode) {
    pairs = pref::read_pairs(o.pairs);
    const fs::path rep = fs::absolute(o.pairs).parent_path() / "rewrite-report.json";
    if (fs::exists(rep)) {
      json r = read_json_file(rep);
      source_heuristic = r.value("heuristic_roles", std::vector<std::string>{});
      if (domain.empty() && r.contains("run"))
        domain = pref::load_run_config(r["run"].get<std::string>()).value("domain", std::string());
    }
    if (domain.empty()) throw Error("cannot tell the pairs' domain", o.pairs.string(), "pass --domain book|game|yelp");
  } else {
    ra = pref::load_run(o.a);
    rb = pref::load_run(o.b);
    domain = ra->domain;
  }
  std::unique_ptr<Judge> judge;
  std::unique_ptr<llm::RoleSet> roles;
  if (o.offline) {
    judge = make_heuristic_judge(domain);
  } else {
    fs::path rp = o.roles.empty() ? llm::default_roles_path() : o.roles;
    require_exists(rp, "roles file", "pass --roles FILE (see configs/roles.yaml), or --offline for the heuristic judge");
    llm::RoleSetOptions rso;
    rso.no_cache = o.no_cache;
    rso.cache_path = o.cache;
    roles = std::make_unique<llm::RoleSet>(llm::load_roles(rp, o.overrides), rso);
    if (!roles->has("judge"))
      throw Error("the roles file has no role 'judge'", rp.string(), "add roles.judge (see configs/roles.yaml) or pass --offline");
    judge = make_llm_judge(roles->model("judge"), roles->spec("judge").params, domain);
  }
  JudgeSummary s;
  if (pairs_mode) {
    s.result = judge_pairs(pairs, domain, *judge, o.concurrency, o.retries);
    s.result["pairs_file"] = fs::absolute(o.pairs).lexically_normal().string();
    std::vector<std::string> h = source_heuristic;
    pref::add_heuristic_roles(h, s.result["heuristic_roles"].get<std::vector<std::string>>());
    s.result["heuristic_roles"] = h;
    s.file = o.out / "pairs-judge.json";
  } else {
    s.result = judge_runs(*ra, *rb, *judge, o.concurrency, o.retries);
    s.file = o.out / "wr.json";
  }
  fs::create_directories(o.out);
  write_json_file(s.file, s.result);
  return s;
}

}  // namespace ecpo::eval
