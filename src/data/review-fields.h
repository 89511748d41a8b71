// Extracts the few fields the importer needs from one raw review line with a SAX parser (data/fast-json.h,
// falling back to nlohmann's for lines it is unsure of), so no JSON DOM is built per review (the import's
// hot loop). Amazon-2023 and Yelp key sets. Only top-level keys
// are read; a later duplicate key wins, as with a DOM. It does not validate or interpret field meaning.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ecpo::data {

struct ReviewFields {
  bool is_object = false;
  std::string user_id, item_id, asin, title, text, date;
  bool has_user = false, has_item = false, has_asin = false, has_date = false;
  std::optional<double> rating;        // "rating" (Amazon) / "stars" (Yelp): number or numeric string
  std::optional<std::int64_t> timestamp;  // Amazon "timestamp": integer, float or digit string
};

// Parses `line` into `out` (reset first). Returns false on malformed JSON and sets `error` to the parser's
// "parse error at ...: ..." text.
bool parse_review_fields(std::string_view line, bool amazon, ReviewFields& out, std::string& error);

// Validates `line` as JSON and reads one top-level string field (e.g. a meta line's parent_asin) without
// building a DOM. Returns false on malformed JSON (`error` set); `is_object` / `value` report what was found
// (`value` empty when the key is absent or not a string).
bool peek_string_field(std::string_view line, std::string_view key, bool& is_object, std::string& value,
                       std::string& error);

}  // namespace ecpo::data
