// JsonAt and the JSON parse/error helpers (see json-read.h).
#include "util/json-read.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "util/error.h"
#include "util/text.h"

namespace ecpo {

namespace {

bool plain_key(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  return true;
}

// nlohmann messages start with "[json.exception.type_error.302] "; the id says nothing to a user.
std::string strip_prefix(const std::string& m) {
  if (m.rfind("[json.exception.", 0) == 0)
    if (auto p = m.find("] "); p != std::string::npos) return m.substr(p + 2);
  return m;
}

}  // namespace

const char* json_type_phrase(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null: return "null";
    case nlohmann::json::value_t::object: return "an object";
    case nlohmann::json::value_t::array: return "an array";
    case nlohmann::json::value_t::string: return "a string";
    case nlohmann::json::value_t::boolean: return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned: return "an integer";
    case nlohmann::json::value_t::number_float: return "a number";
    case nlohmann::json::value_t::binary: return "binary data";
    case nlohmann::json::value_t::discarded: return "nothing";
  }
  return "a value";
}

std::string JsonAt::path() const {
  if (!parent_) return path_;
  return key_.data() ? parent_->key_path(key_) : parent_->index_path(index_);
}

std::string JsonAt::key_path(std::string_view key) const {
  std::string p = path();
  if (plain_key(key)) {
    if (!p.empty()) p += '.';
    p += key;
  } else {
    // Quoted as a JSON string; invalid UTF-8 in a key must not make the error itself throw.
    p += '[';
    p += nlohmann::json(utf8_sanitize(key)).dump();
    p += ']';
  }
  return p;
}

std::string JsonAt::index_path(std::size_t i) const { return path() + "[" + std::to_string(i) + "]"; }

void JsonAt::fail(const std::string& what, const std::string& hint) const {
  std::string p = path();
  throw Error((p.empty() ? std::string("top level") : p) + ": " + what, src_->name,
              hint.empty() ? src_->hint : hint);
}

void JsonAt::wrong_type(const char* want) const {
  fail(std::string("expected ") + want + ", got " + json_type_phrase(*v_));
}

const JsonAt& JsonAt::require_object() const {
  if (!v_->is_object()) wrong_type("an object");
  return *this;
}

const JsonAt& JsonAt::require_array() const {
  if (!v_->is_array()) wrong_type("an array");
  return *this;
}

bool JsonAt::has(std::string_view key) const {
  require_object();
  auto it = v_->find(key);
  return it != v_->end() && !it->is_null();
}

std::optional<JsonAt> JsonAt::find(std::string_view key) const {
  require_object();
  auto it = v_->find(key);
  if (it == v_->end() || it->is_null()) return std::nullopt;
  return JsonAt(*it, *src_, key_path(key));
}

JsonAt JsonAt::get(std::string_view key) const {
  auto v = find(key);
  if (!v) {
    std::string p = key_path(key);
    throw Error(p + ": missing", src_->name, src_->hint);
  }
  return *v;
}

JsonAt JsonAt::at(std::size_t i) const {
  require_array();
  if (i >= v_->size())
    fail("expected at least " + std::to_string(i + 1) + " elements, got " + std::to_string(v_->size()));
  return JsonAt((*v_)[i], *src_, index_path(i));
}

const std::string& JsonAt::str() const {
  if (!v_->is_string()) wrong_type("a string");
  return v_->get_ref<const std::string&>();
}

bool JsonAt::boolean() const {
  if (!v_->is_boolean()) wrong_type("true or false");
  return v_->get<bool>();
}

std::int64_t JsonAt::integer(std::int64_t lo, std::int64_t hi) const {
  std::int64_t x;
  if (v_->is_number_unsigned()) {
    auto u = v_->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(std::to_string(u) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
    x = static_cast<std::int64_t>(u);
  } else if (v_->is_number_integer()) {
    x = v_->get<std::int64_t>();
  } else if (v_->is_number_float()) {
    // 3.0 is accepted as 3 (some writers emit integral floats); 3.5 is not.
    double d = v_->get<double>();
    if (!(std::floor(d) == d && d >= -9.2e18 && d <= 9.2e18)) wrong_type("an integer");
    x = static_cast<std::int64_t>(d);
  } else {
    wrong_type("an integer");
  }
  if (x < lo || x > hi)
    fail(std::to_string(x) + " is out of range [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

double JsonAt::number(double lo, double hi) const {
  if (!v_->is_number()) wrong_type("a number");
  double x = v_->get<double>();
  if (!std::isfinite(x) || x < lo || x > hi) {
    auto fmt = [](double d) {  // 3, not 3.0
      std::string t = nlohmann::json(d).dump();
      if (t.size() > 2 && t.compare(t.size() - 2, 2, ".0") == 0) t.resize(t.size() - 2);
      return t;
    };
    fail(fmt(x) + " is out of range [" + fmt(lo) + ", " + fmt(hi) + "]");
  }
  return x;
}

std::string JsonAt::str_or(std::string_view key, std::string fallback) const {
  auto v = find(key);
  return v ? v->str() : fallback;
}

bool JsonAt::bool_or(std::string_view key, bool fallback) const {
  auto v = find(key);
  return v ? v->boolean() : fallback;
}

std::int64_t JsonAt::integer_or(std::string_view key, std::int64_t fallback, std::int64_t lo, std::int64_t hi) const {
  auto v = find(key);
  return v ? v->integer(lo, hi) : fallback;
}

double JsonAt::number_or(std::string_view key, double fallback, double lo, double hi) const {
  auto v = find(key);
  return v ? v->number(lo, hi) : fallback;
}

nlohmann::json parse_json_text(std::string_view text, const std::string& source, const std::string& hint) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is 1-based and may point one past the end.
    std::size_t byte = std::min<std::size_t>(e.byte ? e.byte - 1 : 0, text.size());
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < byte; ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string msg = strip_prefix(e.what());
    // "parse error at line 1, column 5: syntax error while parsing value - invalid literal; last read: 'x'"
    if (auto p = msg.find(": "); p != std::string::npos && msg.rfind("parse error", 0) == 0) msg = msg.substr(p + 2);
    throw Error("invalid JSON: " + utf8_sanitize(msg), source + ":" + std::to_string(line) + ":" + std::to_string(col),
                hint);
  } catch (const nlohmann::json::exception& e) {
    // Not a syntax error but still the parser's: a number beyond double's range (out_of_range.406).
    throw Error("invalid JSON: " + utf8_sanitize(strip_prefix(e.what())), source, hint);
  }
}

void throw_json_error(const nlohmann::json::exception& e, const std::string& source, const std::string& hint) {
  throw Error("malformed JSON: " + utf8_sanitize(strip_prefix(e.what())), source, hint);
}

}  // namespace ecpo
