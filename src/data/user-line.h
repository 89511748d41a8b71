// One users.jsonl row, fast, both ways: a SAX reader that fills a User without building a JSON DOM, and the
// row's text written directly. The reader takes only rows of the usual shape (an object with a string
// user_id and an array of review objects with a string item_id, a number rating, integer timestamps, no
// repeated keys) and answers false otherwise; read_user_line then falls back to the DOM path
// (user_from_json), so results and errors (file:line) are exactly those of records-io.h.
#pragma once
#include <string>
#include <string_view>

#include "data/types.h"

namespace ecpo::data {

// Fills `out` from a row of the usual shape; false (out unspecified) for anything else, malformed JSON included.
bool parse_user_line_fast(std::string_view line, User& out);

// The full reader: fast path, else json::parse + user_from_json. Throws ecpo::Error naming `where`
// ("malformed JSON line: ..." as JsonlReader words it, or user_from_json's message).
void read_user_line(std::string_view line, const std::string& where, User& out);

// Appends the row exactly as to_json(user).dump() writes it (keys in nlohmann's sorted order).
void append_user_json(std::string& out, const User& user);

}  // namespace ecpo::data
