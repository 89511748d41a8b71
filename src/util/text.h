// Text helpers shared across modules: trimming/splitting (UTF-8 byte rules: util/utf8.h), and the title
// normalisation used for item de-duplication and target matching (NFKC, case-fold, strip punctuation and a
// trailing parenthesised series/edition suffix, collapse whitespace). Fuzzy matching and ROUGE-L come later.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "util/utf8.h"  // utf8_valid, utf8_sanitize, utf8_length (kept reachable from here)

namespace ecpo {

std::string trim(std::string_view s);
std::vector<std::string> split(std::string_view s, char sep, bool keep_empty = false);
std::string join(const std::vector<std::string>& parts, std::string_view sep);
std::string to_lower_ascii(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
bool ends_with(std::string_view s, std::string_view suffix);


// NFKC + case-fold + strip punctuation/symbols + drop trailing "(...)"/"[...]" suffixes + collapse spaces.
// "The Hobbit (Lord of the Rings, Book 0)" and "the  hobbit" normalise to the same "the hobbit".
std::string normalize_title(std::string_view title);

// Collapses runs of whitespace to one space and trims.
std::string collapse_whitespace(std::string_view s);

}  // namespace ecpo
