// Preference pairs (DESIGN "pair" format) and λ subsets (protocol §11 [D]). A pair row:
//   {pair_id, episode_id, task_id, turn, step, prompt{messages}, chosen, rejected, score, reason, lambda_max}
// plus kind, action_type, rewriter, rewrite_reason, edit_ratio, dialogue (what the user saw before the
// turn), method. chosen = the rewrite, rejected = the original, both as the agent's output text; prompt =
// exactly the messages the agent saw. A pair with EC score s belongs to every λ > s (score 0 included, D7),
// so λ subsets are filters of one file and nest: pairs(λ=1) ⊆ pairs(λ=2) ⊆ … ⊆ pairs(λ=lambda_max).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"
#include "sim/dialogue.h"

namespace ecpo::pref {

struct Pair {
  std::string pair_id, episode_id, task_id, kind, action_type, rewriter, rewrite_reason, method = "ecpo";
  int turn = 0, step = 0;
  std::vector<llm::Message> prompt;
  std::string chosen, rejected;
  int score = 0;          // EC score of the turn (ECPO) or the rejected branch's score (tree methods)
  std::string reason;     // the EC reason (ECPO) or why chosen beat rejected (tree methods)
  int lambda_max = 5;     // the largest λ of the pass that built it
  double edit_ratio = 0;
  sim::Dialogue dialogue;
  nlohmann::json extra = nlohmann::json::object();  // method-specific (tree scores, ...)
};

nlohmann::json to_json(const Pair& p);
// Throws ecpo::Error naming `where` (file:line) when a required field is missing or mistyped.
Pair pair_from_json(const nlohmann::json& j, const std::string& where);

// Reads a pairs.jsonl (every row checked).
std::vector<Pair> read_pairs(const std::filesystem::path& path);

// "1,2,3,4,5" → {1,2,3,4,5} sorted, unique. Throws ecpo::Error (a λ outside 1–5, not an integer, empty).
std::vector<int> parse_lambdas(const std::string& text, const std::string& where = "--lambda");
// One λ in 1..5, else ecpo::Error with a hint.
void check_lambda(int lambda, const std::string& where = "--lambda");

// Whether a pair of EC score `score` belongs to λ: score < λ.
inline bool pair_in_lambda(int score, int lambda) { return score < lambda; }

// {"1": n1, …} over `lambdas` for pairs of the given scores.
nlohmann::json pairs_per_lambda(const std::vector<Pair>& pairs, const std::vector<int>& lambdas);

}  // namespace ecpo::pref
