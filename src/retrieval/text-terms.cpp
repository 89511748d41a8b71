// Unicode-aware word splitting shared by BM25 query building and the hashing encoder (see text-terms.h).
#include "retrieval/text-terms.h"

#include <cstdlib>
#include <memory>

#include <utf8proc.h>

#include "util/text.h"

namespace ecpo::retrieval {
namespace {

bool is_word_char(utf8proc_int32_t cp) {
  switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
    case UTF8PROC_CATEGORY_CO:
      return true;
    default:
      return false;
  }
}

std::string fold_text(const std::string& s) {
  utf8proc_uint8_t* out = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &out,
                                    static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPAT |
                                                                   UTF8PROC_COMPOSE | UTF8PROC_CASEFOLD |
                                                                   UTF8PROC_STRIPMARK));
  if (n < 0) return s;  // cannot happen on sanitised input; keep the text rather than lose it
  std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> guard(out, &std::free);
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

}  // namespace

std::vector<std::string> split_terms(std::string_view text, bool fold) {
  std::string s = utf8_sanitize(text);
  if (fold) s = fold_text(s);
  std::vector<std::string> terms;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  std::size_t pos = 0, start = std::string::npos;
  while (left > 0) {
    utf8proc_int32_t cp = -1;
    utf8proc_ssize_t n = utf8proc_iterate(p + pos, left, &cp);
    if (n <= 0) n = 1, cp = -1;  // unreachable after utf8_sanitize; treat as a separator
    bool word = cp >= 0 && is_word_char(cp);
    if (word && start == std::string::npos) start = pos;
    if (!word && start != std::string::npos) {
      terms.emplace_back(s.substr(start, pos - start));
      start = std::string::npos;
    }
    pos += static_cast<std::size_t>(n);
    left -= n;
  }
  if (start != std::string::npos) terms.emplace_back(s.substr(start));
  return terms;
}

}  // namespace ecpo::retrieval
