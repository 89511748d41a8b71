// SGPT data (protocol §9): one SFT row per agent call of every successful episode (project SR rule, §8.3)
// — Search steps included — holding exactly the messages the agent saw, re-rendered in the prompt variant
// the fine-tuned agent is served with (prompt-variant.h, D13), and the call's output. Invalid outputs and
// re-ask attempts are not trained on (counted). Formats: ecpo ({"messages"}, what `ecpo train sft` reads),
// trl (prompt/completion), llamafactory (alpaca + a dataset_info.json entry beside the file).
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ecpo/prompt-variant.h"
#include "llm/chat-model.h"

namespace ecpo::pref {

// One agent call as a training row.
struct CallRow {
  std::string episode_id, task_id, kind;
  int turn = 0, step = 0;
  std::vector<llm::Message> prompt;
  std::string output;
};

struct RowStats {
  std::size_t steps = 0;            // agent steps seen
  std::size_t rows = 0;             // rows made
  std::size_t skipped_invalid = 0;  // outputs that did not parse as an action
  std::size_t skipped_reask = 0;    // re-ask attempts (their prompt holds the failed output)
  std::size_t skipped_empty = 0;    // steps with no prompt or no output
  std::size_t converted = 0;        // prompts re-rendered into the target variant
  nlohmann::json variants_seen = nlohmann::json::object();  // variant → steps
};
nlohmann::json to_json(const RowStats& s);

// The trainable agent calls of one episode (every turn, every step), prompts converted by `conv`.
std::vector<CallRow> episode_call_rows(const nlohmann::json& episode, const PromptConverter& conv, RowStats& stats);

// A row in `format` (ecpo | trl | llamafactory); ecpo rows carry episode_id, task_id, turn, step.
nlohmann::json sft_row(const CallRow& r, const std::string& format);

struct SgptOptions {
  std::filesystem::path run, out;
  std::string format = "ecpo";      // ecpo | trl | llamafactory
  std::string prompt = "zero-shot"; // the variant the fine-tuned agent is served with (or as-run)
};

struct SgptSummary {
  std::size_t episodes = 0, successful = 0;
  RowStats stats;
  std::vector<std::string> heuristic_roles;
  std::filesystem::path out, meta, dataset_info;
};

// Writes opts.out (atomically) and opts.out with extension .meta.json (counts, heuristic roles); for
// llamafactory also dataset_info.json beside it. Throws ecpo::Error — writing nothing — when the run has
// no successful episode, the format is unknown or a prompt cannot be converted.
SgptSummary sgpt_build(const SgptOptions& opts);

// "ecpo", "trl", "llamafactory".
const std::vector<std::string>& sft_formats();

}  // namespace ecpo::pref
