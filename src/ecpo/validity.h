// Validity checks of a rewrite (protocol §10 [D] 1–6), in order, the first failure naming the rejection:
//   1 not_one_action  the refinement parses as exactly one action of the grammar (action.h)
//   2 type_changed    same action type as the original (D9: enforced, not only asked for)
//   3 unchanged       differs from the original after whitespace normalisation
//   4 edit_too_large  token-level edit distance / original token count <= max_edit_ratio (default 0.8)
//   5 target_leak     names the target (title match >= 0.90) only when the original did
//   6 unknown_title   every quoted title of a Recommend matches an item of the DB or the turn's results
//                     (fuzzy >= 0.90); a Recommend without quotes must name at least one such item
// Free-text replies (agents without the grammar) skip 1–2. rewriter_error (no usable reply) is counted
// beside them by the rewrite driver.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ecpo/candidates.h"
#include "sim/catalog.h"

namespace ecpo::pref {

// Reason names in check order, then "rewriter_error".
const std::vector<std::string>& rejection_reasons();

struct ValidityOptions {
  double max_edit_ratio = 0.8;
  double title_threshold = 0.90;
};

struct Verdict {
  bool ok = true;
  std::string reason;  // one of rejection_reasons() when !ok
  std::string detail;  // a human-readable why
  double edit_ratio = 0;
};

// Checks `refinement` (the rewriter's one action) against candidate `c`. `catalog` is the item DB (may be
// null: then only the turn's retrieved items are known titles — none, so check 6 uses the DB only when given).
Verdict check_rewrite(const Candidate& c, const std::string& refinement, const sim::ItemCatalog* catalog,
                      const ValidityOptions& opts);

// Whitespace-separated tokens; Levenshtein distance over them; distance / max(1, |original tokens|).
std::vector<std::string> edit_tokens(std::string_view text);
std::size_t token_edit_distance(const std::vector<std::string>& a, const std::vector<std::string>& b);
double edit_ratio(std::string_view original, std::string_view rewrite);

// Spans inside "…", “…” or «…» quotes (trimmed, non-empty), in order.
std::vector<std::string> quoted_spans(std::string_view text);

// Whether `span` names an item title: normalised exact match, or token-sort ratio >= threshold against a
// title or its main title (title_match.h's rule).
bool span_is_known_title(const std::string& span, const std::vector<std::string>& titles, double threshold);

}  // namespace ecpo::pref
