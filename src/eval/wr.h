// `ecpo judge`: pairwise win rate (protocol §8.3 [D], D12 not repeated) and the rewrite-vs-original check.
//   Runs: every task present in both A and B is judged twice (A shown first, then B first); each verdict is
//   mapped to A's side (+1 win, 0 tie, −1 loss); per criterion WR = (wins + ½·ties) / (2·N). A judgement
//   that still fails after `retries` new attempts counts as a tie on every criterion and is listed in
//   `failures`; tasks in only one run are listed in `unmatched`; position consistency = the share of (task,
//   criterion) judged in both orders whose two verdicts agree. DIR/wr.json:
//   {"wr": {flexibility, coherence, guidance, overall}, "judgements", "failures", "unmatched",
//    "position_consistency", …extra: counts, by criterion consistency, judge, heuristic_roles, a, b}.
//   Pairs (--pairs FILE): each rewrite against its original in both orders: win / tie / lose shares of
//   the 2·N verdicts (paper Table 5) and the bias check — the rewrite's WR on information fidelity and
//   coherence (Table 3). DIR/pairs-judge.json.
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ecpo/pairs.h"
#include "ecpo/run-reader.h"
#include "eval/judge.h"

namespace ecpo::eval {

// The conversation of an episode as both sides saw it: user utterance and agent reply per turn, then the
// user's closing utterance when there was one.
sim::Dialogue episode_dialogue(const nlohmann::json& episode);

// The WR of `a` against `b` (the wr.json object). Throws ecpo::Error when the runs share no task, or a
// shared task id names different targets (different task sets).
nlohmann::json judge_runs(const pref::RunData& a, const pref::RunData& b, Judge& judge, std::size_t concurrency,
                          int retries = 2);

// Rewrite (chosen) against original (rejected) for every pair (the pairs-judge.json object).
nlohmann::json judge_pairs(const std::vector<pref::Pair>& pairs, const std::string& domain, Judge& judge,
                           std::size_t concurrency, int retries = 2);

struct JudgeOptions {
  std::filesystem::path a, b;        // run directories (WR mode)
  std::filesystem::path pairs;       // pairs.jsonl (pairs mode)
  std::string domain;                // pairs mode: domain of the prompts (default: from the rewrite report's run)
  std::filesystem::path out;
  std::filesystem::path roles;       // roles YAML with a `judge` role; empty: llm::default_roles_path()
  bool offline = false;              // heuristic judge
  std::size_t concurrency = 16;
  int retries = 2;
  bool no_cache = false;
  std::optional<std::filesystem::path> cache;
  std::vector<std::string> overrides;  // roles.<role>.<key>=v
};

struct JudgeSummary {
  nlohmann::json result;
  std::filesystem::path file;
};

// Validates the inputs (before any LLM call), builds the judge, runs, writes DIR/wr.json or DIR/pairs-judge.json.
JudgeSummary judge_command(const JudgeOptions& opts);

}  // namespace ecpo::eval
