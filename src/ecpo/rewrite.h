// `ecpo rewrite`: backward expectation derivation over one run (protocol §10–11). One pass: every candidate
// with score < max(λ) gets one rewriter call (concurrently), every rewrite is validated (validity.h), the
// accepted ones become pairs, and every λ of the list is a filter of that one file. Writes, atomically:
//   DIR/pairs.jsonl          pair rows (pairs.h), in episode / turn / step order
//   DIR/rewrite-report.json  candidates, accepted, rejected by reason, pairs_per_lambda {"1": n, …},
//                            candidates_per_lambda, the rewriter, heuristic roles, examples of rejections
//   DIR/cost.json            the accounting of cost.h (source run + rewriter calls)
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ecpo/cost.h"
#include "ecpo/pairs.h"
#include "ecpo/rewriter.h"
#include "ecpo/run-reader.h"
#include "ecpo/validity.h"
#include "sim/catalog.h"

namespace ecpo::pref {

struct RewriteOptions {
  std::filesystem::path run, out;
  std::filesystem::path roles;        // roles YAML (the `rewriter` role); empty: llm::default_roles_path()
  std::vector<int> lambdas = {1, 2, 3, 4, 5};
  std::size_t concurrency = 10;
  bool offline = false;               // the heuristic rewriter
  bool no_cache = false;
  std::optional<std::filesystem::path> cache;
  std::filesystem::path items;        // item DB; empty: items.jsonl of the run's tasks directory
  // key=value: rewrite.max_edit_ratio, rewrite.title_threshold, roles.<role>.<key> (forwarded to the roles file).
  std::vector<std::string> overrides;
};

struct RewritePass {
  std::vector<Pair> pairs;
  nlohmann::json report;
  Cost rewriter_cost;                 // role_calls = rewriter invocations; LLM fields from the call records
};

// The pass over `run` with `rewriter` (tests call this with a scripted model). `calls` (may be null) is
// the sink the rewriter's calls go to; it is read once the pass is over, for the accounting.
RewritePass rewrite_pass(const RunData& run, Rewriter& rewriter, const sim::ItemCatalog* catalog,
                         const std::vector<int>& lambdas, const ValidityOptions& validity, std::size_t concurrency,
                         const llm::MemoryCallSink* calls = nullptr);

struct RewriteSummary {
  nlohmann::json report, cost;
  std::filesystem::path pairs_file, report_file, cost_file;
};

// Loads the run, builds the rewriter (offline heuristic or the roles file's `rewriter`), runs the pass and
// writes the three files. Throws ecpo::Error on bad input (before any LLM call).
RewriteSummary rewrite_run(const RewriteOptions& opts);

// The item DB of a run: `items` when given, else <config.tasks>/items.jsonl. Throws with a hint when absent.
sim::ItemCatalog load_run_catalog(const RunData& run, const std::filesystem::path& items = {});

}  // namespace ecpo::pref
