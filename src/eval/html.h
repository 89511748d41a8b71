// HTML helpers of the report: escaping, number formatting and a word-level diff (LCS over whitespace
// tokens) rendered with <del> for removed and <ins> for added words.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace ecpo::eval {

// &, <, >, ", ' escaped.
std::string html_escape(std::string_view s);

// "0.53", "-" for NaN; `decimals` digits.
std::string fmt_num(double v, int decimals = 2);
// 1234567 → "1.2M", 12345 → "12.3k", 999 → "999".
std::string fmt_count(double v);

struct DiffOp {
  enum class Kind { same, removed, added } kind;
  std::string text;  // one token
};
// Token-level diff of a → b (whitespace-separated tokens), minimal by LCS.
std::vector<DiffOp> word_diff(std::string_view a, std::string_view b);
// The diff as HTML: "<span class=same>…</span> <del>…</del> <ins>…</ins>" (escaped).
std::string diff_html(std::string_view a, std::string_view b);

}  // namespace ecpo::eval
