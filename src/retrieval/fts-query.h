// Turns free text (user or LLM output: quotes, hyphens, colons, '*', AND/OR/NOT/NEAR, any Unicode) into a
// safe SQLite FTS5 MATCH expression: split into words, drop case/diacritic duplicates, quote each word as an
// FTS5 string (so no word is ever read as an operator, column filter or prefix), and OR them together.
// It does not weight, stem or expand terms; raw query text must never reach MATCH except through here.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace ecpo::retrieval {

// Most words a query keeps (the first ones); longer LLM outputs are cut so one query stays cheap.
inline constexpr std::size_t kFtsMaxTerms = 64;

// `"red" OR "shoes"` for "Red shoes!"; "" when the text holds no word (callers return no hits then).
std::string fts_query_from_text(std::string_view text, std::size_t max_terms = kFtsMaxTerms);

}  // namespace ecpo::retrieval
