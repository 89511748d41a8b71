// Decoders for the loosely typed fields of the raw review dumps: Amazon prices ("$12.99", 12.99, null,
// "None"), Amazon `details` (object or JSON text), Yelp attribute values (Python-literal text such as
// "True", "u'free'", "{'garage': False}"), and Yelp dates ("YYYY-MM-DD HH:MM:SS", UTC). Pure functions;
// they never throw on odd values (they return nullopt / the input unchanged) — callers decide what is an error.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ecpo::data {

// Price as a non-negative number. Numbers pass through; strings are trimmed, a leading currency sign
// ("$", "£", "€", "USD") and thousands commas are dropped, and the rest must be one decimal number
// ("12.99", "$1,299.00", "0.00" → 0). null, "", "None", "null", "N/A", ranges ("5.99 - 9.99"), text and
// negative or non-finite values → nullopt (unknown price).
std::optional<double> parse_price(const nlohmann::json& v);

// A Python literal as Yelp writes attribute values: True/False/None, numbers, 'single' / "double" / u'...'
// strings, dicts {'k': v}, lists [..] and tuples (..). Returns the JSON equivalent, or the text unchanged
// (as a JSON string) when it is not a complete literal.
nlohmann::json parse_python_literal(std::string_view text);

// Amazon `details`: an object passes through; a string is parsed as JSON (then as a Python literal);
// an unparsable non-empty string is kept as {"details": text}; null / "" → {}.
nlohmann::json parse_details(const nlohmann::json& v);

// "YYYY-MM-DD HH:MM:SS" (also "YYYY-MM-DDTHH:MM:SS" and "YYYY-MM-DD") in UTC → milliseconds since the epoch.
std::optional<std::int64_t> parse_utc_datetime(std::string_view text);
// Milliseconds since the epoch → "YYYY-MM-DD HH:MM:SS" (UTC, seconds truncated).
std::string format_utc_datetime(std::int64_t ms);

// The project's domain name for an Amazon category: "Books" → "book", "Video_Games" → "game",
// anything else lower-cased ("Kindle_Store" → "kindle_store").
std::string domain_for_category(std::string_view category);
// The category named by a raw Amazon file: ".../meta_Video_Games.jsonl.gz" → "Video_Games".
std::string category_from_path(std::string_view path);

}  // namespace ecpo::data
