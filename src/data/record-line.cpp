// Fast users.jsonl row reader and writer (see record-line.h).
#include "data/record-line.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/fast-json.h"
#include "data/records-io.h"
#include "util/error.h"
#include "util/json-text.h"

namespace ecpo::data {

namespace {

using json = nlohmann::json;

// States: top object (depth 1), the reviews array (depth 2), one review object (depth 3); values of other
// keys are skipped at any depth. Any deviation from the usual shape sets odd_ and stops the parse.
class UserSax : public nlohmann::json_sax<json> {
 public:
  explicit UserSax(User& out) : out_(out) {}

  bool null() override { return scalar(Kind::null); }
  bool boolean(bool) override { return scalar(Kind::other); }
  bool number_integer(number_integer_t v) override {
    return number(static_cast<double>(v), v, true);
  }
  bool number_unsigned(number_unsigned_t v) override {
    return number(static_cast<double>(v), static_cast<std::int64_t>(v), true);
  }
  bool number_float(number_float_t v, const string_t&) override { return number(v, 0, false); }
  bool binary(binary_t&) override { return odd(); }
  bool string(string_t& v) override {
    if (skip_) return true;
    if (depth_ == 1) {
      if (key_ == Key::user_id) return out_.user_id = std::move(v), true;
      return key_ == Key::other || odd();  // reviews as a string
    }
    if (depth_ == 3) {
      Review& r = out_.reviews.back();
      switch (key_) {
        case Key::item_id: r.item_id = std::move(v); return true;
        case Key::title: r.title = std::move(v); return true;
        case Key::text: r.text = std::move(v); return true;
        case Key::other: return true;
        default: return odd();  // rating / timestamp as a string
      }
    }
    return odd();  // a string inside the reviews array
  }
  bool start_object(std::size_t) override {
    if (skip_) return ++skip_, true;
    if (depth_ == 0) return depth_ = 1, true;
    if (depth_ == 1) {
      if (key_ != Key::other) return odd();
      return skip_ = 1, true;
    }
    if (depth_ == 2) {
      out_.reviews.emplace_back();
      seen_ = 0;
      return depth_ = 3, true;
    }
    if (key_ != Key::other) return odd();
    return skip_ = 1, true;
  }
  bool key(string_t& k) override {
    if (skip_) return true;
    unsigned bit = 0;
    if (depth_ == 1) {
      key_ = k == "user_id" ? Key::user_id : k == "reviews" ? Key::reviews : Key::other;
      bit = key_ == Key::user_id ? 1 : key_ == Key::reviews ? 2 : 0;
      if (bit && (top_seen_ & bit)) return odd();
      top_seen_ |= bit;
      return true;
    }
    key_ = k == "item_id" ? Key::item_id : k == "rating" ? Key::rating : k == "title" ? Key::title
         : k == "text" ? Key::text : k == "timestamp" ? Key::timestamp : Key::other;
    bit = key_ == Key::other ? 0 : 1u << static_cast<unsigned>(key_);
    if (bit && (seen_ & bit)) return odd();
    seen_ |= bit;
    return true;
  }
  bool end_object() override {
    if (skip_) return --skip_, true;
    if (depth_ == 3) {
      constexpr unsigned need = 1u << static_cast<unsigned>(Key::item_id) | 1u << static_cast<unsigned>(Key::rating);
      if ((seen_ & need) != need) return odd();
      depth_ = 2;
      return true;
    }
    if (depth_ == 1) {
      if (top_seen_ != 3) return odd();
      depth_ = 0;
      done_ = true;
      return true;
    }
    return odd();
  }
  bool start_array(std::size_t) override {
    if (skip_) return ++skip_, true;
    if (depth_ == 0) return odd();
    if (depth_ == 1 && key_ == Key::reviews) return depth_ = 2, true;
    if (key_ != Key::other || depth_ == 2) return odd();
    return skip_ = 1, true;
  }
  bool end_array() override {
    if (skip_) return --skip_, true;
    if (depth_ == 2) return depth_ = 1, key_ = Key::other, true;
    return odd();
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return odd(); }

  bool ok() const { return !odd_ && done_; }

 private:
  enum class Key : unsigned { other, user_id, reviews, item_id, rating, title, text, timestamp };
  enum class Kind { null, other };
  bool odd() {
    odd_ = true;
    return false;
  }
  // null / booleans: fine as skipped values or as a non-string title / text (which read as "").
  bool scalar(Kind) {
    if (skip_) return true;
    if (depth_ == 3 && (key_ == Key::title || key_ == Key::text || key_ == Key::other)) return true;
    if (depth_ == 1 && key_ == Key::other) return true;
    return odd();
  }
  bool number(double d, std::int64_t i, bool integral) {
    if (skip_) return true;
    if (depth_ == 3) {
      Review& r = out_.reviews.back();
      switch (key_) {
        case Key::rating: r.rating = d; return true;
        case Key::timestamp: return integral ? (r.timestamp = i, true) : odd();
        case Key::title: case Key::text: case Key::other: return true;
        default: return odd();
      }
    }
    if (depth_ == 1 && key_ == Key::other) return true;
    return odd();
  }

  User& out_;
  int depth_ = 0, skip_ = 0;
  Key key_ = Key::other;
  unsigned seen_ = 0, top_seen_ = 0;
  bool odd_ = false, done_ = false;
};

// Writes the canonical row of an item while parsing it. Top-level keys must be exactly attributes,
// categories, description, domain, item_id, price, title in that (sorted) order, with the types
// item_from_json reads; keys of nested objects must be strictly increasing (so a DOM dump, which sorts and
// de-duplicates them, would print the same). Anything else sets odd_ and stops the parse.
class ItemRowSax : public nlohmann::json_sax<json> {
 public:
  explicit ItemRowSax(ItemRow& out) : out_(out) {}

  bool null() override {
    if (depth_ == 0) return odd();
    if (depth_ == 1) {
      if (field_ == Field::price) return out_.row += "null", true;
      return odd();
    }
    return nested_scalar("null");
  }
  bool boolean(bool v) override {
    if (depth_ == 0) return odd();
    if (depth_ == 1) {
      if (field_ == Field::price) return out_.row += "null", true;  // a non-number price reads as unknown
      return odd();
    }
    return nested_scalar(v ? "true" : "false");
  }
  bool number_integer(number_integer_t v) override {
    if (depth_ == 0) return odd();
    if (depth_ == 1) return price(static_cast<double>(v));
    if (!nested_value()) return false;
    append_json_int(out_.row, v);
    return true;
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (depth_ == 0) return odd();
    if (depth_ == 1) return price(static_cast<double>(v));
    if (!nested_value()) return false;
    char b[24];
    auto r = std::to_chars(b, b + sizeof b, v);
    out_.row.append(b, r.ptr);
    return true;
  }
  bool number_float(number_float_t v, const string_t&) override {
    if (depth_ == 0) return odd();
    if (depth_ == 1) return price(v);
    if (!nested_value()) return false;
    append_json_double(out_.row, v);
    return true;
  }
  bool string(string_t& v) override {
    if (depth_ == 0) return odd();
    if (depth_ == 1) {
      switch (field_) {
        case Field::description: break;
        case Field::domain: out_.domain = v; break;
        case Field::item_id: out_.item_id = v; break;
        case Field::title: out_.title = v; break;
        case Field::price: return out_.row += "null", true;
        default: return odd();
      }
      put_string(v);
      return true;
    }
    if (depth_ == 2 && field_ == Field::categories) {
      if (!first_.back()) out_.row += ',';
      first_.back() = false;
      put_string(v);
      return true;
    }
    if (!nested_value()) return false;
    put_string(v);
    return true;
  }
  bool binary(binary_t&) override { return odd(); }
  bool start_object(std::size_t) override {
    if (depth_ == 0) {
      out_.row += '{';
      ++depth_;
      return true;
    }
    if (depth_ == 1 && field_ != Field::attributes) return odd();
    if (depth_ > 1 && !nested_value()) return false;
    out_.row += '{';
    ++depth_;
    first_.push_back(true);
    last_key_.emplace_back();
    in_object_.push_back(true);
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) {
      if (next_ >= kFields.size() || k != kFields[next_]) return odd();
      field_ = static_cast<Field>(next_);
      if (next_ > 0) out_.row += ',';
      ++next_;
      out_.row += '"';
      out_.row += k;
      out_.row += "\":";
      return true;
    }
    if (!first_.back() && k <= last_key_.back()) return odd();  // unsorted or repeated: a DOM would reorder
    if (!first_.back()) out_.row += ',';
    first_.back() = false;
    last_key_.back() = k;
    put_string(k);
    out_.row += ':';
    pending_key_ = true;
    return true;
  }
  bool end_object() override {
    --depth_;
    out_.row += '}';
    if (depth_ == 0) return next_ == kFields.size() ? (done_ = true) : odd();
    first_.pop_back();
    last_key_.pop_back();
    in_object_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) return odd();
    if (depth_ == 1 && field_ != Field::categories) return odd();
    if (depth_ > 1 && !nested_value()) return false;
    if (depth_ == 2 && field_ == Field::categories) return odd();  // a nested array among categories
    out_.row += '[';
    ++depth_;
    first_.push_back(true);
    last_key_.emplace_back();
    in_object_.push_back(false);
    return true;
  }
  bool end_array() override {
    --depth_;
    out_.row += ']';
    first_.pop_back();
    last_key_.pop_back();
    in_object_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return odd(); }

  bool ok() const { return done_ && !odd_; }
  FastJsonHints hints_;  // set by fast_sax_parse

 private:
  // A decoded string or key back as JSON: the token's own text when it had no escapes (hints_.plain).
  void put_string(std::string_view v) {
    if (hints_.plain) {
      out_.row += '"';
      out_.row += v;
      out_.row += '"';
    } else {
      append_json_string(out_.row, v);
    }
  }

  enum class Field : unsigned { attributes, categories, description, domain, item_id, price, title };
  static constexpr std::array<std::string_view, 7> kFields = {"attributes", "categories", "description", "domain",
                                                             "item_id",    "price",      "title"};
  bool odd() {
    odd_ = true;
    return false;
  }
  bool price(double v) {
    if (field_ != Field::price) return odd();
    append_json_double(out_.row, v);
    return true;
  }
  // Before a value inside attributes: arrays need their separator (objects wrote it with the key).
  bool nested_value() {
    if (field_ != Field::attributes || depth_ < 2) return odd();
    if (in_object_.back()) {
      if (!pending_key_) return odd();
      pending_key_ = false;
      return true;
    }
    if (!first_.back()) out_.row += ',';
    first_.back() = false;
    return true;
  }
  bool nested_scalar(const char* text) {
    if (depth_ == 2 && field_ == Field::categories) return odd();  // a non-string category
    if (!nested_value()) return false;
    out_.row += text;
    return true;
  }

  ItemRow& out_;
  int depth_ = 0;
  std::size_t next_ = 0;
  Field field_ = Field::attributes;
  std::vector<bool> first_, in_object_;
  std::vector<std::string> last_key_;
  bool pending_key_ = false, odd_ = false, done_ = false;
};

// Echoes a users.jsonl row already in canonical form (see parse_user_row_fast) into its output text while
// collecting the per-review fields; anything else sets odd_ and stops the parse.
class UserRowSax : public nlohmann::json_sax<json> {
 public:
  explicit UserRowSax(UserRow& out) : out_(out) {}

  bool null() override { return odd(); }
  bool boolean(bool) override { return odd(); }
  bool number_integer(number_integer_t v) override { return number(static_cast<double>(v), v, true); }
  bool number_unsigned(number_unsigned_t v) override {
    return number(static_cast<double>(v), static_cast<std::int64_t>(v), true);
  }
  bool number_float(number_float_t v, const string_t&) override { return number(v, 0, false); }
  bool binary(binary_t&) override { return odd(); }
  bool string(string_t& v) override {
    if (depth_ == 1 && top_ == 2) {
      out_.user_id = v;
      put_string(v);
      return true;
    }
    if (depth_ != 3) return odd();
    switch (field_) {
      case 0: {  // item_id
        UserRow::Review& r = out_.reviews.back();
        r.item_offset = out_.item_ids.size();
        r.item_size = v.size();
        out_.item_ids += v;
        break;
      }
      case 2: case 4: break;  // text, title
      default: return odd();
    }
    put_string(v);
    return true;
  }
  bool start_object(std::size_t) override {
    if (depth_ == 0) {
      out_.row += '{';
      return depth_ = 1, true;
    }
    if (depth_ != 2) return odd();
    if (!out_.reviews.empty()) out_.row += ',';
    out_.row += '{';
    out_.reviews.push_back({0, 0, 0, 0});
    next_field_ = 0;
    return depth_ = 3, true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) {
      if (top_ == 0 && k == "reviews") out_.row += "\"reviews\":";
      else if (top_ == 1 && k == "user_id") out_.row += ",\"user_id\":";
      else return odd();
      ++top_;
      return true;
    }
    static constexpr std::array<std::string_view, 5> kReview = {"item_id", "rating", "text", "timestamp", "title"};
    if (next_field_ >= kReview.size() || k != kReview[next_field_]) return odd();
    field_ = next_field_++;
    if (field_ > 0) out_.row += ',';
    out_.row += '"';
    out_.row += k;
    out_.row += "\":";
    return true;
  }
  bool end_object() override {
    if (depth_ == 3) {
      if (next_field_ != 5) return odd();
      out_.row += '}';
      return depth_ = 2, true;
    }
    if (top_ != 2) return odd();
    out_.row += '}';
    depth_ = 0;
    return done_ = true;
  }
  bool start_array(std::size_t) override {
    if (depth_ != 1 || top_ != 1) return odd();
    out_.row += '[';
    return depth_ = 2, true;
  }
  bool end_array() override {
    out_.row += ']';
    return depth_ = 1, true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return odd(); }
  bool ok() const { return done_ && !odd_; }
  FastJsonHints hints_;  // set by fast_sax_parse

 private:
  // A decoded string or key back as JSON: the token's own text when it had no escapes (hints_.plain).
  void put_string(std::string_view v) {
    if (hints_.plain) {
      out_.row += '"';
      out_.row += v;
      out_.row += '"';
    } else {
      append_json_string(out_.row, v);
    }
  }

  bool odd() {
    odd_ = true;
    return false;
  }
  bool number(double d, std::int64_t i, bool integral) {
    if (depth_ != 3) return odd();
    UserRow::Review& r = out_.reviews.back();
    if (field_ == 1) {
      r.rating = d;
      append_json_double(out_.row, d);
      return true;
    }
    if (field_ != 3 || !integral) return odd();
    if (out_.reviews.size() > 1 && i < out_.reviews[out_.reviews.size() - 2].timestamp) return odd();  // needs sorting
    r.timestamp = i;
    append_json_int(out_.row, i);
    return true;
  }

  UserRow& out_;
  int depth_ = 0;
  int top_ = 0;  // top-level keys seen (reviews, then user_id)
  std::size_t next_field_ = 0, field_ = 0;
  bool odd_ = false, done_ = false;
};

}  // namespace

bool parse_user_row_fast(std::string_view line, UserRow& out) {
  out.row.clear();
  out.user_id.clear();
  out.item_ids.clear();
  out.reviews.clear();
  UserRowSax sax(out);
  return fast_sax_parse(line, sax, &sax.hints_) && sax.ok();
}

void read_user_row(std::string_view line, const std::string& where, UserRow& out) {
  if (parse_user_row_fast(line, out)) return;
  User u;
  read_user_line(line, where, u);
  std::stable_sort(u.reviews.begin(), u.reviews.end(),
                   [](const Review& a, const Review& b) { return a.timestamp < b.timestamp; });
  out.row.clear();
  append_user_json(out.row, u);
  out.user_id = std::move(u.user_id);
  out.item_ids.clear();
  out.reviews.clear();
  for (const Review& r : u.reviews) {
    out.reviews.push_back({out.item_ids.size(), r.item_id.size(), r.rating, r.timestamp});
    out.item_ids += r.item_id;
  }
}

bool parse_item_row_fast(std::string_view line, ItemRow& out) {
  out.row.clear();
  out.item_id.clear();
  out.title.clear();
  out.domain.clear();
  ItemRowSax sax(out);
  return fast_sax_parse(line, sax, &sax.hints_) && sax.ok();
}

void read_item_row(std::string_view line, const std::string& where, ItemRow& out) {
  if (parse_item_row_fast(line, out)) return;
  Item it = item_from_json(parse_record_line(line, where), where);
  out.row = to_json(it).dump(-1, ' ', false, json::error_handler_t::replace);
  out.item_id = std::move(it.item_id);
  out.title = std::move(it.title);
  out.domain = std::move(it.domain);
}

bool parse_user_line_fast(std::string_view line, User& out) {
  out.user_id.clear();
  out.reviews.clear();
  {
    UserSax fast(out);
    if (fast_sax_parse(line, fast)) return fast.ok();
  }
  out.user_id.clear();  // not sure (or an odd row): nlohmann's parser decides
  out.reviews.clear();
  UserSax sax(out);
  const bool parsed = json::sax_parse(line.begin(), line.end(), &sax, nlohmann::detail::input_format_t::json, true);
  return parsed && sax.ok();
}

void read_user_line(std::string_view line, const std::string& where, User& out) {
  if (parse_user_line_fast(line, out)) return;
  out = user_from_json(parse_record_line(line, where), where);
}

void append_user_json(std::string& out, const User& u) {
  out += "{\"reviews\":[";
  for (std::size_t i = 0; i < u.reviews.size(); ++i) {
    const Review& r = u.reviews[i];
    if (i) out += ',';
    out += "{\"item_id\":";
    append_json_string(out, r.item_id);
    out += ",\"rating\":";
    append_json_double(out, r.rating);
    out += ",\"text\":";
    append_json_string(out, r.text);
    out += ",\"timestamp\":";
    append_json_int(out, r.timestamp);
    out += ",\"title\":";
    append_json_string(out, r.title);
    out += '}';
  }
  out += "],\"user_id\":";
  append_json_string(out, u.user_id);
  out += '}';
}

}  // namespace ecpo::data
