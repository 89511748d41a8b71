// One users.jsonl or items.jsonl row, fast (the task builder reads millions). Users: a SAX reader that fills
// a User without building a JSON DOM, and the row's text written directly; it takes only rows of the usual
// shape (an object with a string user_id and an array of review objects with a string item_id, a number
// rating, integer timestamps, no repeated keys) and answers false otherwise. Items: the row
// to_json(item_from_json(line)).dump() would give, written while parsing, for rows whose keys are exactly
// the item keys in sorted order (as items.jsonl is written). The full readers fall back to the DOM path
// (user_from_json / item_from_json) for anything else, so results and errors (file:line) are exactly
// those of records-io.h.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "data/types.h"

namespace ecpo::data {

// Fills `out` from a row of the usual shape; false (out unspecified) for anything else, malformed JSON included.
bool parse_user_line_fast(std::string_view line, User& out);

// The full reader: fast path, else json::parse + user_from_json. Throws ecpo::Error naming `where`
// ("malformed JSON line: ..." as JsonlReader words it, or user_from_json's message).
void read_user_line(std::string_view line, const std::string& where, User& out);

// Appends the row exactly as to_json(user).dump() writes it (keys in nlohmann's sorted order).
void append_user_json(std::string& out, const User& user);

// A users.jsonl line as the task builder needs it: the row its users.jsonl gets (reviews stable-sorted by
// timestamp, to_json(User).dump() text) and, per review in that order, the fields targets are made of.
struct UserRow {
  struct Review {
    std::size_t item_offset, item_size;  // into item_ids
    double rating;
    std::int64_t timestamp;
  };
  std::string row, user_id, item_ids;
  std::vector<Review> reviews;
  std::string_view item_id(const Review& r) const { return std::string_view(item_ids).substr(r.item_offset, r.item_size); }
};

// Fast path only: rows already in canonical form (keys in to_json order, all five review fields, reviews in
// time order), echoed while parsing; false otherwise (out unspecified then).
bool parse_user_row_fast(std::string_view line, UserRow& out);

// The full reader: fast path, else read_user_line + stable sort by timestamp + append_user_json.
void read_user_row(std::string_view line, const std::string& where, UserRow& out);

// An items.jsonl line as the task builder needs it: the canonical row and the fields it keys on.
struct ItemRow {
  std::string row;  // to_json(item_from_json(line)).dump(-1, ' ', false, replace)
  std::string item_id, title, domain;
};

// Fast path only: false when the line is not a canonical-order item row (row unspecified then).
bool parse_item_row_fast(std::string_view line, ItemRow& out);

// The full reader: fast path, else json::parse + item_from_json + to_json. Throws ecpo::Error naming `where`.
void read_item_row(std::string_view line, const std::string& where, ItemRow& out);

}  // namespace ecpo::data
