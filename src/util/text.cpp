// UTF-8 helpers and title normalisation (see text.h). Unicode tables come from utf8proc.
#include "util/text.h"

#include <cstdlib>
#include <utf8proc.h>

namespace ecpo {

std::string trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

std::vector<std::string> split(std::string_view s, char sep, bool keep_empty) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto p = s.find(sep, start);
    auto piece = s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start);
    if (keep_empty || !piece.empty()) out.emplace_back(piece);
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

std::string to_lower_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::string collapse_whitespace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
    } else {
      if (space) out += ' ';
      space = false;
      out += c;
    }
  }
  return out;
}

namespace {
// Removes trailing bracketed groups: "Title (Series, #2) [Paperback]" → "Title".
std::string strip_bracket_suffixes(std::string s) {
  for (;;) {
    std::string t = trim(s);
    if (t.empty()) return t;
    char close = t.back();
    char open = close == ')' ? '(' : close == ']' ? '[' : 0;
    if (!open) return t;
    int depth = 0;
    std::size_t i = t.size();
    while (i-- > 0) {
      if (t[i] == close) ++depth;
      else if (t[i] == open && --depth == 0) break;
    }
    if (i == std::string::npos || i == 0) return t;  // unbalanced, or the whole title is bracketed
    s = t.substr(0, i);
  }
}
}  // namespace

std::string normalize_title(std::string_view title) {
  std::string base = strip_bracket_suffixes(utf8_sanitize(title));
  utf8proc_uint8_t* mapped = nullptr;
  auto opts = static_cast<utf8proc_option_t>(UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
                                             UTF8PROC_STABLE);
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(base.data()), static_cast<utf8proc_ssize_t>(base.size()),
                   &mapped, opts);
  std::string folded = n >= 0 ? std::string(reinterpret_cast<char*>(mapped), static_cast<std::size_t>(n)) : base;
  std::free(mapped);
  // Replace punctuation and symbols with spaces; keep letters, marks and numbers.
  std::string out;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(folded.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(folded.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate(p, left, &cp);
    if (k < 0) {
      ++p;
      --left;
      continue;
    }
    auto cat = utf8proc_category(cp);
    bool keep = (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO);
    if (cp == '\'' || cp == 0x2019) {  // apostrophes vanish: "Ender's" == "Enders"
    } else if (keep) {
      out.append(reinterpret_cast<const char*>(p), static_cast<std::size_t>(k));
    } else {
      out += ' ';
    }
    p += k;
    left -= k;
  }
  return collapse_whitespace(out);
}

}  // namespace ecpo
