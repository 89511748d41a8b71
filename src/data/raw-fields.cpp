// Field decoders for raw Amazon-2023 and Yelp dumps (see raw-fields.h).
#include "data/raw-fields.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "util/text.h"

namespace ecpo::data {

using json = nlohmann::json;

std::optional<double> parse_price(const json& v) {
  if (v.is_number()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0) return std::nullopt;
    return d;
  }
  if (!v.is_string()) return std::nullopt;
  std::string s = trim(v.get_ref<const std::string&>());
  for (std::string_view sign : {"USD", "US$", "$", "\xC2\xA3", "\xE2\x82\xAC"}) {
    if (starts_with(s, sign)) {
      s = trim(std::string_view(s).substr(sign.size()));
      break;
    }
  }
  std::string digits;
  for (char c : s)
    if (c != ',') digits += c;
  if (digits.empty()) return std::nullopt;
  for (char c : digits)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.')) return std::nullopt;  // "None", ranges, text
  char* end = nullptr;
  double d = std::strtod(digits.c_str(), &end);
  if (end != digits.c_str() + digits.size() || !std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

namespace {

// Recursive-descent parser for the Python literal subset; returns false on anything else.
class PyLiteral {
 public:
  explicit PyLiteral(std::string_view s) : s_(s) {}
  bool parse_all(json& out) {
    if (!value(out, 0)) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  void ws() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  bool word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    std::size_t j = i_ + w.size();
    if (j < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[j])) || s_[j] == '_')) return false;
    i_ = j;
    return true;
  }
  bool value(json& out, int depth) {
    if (depth > 32) return false;
    ws();
    if (i_ >= s_.size()) return false;
    char c = s_[i_];
    if (word("True")) return out = true, true;
    if (word("False")) return out = false, true;
    if (word("None")) return out = nullptr, true;
    if (c == '{') return dict(out, depth);
    if (c == '[' || c == '(') return list(out, depth, c == '[' ? ']' : ')');
    if (c == 'u' || c == 'b' || c == 'r') {
      if (i_ + 1 < s_.size() && (s_[i_ + 1] == '\'' || s_[i_ + 1] == '"')) {
        ++i_;
        return string(out);
      }
      return false;
    }
    if (c == '\'' || c == '"') return string(out);
    return number(out);
  }
  bool string(json& out) {
    char q = s_[i_++];
    std::string v;
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == q) return out = v, true;
      if (c == '\\' && i_ < s_.size()) {
        char e = s_[i_++];
        switch (e) {
          case 'n': v += '\n'; break;
          case 't': v += '\t'; break;
          case 'r': v += '\r'; break;
          default: v += e;  // \\ \' \" and anything else literally
        }
      } else {
        v += c;
      }
    }
    return false;
  }
  bool number(json& out) {
    std::size_t start = i_;
    if (i_ < s_.size() && (s_[i_] == '-' || s_[i_] == '+')) ++i_;
    bool digits = false, real = false;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (std::isdigit(static_cast<unsigned char>(c))) digits = true;
      else if (c == '.' || c == 'e' || c == 'E' || ((c == '-' || c == '+') && (s_[i_ - 1] == 'e' || s_[i_ - 1] == 'E'))) real = true;
      else break;
      ++i_;
    }
    if (!digits) return false;
    std::string t(s_.substr(start, i_ - start));
    char* end = nullptr;
    if (!real) {
      long long v = std::strtoll(t.c_str(), &end, 10);
      if (end == t.c_str() + t.size()) return out = v, true;
    }
    double d = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size() || !std::isfinite(d)) return false;
    out = d;
    return true;
  }
  bool list(json& out, int depth, char close) {
    ++i_;
    out = json::array();
    ws();
    if (i_ < s_.size() && s_[i_] == close) return ++i_, true;
    for (;;) {
      json v;
      if (!value(v, depth + 1)) return false;
      out.push_back(std::move(v));
      ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ',') {
        ++i_;
        ws();
        if (i_ < s_.size() && s_[i_] == close) return ++i_, true;
        continue;
      }
      if (s_[i_] == close) return ++i_, true;
      return false;
    }
  }
  bool dict(json& out, int depth) {
    ++i_;
    out = json::object();
    ws();
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
    for (;;) {
      json k, v;
      if (!value(k, depth + 1)) return false;
      std::string key = k.is_string() ? k.get<std::string>() : k.dump();
      ws();
      if (i_ >= s_.size() || s_[i_] != ':') return false;
      ++i_;
      if (!value(v, depth + 1)) return false;
      out[key] = std::move(v);
      ws();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ',') {
        ++i_;
        ws();
        if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
        continue;
      }
      if (s_[i_] == '}') return ++i_, true;
      return false;
    }
  }
  std::string_view s_;
  std::size_t i_ = 0;
};

// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool read_int(std::string_view s, std::size_t pos, std::size_t len, int& out) {
  if (pos + len > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + len; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

}  // namespace

json parse_python_literal(std::string_view text) {
  json out;
  PyLiteral p(text);
  if (p.parse_all(out)) return out;
  return json(std::string(text));
}

json parse_details(const json& v) {
  if (v.is_object()) return v;
  if (!v.is_string()) return json::object();
  std::string s = trim(v.get_ref<const std::string&>());
  if (s.empty()) return json::object();
  json parsed = json::parse(s, nullptr, false);
  if (parsed.is_discarded()) parsed = parse_python_literal(s);
  if (parsed.is_object()) return parsed;
  return json{{"details", s}};
}

std::optional<std::int64_t> parse_utc_datetime(std::string_view t) {
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (!read_int(t, 0, 4, y) || t.size() < 10 || t[4] != '-' || !read_int(t, 5, 2, mo) || t[7] != '-' ||
      !read_int(t, 8, 2, d))
    return std::nullopt;
  if (t.size() > 10) {
    if ((t[10] != ' ' && t[10] != 'T') || t.size() < 19 || !read_int(t, 11, 2, h) || t[13] != ':' ||
        !read_int(t, 14, 2, mi) || t[16] != ':' || !read_int(t, 17, 2, se))
      return std::nullopt;
    std::string_view rest = t.substr(19);
    if (!(rest.empty() || rest == "Z")) return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return std::nullopt;
  std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return ((days * 24 + h) * 60 + mi) * 60000 + static_cast<std::int64_t>(se) * 1000;
}

std::string format_utc_datetime(std::int64_t ms) {
  std::int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  std::int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
  std::int64_t rem = secs - days * 86400;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u %02lld:%02lld:%02lld", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                static_cast<long long>(rem % 60));
  return buf;
}

std::string domain_for_category(std::string_view category) {
  if (category == "Books") return "book";
  if (category == "Video_Games") return "game";
  return to_lower_ascii(category);
}

std::string category_from_path(std::string_view path) {
  std::string name = std::filesystem::path(std::string(path)).filename().string();
  for (std::string_view ext : {".gz", ".jsonl", ".json"})
    if (ends_with(name, ext)) name.resize(name.size() - ext.size());
  if (starts_with(name, "meta_")) name = name.substr(5);
  return name;
}

}  // namespace ecpo::data
