// The plan and results tables of `ecpo pipeline`, read from the stage outputs of the run tree.
#include "pipeline/results.h"

#include <cmath>
#include <iostream>

#include "pipeline/stamp.h"
#include "util/fs.h"
#include "util/table.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace ecpo::pipeline {

namespace {

std::optional<json> read_json(const fs::path& p) {
  if (!fs::exists(p)) return std::nullopt;
  try {
    return json::parse(read_file(p));
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::string num(double v, int decimals = 2) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

std::string human(double v) {
  char buf[48];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.1fG", v / 1e9);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.1fM", v / 1e6);
  else if (v >= 1e4) std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

std::string duration(double s) {
  char buf[48];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%.1f min", s / 60);
  else std::snprintf(buf, sizeof buf, "%.0f s", s);
  return buf;
}

std::string metric(const json& j, const char* key, int decimals = 2) {
  if (!j.contains(key) || !j[key].is_number()) return "-";
  return num(j[key].get<double>(), decimals);
}

}  // namespace

void print_plan(std::ostream& out, const Recipe& r, const std::vector<Stage>& stages,
                const std::vector<StageState>& states, const std::vector<Estimate>& estimates) {
  out << "recipe " << r.source.string() << " → " << r.out_dir.string() << (r.offline ? " (offline)" : "") << "\n";
  Table t({"stage", "state", "LLM calls", "tokens in", "tokens out", "USD", "time", "basis"});
  Estimate total;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const Estimate& e = estimates[i];
    const bool todo = states[i].state != "up to date" && states[i].state != "not selected";
    t.row({stages[i].name, states[i].state, human(e.calls), human(e.prompt_tokens), human(e.completion_tokens),
               num(e.usd), duration(e.seconds), e.basis});
    if (todo) {
      total.calls += e.calls;
      total.prompt_tokens += e.prompt_tokens;
      total.completion_tokens += e.completion_tokens;
      total.usd += e.usd;
      total.seconds += e.seconds;
    }
  }
  t.row({"total (to run)", "", human(total.calls), human(total.prompt_tokens), human(total.completion_tokens),
             num(total.usd), duration(total.seconds), ""});
  t.print(out);
  out << "\ncommands:\n";
  for (std::size_t i = 0; i < stages.size(); ++i) {
    if (states[i].state == "up to date" || states[i].state == "not selected") continue;
    const fs::path dir = r.out_dir / stages[i].name;
    for (const auto& c : stages[i].commands(dir, r.out_dir, false)) out << "  " << argv_display(c) << "\n";
  }
}

json collect_results(const Recipe& r) {
  json res = {{"rows", json::array()}, {"pairs", json::object()}, {"heuristic_roles", json::array()}};
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"base", "test-base"}, {"sgpt", "test-sgpt"}, {"ecpo", "test-ecpo"}, {"expert", "test-expert"}};
  for (const auto& [label, stage] : rows) {
    auto m = read_json(r.out_dir / stage / "metrics.json");
    if (!m) continue;
    json row = {{"model", label}};
    for (const char* k : {"episodes", "sr", "sr_substring", "recall", "ec_mean", "invalid_action_rate", "calls_per_turn"})
      if (m->contains(k)) row[k] = (*m)[k];
    if (auto wr = read_json(r.out_dir / "judge" / label / "wr.json"); wr && wr->contains("wr")) row["wr"] = (*wr)["wr"];
    else if (label == "expert") row["wr"] = {{"overall", 0.5}, {"flexibility", 0.5}, {"coherence", 0.5}, {"guidance", 0.5}};
    res["rows"].push_back(row);
  }
  if (auto rep = read_json(r.out_dir / "rewrite" / "rewrite-report.json")) {
    if (rep->contains("pairs_per_lambda")) res["pairs"] = (*rep)["pairs_per_lambda"];
    res["rewrite"] = *rep;
  }
  if (r.offline) res["heuristic_roles"] = {"user (agenda)", "ec_rater", "expert agent (rule)", "persona", "rewriter", "judge"};
  const fs::path report = r.out_dir / "report" / "report.html";
  if (fs::exists(report)) res["report"] = report.string();
  return res;
}

void print_results(std::ostream& out, const Recipe& r) {
  const json res = collect_results(r);
  if (res["rows"].empty()) return;
  out << "\n== results (" << r.name << ", test split)\n";
  Table t({"model", "episodes", "SR", "R", "WR", "WR flex", "WR coh", "WR guide", "EC mean", "invalid actions"});
  for (const auto& row : res["rows"]) {
    auto wr = [&](const char* k) {
      return row.contains("wr") && row["wr"].contains(k) ? num(row["wr"][k].get<double>()) : std::string("-");
    };
    t.row({row["model"].get<std::string>(), metric(row, "episodes", 0), metric(row, "sr"), metric(row, "recall"),
               wr("overall"), wr("flexibility"), wr("coherence"), wr("guidance"), metric(row, "ec_mean"),
               metric(row, "invalid_action_rate")});
  }
  t.print(out);
  if (!res["pairs"].empty()) {
    out << "pairs per λ:";
    for (const auto& [l, n] : res["pairs"].items()) out << "  λ=" << l << ": " << n.dump();
    out << "\n";
  }
  if (!res["heuristic_roles"].empty()) {
    out << "heuristic roles (offline recipe):";
    for (const auto& h : res["heuristic_roles"]) out << " " << h.get<std::string>() << ";";
    out << " the student agent is a real model\n";
  }
  if (res.contains("report")) out << "report: " << res["report"].get<std::string>() << "\n";
}

}  // namespace ecpo::pipeline
