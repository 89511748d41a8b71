// Word terms of a text, as retrieval sees them: the FTS5 query builder and the hashing encoder share this
// one tokeniser so both agree with SQLite's unicode61 tokenizer on what a word is (categories L*, N*, Co
// are word characters; everything else — spaces, punctuation, symbols — separates words).
// It does not stem, drop stop words or know about any language.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace ecpo::retrieval {

// Splits UTF-8 `text` into words (invalid bytes are repaired to U+FFFD first, which separates words).
// With `fold`, the text is first NFKC-normalised, case-folded and stripped of diacritics, matching
// unicode61's "remove_diacritics 2" closely enough for feature hashing and de-duplication.
std::vector<std::string> split_terms(std::string_view text, bool fold);

}  // namespace ecpo::retrieval
