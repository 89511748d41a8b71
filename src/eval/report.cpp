// The HTML report (see report.h).
#include "eval/report.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>
#include <set>

#include "agent/action.h"
#include "episode/metrics.h"
#include "eval/html.h"
#include "eval/svg.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace ecpo::eval {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const double kNaN = std::nan("");

std::string canon(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::weakly_canonical(fs::absolute(p), ec);
  return (ec ? fs::absolute(p).lexically_normal() : c).string();
}

double num_of(const json& j, const char* k) {
  if (!j.is_object() || !j.contains(k) || !j[k].is_number()) return kNaN;
  return j[k].get<double>();
}

std::string unique_name(std::set<std::string>& used, const fs::path& p) {
  fs::path a = fs::absolute(p).lexically_normal();
  if (a.filename().empty()) a = a.parent_path();
  std::string n = a.filename().string();
  if (used.count(n)) n = a.parent_path().filename().string() + "/" + n;
  while (used.count(n)) n += "'";
  used.insert(n);
  return n;
}

json metrics_of(const pref::RunData& r) {
  if (fs::exists(r.dir / "metrics.json")) return read_json_file(r.dir / "metrics.json");
  episode::MetricsBuilder mb;
  for (const auto& e : r.episodes) mb.add_episode(e);
  json m = episode::to_json(mb.finish({}, nullptr));
  m["calls"] = r.cost.llm_calls;
  m["prompt_tokens"] = r.cost.prompt_tokens;
  m["completion_tokens"] = r.cost.completion_tokens;
  m["cost_usd"] = r.cost.cost_usd;
  return m;
}

}  // namespace

ReportInputs collect_report_inputs(const std::vector<fs::path>& paths) {
  if (paths.empty()) throw Error("no input given", "ecpo report", "pass run, judge, rewrite, mtpo or training directories");
  ReportInputs in;
  std::set<std::string> used;
  for (const auto& p : paths) {
    if (!fs::exists(p)) throw Error("report input not found", p.string(), "pass existing directories");
    bool known = false;
    const fs::path d = fs::is_directory(p) ? p : p.parent_path();
    const std::string name = unique_name(used, d);
    if (fs::exists(d / "run.db") || fs::exists(d / "trajectories.jsonl")) {
      ReportRun r;
      r.name = name;
      r.data = pref::load_run(d);
      r.metrics = metrics_of(r.data);
      in.runs.push_back(std::move(r));
      known = true;
    }
    if (fs::exists(d / "wr.json")) {
      in.judges.push_back({name, read_json_file(d / "wr.json")});
      known = true;
    }
    if (fs::exists(d / "pairs-judge.json")) {
      in.pair_judges.push_back({name, read_json_file(d / "pairs-judge.json")});
      known = true;
    }
    if (fs::is_directory(d)) {
      std::vector<fs::path> subs;
      for (const auto& e : fs::directory_iterator(d))
        if (e.is_directory()) subs.push_back(e.path());
      std::sort(subs.begin(), subs.end());
      for (const auto& s : subs) {
        if (fs::exists(s / "wr.json")) {
          in.judges.push_back({s.filename().string(), read_json_file(s / "wr.json")});
          known = true;
        }
        if (fs::exists(s / "pairs-judge.json")) {
          in.pair_judges.push_back({s.filename().string(), read_json_file(s / "pairs-judge.json")});
          known = true;
        }
      }
    }
    if (fs::exists(d / "rewrite-report.json")) {
      ReportRewrite r;
      r.name = name;
      r.dir = d;
      r.report = read_json_file(d / "rewrite-report.json");
      if (fs::exists(d / "cost.json")) r.cost = read_json_file(d / "cost.json");
      if (fs::exists(d / "pairs.jsonl")) r.pairs = pref::read_pairs(d / "pairs.jsonl");
      if (!r.cost.is_null()) in.methods.push_back({r.cost.value("method", std::string("ecpo")) + " (" + name + ")", r.cost});
      in.rewrites.push_back(std::move(r));
      known = true;
    } else if (fs::exists(d / "cost.json")) {
      json c = read_json_file(d / "cost.json");
      in.methods.push_back({c.value("method", name) + " (" + name + ")", c});
      known = true;
    }
    if (fs::exists(d / "metrics.jsonl")) {
      ReportTraining t;
      t.name = name;
      JsonlReader rd(d / "metrics.jsonl");
      json j;
      while (rd.next(j))
        if (j.is_object() && j.contains("step") && j["step"].is_number()) t.steps.push_back(j);
      in.trainings.push_back(std::move(t));
      known = true;
    }
    if (!known)
      throw Error("not a run, judge, rewrite, mtpo or training directory", p.string(),
                  "pass directories holding run.db/trajectories.jsonl, wr.json, rewrite-report.json, cost.json or metrics.jsonl");
  }
  return in;
}

namespace {

const char* kCss = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1180px;margin:0 auto;padding:18px 28px 60px}
h1{font-size:24px;margin:8px 0 2px}h2{font-size:19px;margin:30px 0 8px;border-bottom:1px solid #d9dde5;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.sub{color:#5b6475;margin:0 0 12px}
table{border-collapse:collapse;background:#fff;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #dde1e8;padding:4px 8px;text-align:right;vertical-align:top}
th{background:#eef1f6;font-weight:600}td.l,th.l{text-align:left}
.banner{background:#fff7e0;border:1px solid #f0d68a;padding:8px 12px;border-radius:6px}
.banner.none{background:#e9f7ee;border-color:#a6dbb7}
.charts{display:flex;flex-wrap:wrap;gap:14px}.chart{background:#fff;border:1px solid #dde1e8;border-radius:6px}
.chart .ct{font-size:13px;font-weight:600}.chart .tick{font-size:10px;fill:#5b6475}.chart .al{font-size:11px;fill:#394150}
.chart .lg{font-size:11px}.chart .grid{stroke:#edf0f4}.chart .axis{stroke:#8a93a3}
details{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:6px 0;padding:4px 10px}
details details{margin-left:8px}summary{cursor:pointer;padding:2px 0}
.ok{color:#1f7a3a;font-weight:600}.bad{color:#b3261e;font-weight:600}
.ec{display:inline-block;min-width:18px;text-align:center;border-radius:4px;color:#fff;padding:0 4px}
.ec0,.ec1{background:#b3261e}.ec2{background:#d9622b}.ec3{background:#d99a2b}.ec4{background:#7aa33a}.ec5{background:#1f7a3a}.ecn{background:#9498a0}
.diff{background:#fff;border:1px solid #dde1e8;border-radius:6px;padding:8px 10px;margin:8px 0}
.diff .meta{color:#5b6475;font-size:12px;margin-bottom:4px}
del{background:#fbd3d0;color:#8d1c14;text-decoration:line-through}ins{background:#d3f3dc;color:#145c2a;text-decoration:none}
code{font-size:12px}.muted{color:#8a93a3}
)";

std::string td(const std::string& s, bool left = false) { return std::string(left ? "<td class=l>" : "<td>") + s + "</td>"; }
std::string th(const std::string& s, bool left = false) { return std::string(left ? "<th class=l>" : "<th>") + s + "</th>"; }

std::string ec_badge(const json& ec) {
  if (!ec.is_object()) return "<span class=\"ec ecn\">–</span>";
  int s = ec.value("score", 0);
  return "<span class=\"ec ec" + std::to_string(std::clamp(s, 0, 5)) + "\">" + std::to_string(s) + "</span>";
}

// The judge result whose A is this run (by path, else by name: "test-ecpo" ↔ judge "ecpo").
const ReportJudge* judge_for(const ReportInputs& in, const ReportRun& r) {
  const std::string me = canon(r.data.dir);
  for (const auto& j : in.judges)
    if (j.wr.contains("a") && j.wr["a"].is_string() && canon(j.wr["a"].get<std::string>()) == me) return &j;
  for (const auto& j : in.judges)
    if (r.name == j.name || (r.name.size() > j.name.size() && r.name.compare(r.name.size() - j.name.size(), j.name.size(), j.name) == 0 &&
                             r.name[r.name.size() - j.name.size() - 1] == '-'))
      return &j;
  return nullptr;
}

const ReportRewrite* rewrite_for(const ReportInputs& in, const ReportRun& r) {
  const std::string me = canon(r.data.dir);
  for (const auto& w : in.rewrites)
    if (w.report.contains("run") && canon(w.report["run"].get<std::string>()) == me) return &w;
  return nullptr;
}

std::string heuristic_section(const ReportInputs& in) {
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  for (const auto& r : in.runs) rows.push_back({"run " + r.name, r.data.heuristic_roles});
  for (const auto& w : in.rewrites)
    rows.push_back({"rewrite " + w.name, w.report.value("heuristic_roles", std::vector<std::string>{})});
  for (const auto& j : in.judges) rows.push_back({"judge " + j.name, j.wr.value("heuristic_roles", std::vector<std::string>{})});
  for (const auto& j : in.pair_judges)
    rows.push_back({"rewrite judge " + j.name, j.result.value("heuristic_roles", std::vector<std::string>{})});
  for (const auto& m : in.methods)
    rows.push_back({"method " + m.name, m.cost.value("heuristic_roles", std::vector<std::string>{})});
  bool any = false;
  for (const auto& r : rows) any = any || !r.second.empty();
  std::string s = "<section id=\"heuristic\" class=\"banner" + std::string(any ? "" : " none") + "\"><b>Heuristic roles.</b> ";
  if (!any) return s + "None: every role of every input was served by a model.</section>";
  s += "These roles were played by offline rules, not models; their numbers measure the pipeline, not model quality.<ul>";
  for (const auto& [src, roles] : rows)
    if (!roles.empty()) {
      std::string list;
      for (const auto& x : roles) list += (list.empty() ? "" : ", ") + html_escape(x);
      s += "<li>" + html_escape(src) + ": " + list + "</li>";
    }
  return s + "</ul></section>";
}

std::string runs_table(const ReportInputs& in) {
  if (in.runs.empty()) return "";
  std::string s = "<h2>Runs</h2><table id=\"runs\"><tr>" + th("run", true) + th("agent", true) + th("user", true) +
                  th("episodes") + th("SR") + th("R") + th("WR flex") + th("WR coh") + th("WR guide") + th("WR overall") +
                  th("EC mean") + th("LLM calls") + th("tokens") + th("cost $") + th("pairs") + "</tr>";
  for (const auto& r : in.runs) {
    const json& m = r.metrics;
    const ReportJudge* j = judge_for(in, r);
    auto wr = [&](const char* k) { return j ? fmt_num(num_of(j->wr["wr"], k)) : std::string("-"); };
    const ReportRewrite* w = rewrite_for(in, r);
    const double tokens = num_of(m, "prompt_tokens") + num_of(m, "completion_tokens");
    s += "<tr>" + td(html_escape(r.name), true) + td(html_escape(r.data.agent), true) + td(html_escape(r.data.user), true) +
         td(fmt_count(static_cast<double>(r.data.episodes.size()))) + td(fmt_num(num_of(m, "sr"))) +
         td(fmt_num(num_of(m, "recall"))) + td(wr("flexibility")) + td(wr("coherence")) + td(wr("guidance")) +
         td(wr("overall")) + td(fmt_num(num_of(m, "ec_mean"))) + td(fmt_count(num_of(m, "calls"))) + td(fmt_count(tokens)) +
         td(fmt_num(num_of(m, "cost_usd"), 4)) +
         td(w ? fmt_count(static_cast<double>(w->pairs.size())) + " <span class=muted>(λ≤" +
                    std::to_string(w->report.value("lambda_max", 5)) + ")</span>"
              : std::string("-")) +
         "</tr>";
  }
  return s + "</table><p class=sub>SR and R as protocol §8.3 defines them; WR against the expert run of the judge "
             "(ties ½, both orders); EC mean over rated turns with zeros included; cost at list price.</p>";
}

std::string costs_section(const ReportInputs& in, std::string& charts) {
  if (in.methods.empty()) return "";
  std::string s = "<h2>Cost per preference pair</h2><table id=\"costs\"><tr>" + th("method", true) + th("pairs") +
                  th("LLM calls / pair") + th("tokens / pair") + th("trajectories / pair") + th("cost $ / pair") +
                  th("role calls / pair") + "</tr>";
  std::vector<std::string> cats;
  Series calls{"LLM calls / pair", {}, {}}, roles{"role calls / pair", {}, {}}, traj{"trajectories / pair", {}, {}};
  for (const auto& m : in.methods) {
    const json& c = m.cost;
    s += "<tr>" + td(html_escape(m.name), true) + td(fmt_count(num_of(c, "pairs"))) +
         td(fmt_num(num_of(c, "llm_calls_per_pair"))) + td(fmt_count(num_of(c, "tokens_per_pair"))) +
         td(fmt_num(num_of(c, "trajectories_per_pair"), 3)) + td(fmt_num(num_of(c, "cost_usd_per_pair"), 5)) +
         td(fmt_num(num_of(c, "role_calls_per_pair"))) + "</tr>";
    cats.push_back(c.value("method", m.name));
    calls.y.push_back(num_of(c, "llm_calls_per_pair"));
    roles.y.push_back(num_of(c, "role_calls_per_pair"));
    traj.y.push_back(num_of(c, "trajectories_per_pair"));
  }
  s += "</table><p class=sub>Totals include the source run the pairs were built from. Role calls count every "
       "agent step, user turn, rating, rewrite and rollout step whether a model or a heuristic served it.</p>";
  ChartOptions o;
  o.title = "Calls per pair by method";
  o.y_label = "per pair";
  o.id = "plot-calls";
  charts += svg_bar_chart(cats, {calls, roles}, o);
  o.title = "Trajectories per pair by method";
  o.y_label = "trajectories";
  o.id = "plot-trajectories";
  charts += svg_bar_chart(cats, {traj}, o);
  return s;
}

std::string run_charts(const ReportInputs& in) {
  if (in.runs.empty()) return "";
  std::vector<Series> by_turn, hist;
  for (const auto& r : in.runs) {
    std::map<int, std::pair<double, int>> acc;
    std::vector<double> h(6, 0);
    double rated = 0;
    for (const auto& e : r.data.episodes)
      for (const auto& t : e["turns"])
        if (t["ec"].is_object()) {
          int sc = std::clamp(t["ec"].value("score", 0), 0, 5);
          auto& a = acc[t.value("index", 0)];
          a.first += sc;
          a.second++;
          h[static_cast<std::size_t>(sc)]++;
          rated++;
        }
    Series s{r.name, {}, {}};
    for (const auto& [turn, a] : acc) {
      s.x.push_back(turn + 1);
      s.y.push_back(a.first / a.second);
    }
    by_turn.push_back(s);
    Series hs{r.name, {}, {}};
    for (double v : h) hs.y.push_back(rated > 0 ? v / rated : kNaN);
    hist.push_back(hs);
  }
  ChartOptions a;
  a.title = "Mean EC score by turn";
  a.x_label = "turn";
  a.y_label = "EC (0–5)";
  a.id = "plot-ec-turn";
  ChartOptions b;
  b.title = "EC score histogram (share of rated turns)";
  b.x_label = "EC score";
  b.y_label = "share";
  b.id = "plot-ec-hist";
  return svg_line_chart(by_turn, a) + svg_bar_chart({"0", "1", "2", "3", "4", "5"}, hist, b);
}

std::string judges_section(const ReportInputs& in) {
  if (in.judges.empty() && in.pair_judges.empty()) return "";
  std::string s = "<h2>Win rate against the expert</h2>";
  if (!in.judges.empty()) {
    s += "<table id=\"wr\"><tr>" + th("judged", true) + th("judge", true) + th("tasks") + th("flexibility") + th("coherence") +
         th("guidance") + th("overall") + th("position consistency") + th("failures") + th("unmatched") + "</tr>";
    for (const auto& j : in.judges) {
      const json& w = j.wr;
      auto wr = [&](const char* k) { return fmt_num(num_of(w.value("wr", json::object()), k)); };
      s += "<tr>" + td(html_escape(j.name), true) + td(html_escape(w.value("judge", std::string("?"))), true) +
           td(fmt_count(num_of(w, "n"))) + td(wr("flexibility")) + td(wr("coherence")) + td(wr("guidance")) +
           td(wr("overall")) + td(fmt_num(num_of(w, "position_consistency"))) +
           td(std::to_string(w.value("failures", json::array()).size())) +
           td(std::to_string(w.value("unmatched", json::array()).size())) + "</tr>";
    }
    s += "</table><p class=sub>WR = (wins + ½·ties) / (2·N), each task judged in both orders; failed judgements "
         "count as ties and are listed in wr.json.</p>";
  }
  if (!in.pair_judges.empty()) {
    s += "<h3>Rewritten against original turns</h3><table id=\"pairs-judge\"><tr>" + th("pairs", true) + th("judge", true) +
         th("n") + th("win") + th("tie") + th("lose") + th("WR information fidelity") + th("WR coherence") +
         th("position consistency") + "</tr>";
    for (const auto& j : in.pair_judges) {
      const json& r = j.result;
      s += "<tr>" + td(html_escape(j.name), true) + td(html_escape(r.value("judge", std::string("?"))), true) +
           td(fmt_count(num_of(r, "n"))) + td(fmt_num(num_of(r, "win"))) + td(fmt_num(num_of(r, "tie"))) +
           td(fmt_num(num_of(r, "lose"))) + td(fmt_num(num_of(r["bias"], "information_fidelity"))) +
           td(fmt_num(num_of(r["bias"], "coherence"))) + td(fmt_num(num_of(r, "position_consistency"))) + "</tr>";
    }
    s += "</table>";
  }
  return s;
}

std::string action_diff_html(const std::string& a, const std::string& b);

std::string rewrite_section(const ReportInputs& in, const ReportOptions& o, std::string& charts) {
  if (in.rewrites.empty()) return "";
  std::string s = "<h2>Backward expectation derivation</h2><table id=\"rewrite\"><tr>" + th("rewrite", true) +
                  th("rewriter", true) + th("candidates") + th("accepted");
  const std::vector<std::string> reasons = {"not_one_action", "type_changed", "unchanged", "edit_too_large",
                                            "target_leak",    "unknown_title", "rewriter_error"};
  for (const auto& r : reasons) s += th(r);
  s += "</tr>";
  std::vector<Series> lambda_series;
  for (const auto& w : in.rewrites) {
    const json& r = w.report;
    s += "<tr>" + td(html_escape(w.name), true) + td(html_escape(r.value("rewriter", std::string("?"))), true) +
         td(fmt_count(num_of(r, "candidates"))) + td(fmt_count(num_of(r, "accepted")));
    for (const auto& k : reasons) s += td(fmt_count(num_of(r.value("rejected", json::object()), k.c_str())));
    s += "</tr>";
    Series ls{w.name, {}, {}};
    for (int l = 1; l <= 5; ++l) ls.y.push_back(num_of(r.value("pairs_per_lambda", json::object()), std::to_string(l).c_str()));
    lambda_series.push_back(ls);
  }
  s += "</table>";
  ChartOptions c;
  c.title = "Pairs per λ (score < λ)";
  c.x_label = "λ";
  c.y_label = "pairs";
  c.id = "plot-lambda";
  charts += svg_bar_chart({"1", "2", "3", "4", "5"}, lambda_series, c);
  s += "<h3>Original against rewritten turns</h3><div id=\"diffs\">";
  for (const auto& w : in.rewrites) {
    std::size_t shown = 0;
    for (const auto& p : w.pairs) {
      if (shown++ >= o.max_diffs) break;
      s += "<div class=diff><div class=meta>" + html_escape(w.name + " · " + p.pair_id) + " · EC " + std::to_string(p.score) +
           " · " + html_escape(p.reason) + "</div>" + action_diff_html(p.rejected, p.chosen) + "</div>";
    }
    if (w.pairs.size() > o.max_diffs)
      s += "<p class=sub>" + std::to_string(o.max_diffs) + " of " + std::to_string(w.pairs.size()) + " pairs shown.</p>";
  }
  return s + "</div>";
}

// Two actions of the same type: the keyword once and the diff of the arguments; otherwise a plain word diff.
std::string action_diff_html(const std::string& a, const std::string& b) {
  auto x = agent::parse_action(a), y = agent::parse_action(b);
  if (x && y && x->type == y->type)
    return std::string("<b>") + agent::action_type_keyword(x->type) + "</b>[" + diff_html(x->argument, y->argument) + "]";
  return diff_html(a, b);
}

std::string training_charts(const ReportInputs& in) {
  if (in.trainings.empty()) return "";
  std::vector<Series> loss, rewards;
  for (const auto& t : in.trainings) {
    Series l{t.name, {}, {}};
    std::map<std::string, Series> rw;
    for (const auto& j : t.steps) {
      const double step = j["step"].get<double>();
      if (j.contains("loss") && j["loss"].is_number()) {
        l.x.push_back(step);
        l.y.push_back(j["loss"].get<double>());
      }
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it.key().rfind("rewards/", 0) == 0 && it.value().is_number()) {
          Series& s = rw[it.key()];
          s.name = t.name + " " + it.key();
          s.x.push_back(step);
          s.y.push_back(it.value().get<double>());
        }
    }
    loss.push_back(l);
    for (auto& [k, s] : rw) rewards.push_back(s);
  }
  ChartOptions a;
  a.title = "Training loss";
  a.x_label = "optimiser step";
  a.y_label = "loss";
  a.y_from_zero = false;
  a.id = "plot-loss";
  std::string s = svg_line_chart(loss, a);
  if (!rewards.empty()) {
    ChartOptions b = a;
    b.title = "Implicit rewards";
    b.y_label = "reward";
    b.id = "plot-rewards";
    s += svg_line_chart(rewards, b);
  }
  return s;
}

std::string episodes_section(const ReportInputs& in, const ReportOptions& o) {
  if (in.runs.empty()) return "";
  std::string s = "<h2>Episodes</h2><div id=\"episodes\">";
  for (const auto& r : in.runs) {
    const std::size_t n = r.data.episodes.size();
    s += "<details class=run><summary><b>" + html_escape(r.name) + "</b> — " + std::to_string(n) + " episodes" +
         (n > o.max_episodes ? " (first " + std::to_string(o.max_episodes) + " shown)" : std::string()) + "</summary>";
    for (std::size_t i = 0; i < std::min(n, o.max_episodes); ++i) {
      const json& e = r.data.episodes[i];
      double sum = 0;
      int rated = 0;
      for (const auto& t : e["turns"])
        if (t["ec"].is_object()) sum += t["ec"].value("score", 0), rated++;
      const bool ok = e.value("success", false);
      s += "<details class=ep><summary>" + html_escape(e.value("episode_id", std::string())) + " · <code>" +
           html_escape(e.value("task_id", std::string())) + "</code> · " +
           (ok ? "<span class=ok>success</span>" : "<span class=bad>no success</span>") + " · EC mean " +
           (rated ? fmt_num(sum / rated) : std::string("-")) + " · " + std::to_string(e["turns"].size()) + " turns</summary>";
      s += "<table><tr>" + th("#") + th("user", true) + th("agent reply", true) + th("act", true) + th("EC") +
           th("reason", true) + "</tr>";
      for (const auto& t : e["turns"]) {
        const json& ec = t["ec"];
        s += "<tr>" + td(std::to_string(t.value("index", 0) + 1)) + td(html_escape(t["user"].value("utterance", std::string())), true) +
             td(html_escape(t.value("reply", std::string())), true) + td(html_escape(t.value("act", std::string())), true) +
             td(ec_badge(ec)) + td(ec.is_object() ? html_escape(ec.value("reason", std::string())) : std::string(), true) + "</tr>";
      }
      if (e.contains("end") && e["end"].is_object())
        s += "<tr>" + td("end") + td(html_escape(e["end"].value("utterance", std::string())), true) + td("", true) +
             td("", true) + td("") + td("", true) + "</tr>";
      s += "</table></details>";
    }
    s += "</details>";
  }
  return s + "</div>";
}

}  // namespace

std::string render_report(const ReportInputs& in, const ReportOptions& o) {
  std::string charts_runs = run_charts(in), charts_cost, charts_rw;
  std::string body;
  body += heuristic_section(in);
  body += runs_table(in);
  if (!charts_runs.empty()) body += "<div class=charts>" + charts_runs + "</div>";
  body += judges_section(in);
  std::string cost = costs_section(in, charts_cost);
  std::string rw = rewrite_section(in, o, charts_rw);
  if (!cost.empty()) body += cost + "<div class=charts>" + charts_cost + "</div>";
  if (!rw.empty()) body += rw.substr(0, rw.find("<h3>")) + "<div class=charts>" + charts_rw + "</div>" + rw.substr(rw.find("<h3>"));
  std::string tc = training_charts(in);
  if (!tc.empty()) body += "<h2>Training</h2><div class=charts>" + tc + "</div>";
  body += episodes_section(in, o);
  std::string inputs;
  auto add = [&](const std::string& kind, const std::string& name) { inputs += (inputs.empty() ? "" : ", ") + kind + " " + name; };
  for (const auto& r : in.runs) add("run", r.name);
  for (const auto& j : in.judges) add("judge", j.name);
  for (const auto& j : in.pair_judges) add("rewrite judge", j.name);
  for (const auto& w : in.rewrites) add("rewrite", w.name);
  for (const auto& m : in.methods) add("method", m.name);
  for (const auto& t : in.trainings) add("training", t.name);
  char when[64];
  std::time_t now = std::time(nullptr);
  std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
         "content=\"width=device-width,initial-scale=1\"><title>" +
         html_escape(o.title) + "</title><style>" + kCss + "</style></head><body><main><h1>" + html_escape(o.title) +
         "</h1><p class=sub>" + html_escape(inputs) + " · generated " + when + "</p>" + body + "</main></body></html>\n";
}

void write_report(const std::vector<fs::path>& paths, const fs::path& out, const ReportOptions& o) {
  ReportInputs in = collect_report_inputs(paths);
  write_file_atomic(out, render_report(in, o));
}

}  // namespace ecpo::eval
