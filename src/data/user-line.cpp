// Fast users.jsonl row reader and writer (see user-line.h).
#include "data/user-line.h"

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

}  // namespace

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
