// Appending JSON text directly to a string, for the hot output paths (users.jsonl rows, synthetic review
// lines, OpenAI request bodies) where building an nlohmann::json object per record costs more than the work
// around it.
// Output is byte-identical to nlohmann's dump() for valid UTF-8 strings, integers and ordinary doubles.
// Not a general serialiser: no objects/arrays, callers write the punctuation themselves.
#pragma once
#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ecpo {

// Appends `s` as a quoted JSON string (escapes as nlohmann does; `s` must be valid UTF-8).
inline void append_json_string(std::string& out, std::string_view s) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the pending unescaped run
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

inline void append_json_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Shortest round-trip digits with a ".0" on integral values, as nlohmann prints doubles in this range.
inline void append_json_double(std::string& out, double v) {
  const double a = std::fabs(v);
  if (!std::isfinite(v) || (a != 0 && (a < 1e-4 || a >= 1e15))) {
    out += nlohmann::json(v).dump();
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  std::string_view d(buf, static_cast<std::size_t>(r.ptr - buf));
  out += d;
  if (d.find_first_of(".e") == std::string_view::npos) out += ".0";
}

}  // namespace ecpo
