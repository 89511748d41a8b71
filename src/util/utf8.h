// UTF-8 byte-level rules, one copy for the whole project (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF): validation, repair with U+FFFD, code-point counting, and the two questions streaming asks
// — how long is the sequence starting here, and does the text end inside a sequence that may still complete.
// Used by the JSON writers, the tokenizers' streaming decoder, generation's live text and structured output.
// Not here: normalisation and character classes (utf8proc, util/text.h).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace ecpo {

// Length (1..4) of the complete valid sequence starting at s[i]; 0 when the byte at i can never start or
// belong to a valid sequence there; -1 when the bytes from i are valid so far but s ends before the sequence
// does.
int utf8_sequence_at(std::string_view s, std::size_t i);

bool utf8_valid(std::string_view s);
// `s` with every invalid byte (or cut-short sequence) replaced by U+FFFD, one per byte.
std::string utf8_sanitize(std::string_view s);
// Number of code points (invalid bytes count one each).
std::size_t utf8_length(std::string_view s);
// Bytes at the end of `s` that begin a valid sequence still missing its last byte(s) (0..3): hold them back
// when streaming. 0 for a complete ending or bytes that can never become valid.
std::size_t utf8_incomplete_tail(std::string_view s);

}  // namespace ecpo
