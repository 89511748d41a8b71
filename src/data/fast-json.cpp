// Strict fast JSON → SAX events (see fast-json.h). Grammar: RFC 8259; UTF-8 validity as RFC 3629 (the
// table nlohmann's lexer checks); escapes including surrogate pairs; whitespace = space, tab, LF, CR.
#include "data/fast-json.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace ecpo::data {

namespace {

using json = nlohmann::json;

constexpr int kMaxDepth = 256;

// Sax: nlohmann::json_sax<json> or anything with the same member functions (json_sax_dom_parser).
template <typename Sax>
class Parser {
 public:
  Parser(std::string_view s, Sax& sax, FastJsonHints* hints = nullptr)
      : p_(s.data()), end_(s.data() + s.size()), sax_(sax), hints_(hints ? hints : &no_hints_) {}

  bool document() {
    skip_ws();
    if (!value(0)) return false;
    skip_ws();
    return p_ == end_;
  }

 private:
  void skip_ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }

  bool value(int depth) {
    if (p_ == end_) return false;
    switch (*p_) {
      case '{': return object(depth + 1);
      case '[': return array(depth + 1);
      case '"':
        if (!string()) return false;
        return sax_.string(buf_);
      case 't': return literal("true") && sax_.boolean(true);
      case 'f': return literal("false") && sax_.boolean(false);
      case 'n': return literal("null") && sax_.null();
      default: return number();
    }
  }

  bool object(int depth) {
    if (depth > kMaxDepth) return false;
    ++p_;
    if (!sax_.start_object(static_cast<std::size_t>(-1))) return false;
    skip_ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      return sax_.end_object();
    }
    for (;;) {
      if (p_ == end_ || *p_ != '"' || !string() || !sax_.key(buf_)) return false;  // hints_ set by string()
      skip_ws();
      if (p_ == end_ || *p_ != ':') return false;
      ++p_;
      skip_ws();
      if (!value(depth)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        skip_ws();
        continue;
      }
      if (*p_ != '}') return false;
      ++p_;
      return sax_.end_object();
    }
  }

  bool array(int depth) {
    if (depth > kMaxDepth) return false;
    ++p_;
    if (!sax_.start_array(static_cast<std::size_t>(-1))) return false;
    skip_ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return sax_.end_array();
    }
    for (;;) {
      if (!value(depth)) return false;
      skip_ws();
      if (p_ == end_) return false;
      if (*p_ == ',') {
        ++p_;
        skip_ws();
        continue;
      }
      if (*p_ != ']') return false;
      ++p_;
      return sax_.end_array();
    }
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool hex4(std::uint32_t& out) {
    if (end_ - p_ < 4) return false;
    out = 0;
    for (int i = 0; i < 4; ++i) {
      int h = hex(p_[i]);
      if (h < 0) return false;
      out = out << 4 | static_cast<std::uint32_t>(h);
    }
    p_ += 4;
    return true;
  }

  void put_utf8(std::uint32_t cp) {
    if (cp < 0x80) {
      buf_ += static_cast<char>(cp);
    } else if (cp < 0x800) {
      buf_ += static_cast<char>(0xC0 | (cp >> 6));
      buf_ += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      buf_ += static_cast<char>(0xE0 | (cp >> 12));
      buf_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      buf_ += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      buf_ += static_cast<char>(0xF0 | (cp >> 18));
      buf_ += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      buf_ += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      buf_ += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // After a backslash: one escape into buf_.
  bool escape() {
    if (p_ == end_) return false;
    const char c = *p_++;
    switch (c) {
      case '"': buf_ += '"'; return true;
      case '\\': buf_ += '\\'; return true;
      case '/': buf_ += '/'; return true;
      case 'b': buf_ += '\b'; return true;
      case 'f': buf_ += '\f'; return true;
      case 'n': buf_ += '\n'; return true;
      case 'r': buf_ += '\r'; return true;
      case 't': buf_ += '\t'; return true;
      case 'u': {
        std::uint32_t cp;
        if (!hex4(cp)) return false;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return false;  // a low surrogate first
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          std::uint32_t lo;
          if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') return false;
          p_ += 2;
          if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        put_utf8(cp);
        return true;
      }
      default: return false;
    }
  }

  // One UTF-8 sequence starting at p_ (first byte >= 0x80), RFC 3629; advances past it.
  bool utf8() {
    const auto b = [&](std::ptrdiff_t i) { return static_cast<unsigned char>(p_[i]); };
    const unsigned char c = b(0);
    auto in = [](unsigned char x, unsigned lo, unsigned hi) { return x >= lo && x <= hi; };
    std::ptrdiff_t n;
    if (in(c, 0xC2, 0xDF)) n = 2;
    else if (in(c, 0xE0, 0xEF)) n = 3;
    else if (in(c, 0xF0, 0xF4)) n = 4;
    else return false;
    if (end_ - p_ < n) return false;
    unsigned lo = 0x80, hi = 0xBF;  // bounds of the second byte
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (!in(b(1), lo, hi)) return false;
    for (std::ptrdiff_t i = 2; i < n; ++i)
      if (!in(b(i), 0x80, 0xBF)) return false;
    p_ += n;
    return true;
  }

  // True when any of the 8 bytes is '"', '\\', below 0x20 or at/above 0x80 (may also flag a few others).
  static bool special8(std::uint64_t x) {
    constexpr std::uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    auto zero = [&](std::uint64_t v) { return (v - ones) & ~v; };
    return ((zero(x ^ (ones * '"')) | zero(x ^ (ones * '\\')) | ((x - ones * 0x20) & ~x) | x) & high) != 0;
  }

  // p_ at the opening quote; decodes into buf_ and leaves p_ after the closing quote. Sets hints_->plain.
  bool string() {
    ++p_;
    buf_.clear();
    hints_->plain = true;
    const char* run = p_;
    for (;;) {
      while (end_ - p_ >= 8) {  // eight ordinary bytes at a time
        std::uint64_t x;
        std::memcpy(&x, p_, 8);
        if (special8(x)) break;
        p_ += 8;
      }
      while (p_ < end_) {
        const auto c = static_cast<unsigned char>(*p_);
        if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
        ++p_;
      }
      if (p_ == end_) return false;
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        buf_.append(run, static_cast<std::size_t>(p_ - run));
        ++p_;
        return true;
      }
      if (c == '\\') {
        hints_->plain = false;
        buf_.append(run, static_cast<std::size_t>(p_ - run));
        ++p_;
        if (!escape()) return false;
        run = p_;
        continue;
      }
      if (c < 0x20) return false;
      if (!utf8()) return false;
    }
  }

  bool digits() {
    const char* s = p_;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    return p_ > s;
  }

  bool number() {
    const char* start = p_;
    const bool neg = *p_ == '-';
    if (neg) ++p_;
    if (p_ == end_) return false;
    if (*p_ == '0') ++p_;
    else if (*p_ >= '1' && *p_ <= '9') digits();
    else return false;
    bool is_float = false;
    if (p_ < end_ && *p_ == '.') {
      ++p_;
      if (!digits()) return false;
      is_float = true;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (!digits()) return false;
      is_float = true;
    }
    if (!is_float) {
      const std::ptrdiff_t n = p_ - start - (neg ? 1 : 0);
      if (n > 18) return false;  // might overflow 64 bits: nlohmann decides
      std::uint64_t v = 0;
      for (const char* q = start + (neg ? 1 : 0); q < p_; ++q) v = v * 10 + static_cast<std::uint64_t>(*q - '0');
      if (neg) return sax_.number_integer(-static_cast<std::int64_t>(v));
      return sax_.number_unsigned(v);
    }
    double d = 0;
    auto r = std::from_chars(start, p_, d);
    if (r.ec != std::errc() || r.ptr != p_ || !std::isfinite(d)) return false;
    num_.assign(start, p_);
    return sax_.number_float(d, num_);
  }

  const char* p_;
  const char* end_;
  Sax& sax_;
  FastJsonHints no_hints_;
  FastJsonHints* hints_;
  std::string buf_, num_;
};

}  // namespace

bool fast_sax_parse(std::string_view text, nlohmann::json_sax<nlohmann::json>& sax, FastJsonHints* hints) {
  Parser<nlohmann::json_sax<nlohmann::json>> parser(text, sax, hints);
  return parser.document();
}

bool fast_parse_dom(std::string_view text, nlohmann::json& out) {
  out = nlohmann::json();
  nlohmann::detail::json_sax_dom_parser<nlohmann::json> dom(out, /*allow_exceptions=*/false);
  Parser<nlohmann::detail::json_sax_dom_parser<nlohmann::json>> parser(text, dom);
  return parser.document() && !dom.is_errored();
}

}  // namespace ecpo::data
