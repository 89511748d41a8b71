// A fast path for the JSON lines the data stages read by the million (raw reviews and meta, users.jsonl): a
// strict RFC 8259 parser that drives an nlohmann json_sax handler with the events nlohmann's own parser
// would send (objects, arrays, keys, strings decoded to UTF-8, null/true/false, numbers as unsigned,
// integer or float exactly as nlohmann types them), several times faster (no token copies, ASCII fast paths).
// It accepts nothing nlohmann rejects, and gives up — returns false, possibly after sending some events — on
// whatever it is not sure of: malformed text, a byte-order mark, integers of 19 or more digits, floats that
// do not convert cleanly, nesting deeper than 256, a handler returning false. Callers then rerun
// nlohmann::json::sax_parse with a fresh handler, which decides and words any error.
#pragma once
#include <string_view>

#include <nlohmann/json.hpp>

namespace ecpo::data {

// Set by the parser before each string() and key() call: `plain` is true when the token had no escape
// sequence, so its decoded text is also its own JSON encoding (what a dump would write between the quotes).
struct FastJsonHints {
  bool plain = false;
};

bool fast_sax_parse(std::string_view text, nlohmann::json_sax<nlohmann::json>& sax, FastJsonHints* hints = nullptr);

// A DOM through the fast path (nlohmann's own SAX-to-DOM builder, so duplicate keys etc. behave as in
// json::parse); false when the fast parser gives up (`out` is then unspecified: use json::parse).
bool fast_parse_dom(std::string_view text, nlohmann::json& out);

}  // namespace ecpo::data
