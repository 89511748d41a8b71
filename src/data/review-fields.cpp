// SAX extraction of raw review fields (see review-fields.h).
#include "data/review-fields.h"

#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "data/fast-json.h"

namespace ecpo::data {

namespace {

using json = nlohmann::json;

enum class Key { other, user_id, item_id, asin, rating, title, text, timestamp, date };

class Sax : public nlohmann::json_sax<json> {
 public:
  Sax(bool amazon, ReviewFields& out, std::string& error) : amazon_(amazon), out_(out), error_(error) {}

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t v) override { return number(static_cast<double>(v), v); }
  bool number_unsigned(number_unsigned_t v) override {
    return number(static_cast<double>(v), static_cast<std::int64_t>(v));
  }
  bool number_float(number_float_t v, const string_t&) override {
    return number(v, std::abs(v) < 9.2e18 ? static_cast<std::int64_t>(v) : 0);
  }
  bool string(string_t& v) override {
    if (depth_ != 1) return true;
    switch (key_) {
      case Key::user_id: out_.user_id = std::move(v), out_.has_user = true; break;
      case Key::item_id: out_.item_id = std::move(v), out_.has_item = true; break;
      case Key::asin: out_.asin = std::move(v), out_.has_asin = true; break;
      case Key::title: out_.title = std::move(v); break;
      case Key::text: out_.text = std::move(v); break;
      case Key::date: out_.date = std::move(v), out_.has_date = true; break;
      case Key::rating: {
        char* end = nullptr;
        double d = std::strtod(v.c_str(), &end);
        if (!v.empty() && end == v.c_str() + v.size() && std::isfinite(d)) out_.rating = d;
        else out_.rating.reset();
        break;
      }
      case Key::timestamp: {
        char* end = nullptr;
        long long t = std::strtoll(v.c_str(), &end, 10);
        if (!v.empty() && end == v.c_str() + v.size()) out_.timestamp = t;
        else out_.timestamp.reset();
        break;
      }
      case Key::other: break;
    }
    return true;
  }
  bool binary(binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override {
    if (depth_ == 0) out_.is_object = true;
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = classify(k);
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    if (auto p = error_.find("parse error"); p != std::string::npos) error_ = error_.substr(p);
    return false;
  }

 private:
  Key classify(const std::string& k) const {
    if (k == "user_id") return Key::user_id;
    if (k == (amazon_ ? "parent_asin" : "business_id")) return Key::item_id;
    if (amazon_ && k == "asin") return Key::asin;
    if (k == (amazon_ ? "rating" : "stars")) return Key::rating;
    if (amazon_ && k == "title") return Key::title;
    if (k == "text") return Key::text;
    if (amazon_ && k == "timestamp") return Key::timestamp;
    if (!amazon_ && k == "date") return Key::date;
    return Key::other;
  }
  // A non-string value for a string field clears it (a DOM lookup would not find a string either).
  bool scalar() {
    if (depth_ == 1) clear_current();
    return true;
  }
  bool number(double d, std::int64_t i) {
    if (depth_ != 1) return true;
    if (key_ == Key::rating) out_.rating = d;
    else if (key_ == Key::timestamp) out_.timestamp = i;
    else clear_current();
    return true;
  }
  void clear_current() {
    switch (key_) {
      case Key::user_id: out_.user_id.clear(), out_.has_user = false; break;
      case Key::item_id: out_.item_id.clear(), out_.has_item = false; break;
      case Key::asin: out_.asin.clear(), out_.has_asin = false; break;
      case Key::title: out_.title.clear(); break;
      case Key::text: out_.text.clear(); break;
      case Key::date: out_.date.clear(), out_.has_date = false; break;
      case Key::rating: out_.rating.reset(); break;
      case Key::timestamp: out_.timestamp.reset(); break;
      case Key::other: break;
    }
  }
  bool amazon_;
  ReviewFields& out_;
  std::string& error_;
  int depth_ = 0;
  Key key_ = Key::other;
};

// Reads one top-level string key; everything else is only validated.
class PeekSax : public nlohmann::json_sax<json> {
 public:
  PeekSax(std::string_view key, bool& is_object, std::string& value, std::string& error)
      : key_(key), is_object_(is_object), value_(value), error_(error) {}
  bool null() override { return other(); }
  bool boolean(bool) override { return other(); }
  bool number_integer(number_integer_t) override { return other(); }
  bool number_unsigned(number_unsigned_t) override { return other(); }
  bool number_float(number_float_t, const string_t&) override { return other(); }
  bool binary(binary_t&) override { return other(); }
  bool string(string_t& v) override {
    if (depth_ == 1 && match_) value_ = std::move(v);
    return true;
  }
  bool start_object(std::size_t) override {
    if (depth_ == 0) is_object_ = true;
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) match_ = k == key_;
    return true;
  }
  bool end_object() override { return --depth_, true; }
  bool start_array(std::size_t) override { return ++depth_, true; }
  bool end_array() override { return --depth_, true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    if (auto p = error_.find("parse error"); p != std::string::npos) error_ = error_.substr(p);
    return false;
  }

 private:
  bool other() {
    if (depth_ == 1 && match_) value_.clear();  // a later non-string value replaces an earlier string
    return true;
  }
  std::string_view key_;
  bool& is_object_;
  std::string& value_;
  std::string& error_;
  int depth_ = 0;
  bool match_ = false;
};

}  // namespace

bool peek_string_field(std::string_view line, std::string_view key, bool& is_object, std::string& value,
                       std::string& error) {
  auto reset = [&] {
    is_object = false;
    value.clear();
    error.clear();
  };
  reset();
  {
    PeekSax fast(key, is_object, value, error);
    if (fast_sax_parse(line, fast)) return true;
  }
  reset();  // not sure: nlohmann's parser decides (and words the error)
  PeekSax sax(key, is_object, value, error);
  return json::sax_parse(line.begin(), line.end(), &sax, nlohmann::detail::input_format_t::json, true);
}

bool parse_review_fields(std::string_view line, bool amazon, ReviewFields& out, std::string& error) {
  auto reset = [&] {
    out.is_object = false;
    out.user_id.clear(), out.item_id.clear(), out.asin.clear(), out.title.clear(), out.text.clear(), out.date.clear();
    out.has_user = out.has_item = out.has_asin = out.has_date = false;
    out.rating.reset();
    out.timestamp.reset();
    error.clear();
  };
  reset();
  {
    Sax fast(amazon, out, error);
    if (fast_sax_parse(line, fast)) return true;
  }
  reset();  // not sure: nlohmann's parser decides (and words the error)
  Sax sax(amazon, out, error);
  return json::sax_parse(line.begin(), line.end(), &sax, nlohmann::detail::input_format_t::json, true);
}

}  // namespace ecpo::data
