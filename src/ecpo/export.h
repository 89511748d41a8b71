// `ecpo pairs export`: the pairs of one λ (score < λ) in a trainer's format (training-reference.md §15):
//   trl-dpo       TRL conversational preference rows {prompt: [messages], chosen: [assistant], rejected: [assistant]}
//   llamafactory  alpaca preference rows {instruction, input: "", chosen, rejected, system, history?} and the
//                 dataset_info.json entry ("ranking": true) beside the output file
//   kto           TRL unpaired rows {prompt, completion: [assistant], label}: the rewrite desirable (true),
//                 the original undesirable (false) — all desirable rows first, then the undesirable ones
// Also writes <out>.meta.json (source, λ, rows, heuristic roles).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ecpo/pairs.h"

namespace ecpo::pref {

struct ExportOptions {
  std::filesystem::path pairs, out;
  int lambda = 5;
  std::string format = "trl-dpo";
};

struct ExportSummary {
  std::size_t pairs_read = 0, pairs_kept = 0, rows = 0;
  std::filesystem::path out, meta, dataset_info;
  std::vector<std::string> heuristic_roles;
};

// Throws ecpo::Error: unknown format, λ outside 1–5, λ above the pairs' lambda_max (never rewritten).
ExportSummary export_pairs(const ExportOptions& opts);

// The rows of `pairs` (already filtered) in `format`.
std::vector<nlohmann::json> export_rows(const std::vector<Pair>& pairs, const std::string& format);

// "trl-dpo", "llamafactory", "kto".
const std::vector<std::string>& export_formats();

}  // namespace ecpo::pref
