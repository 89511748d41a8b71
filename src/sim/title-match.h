// Title matching for success (SR), target-leak detection and recommendation checks (docs/protocol.md §8.3):
// both sides normalised by util's normalize_title (NFKC, case-fold, punctuation to spaces, trailing
// "(...)"/"[...]" suffix dropped, spaces collapsed); a title is named in a text when its normalised form —
// or its main title (before ':' / ' - '), when that keeps >= 2 words — occurs as whole words (score 1), or a
// window of the text's words reaches a fuzzy ratio >= the threshold (default 0.90) with the same numbers.
// [D] The fuzzy ratio is the token-SORT ratio, not rapidfuzz's token-set ratio named in protocol §8.3: the
// set ratio scores a window that shares most words as near-perfect ("A Last Guide to Home Gardening" vs
// "A Complete Guide to Home Gardening": 0.91; "... Volume 1" vs "... Volume 2": 1.0), false successes.
// Also the strict substring rule of the official code (for sr_substring). Pure functions, thread-safe.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace ecpo::sim {

// Indel similarity of two strings in [0, 1]: 1 − (insertions + deletions) / (|a| + |b|) over bytes
// (the ratio rapidfuzz calls `ratio` / 100). Two empty strings give 1.
double indel_ratio(std::string_view a, std::string_view b);

// Token-sort ratio of two already normalised strings (rapidfuzz `token_sort_ratio` / 100): indel_ratio of
// the two strings with their words sorted. Forgives word order, not missing words. 0 when either is empty.
double token_sort_ratio(std::string_view a, std::string_view b);

// The title variants matched in text: the normalised title and, when it differs and has >= 2 words, the
// normalised main title (text before the first ':' or " - ").
std::vector<std::string> title_variants(std::string_view title);

struct TitleMatch {
  double score = 0;      // 1 for a whole-word occurrence, else the best fuzzy window ratio
  bool exact = false;    // a variant occurs as whole words
  std::string variant;   // the variant that matched best
  std::size_t begin = 0, end = 0;  // the best window in the NORMALISED text's words: [begin, end)
};

// How well `text` names `title` (see the file comment). Windows span the variant's word count ± 1.
TitleMatch match_title_in_text(std::string_view text, std::string_view title);

// match_title_in_text(...).score >= threshold.
bool text_names_title(std::string_view text, std::string_view title, double threshold = 0.90);

// The official rule (defect D4, reported as sr_substring): lower-cased title is a substring of the
// lower-cased text (ASCII case folding, no other normalisation).
bool substring_names_title(std::string_view text, std::string_view title);

}  // namespace ecpo::sim
