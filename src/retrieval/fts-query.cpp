// Free text → quoted, OR-joined FTS5 query (see fts-query.h).
#include "retrieval/fts-query.h"

#include <unordered_set>

#include "retrieval/text-terms.h"

namespace ecpo::retrieval {

std::string fts_query_from_text(std::string_view text, std::size_t max_terms) {
  std::vector<std::string> raw = split_terms(text, /*fold=*/false);
  std::unordered_set<std::string> seen;
  std::string query;
  std::size_t kept = 0;
  for (const std::string& term : raw) {
    if (kept == max_terms) break;
    // Two spellings that FTS5 folds to one token ("Café", "cafe") would count that token twice in bm25().
    std::vector<std::string> folded = split_terms(term, /*fold=*/true);
    std::string key;
    for (const auto& f : folded) key += f + ' ';
    if (key.empty() || !seen.insert(key).second) continue;
    if (!query.empty()) query += " OR ";
    query += '"';
    for (char c : term) {
      if (c == '"') query += '"';  // FTS5 strings escape '"' by doubling (words never hold one; be safe)
      query += c;
    }
    query += '"';
    ++kept;
  }
  return query;
}

}  // namespace ecpo::retrieval
