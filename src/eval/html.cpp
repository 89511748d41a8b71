// HTML helpers (see html.h).
#include "eval/html.h"

#include <cmath>
#include <cstdio>

#include "util/text.h"

namespace ecpo::eval {

std::string html_escape(std::string_view s) {
  std::string o;
  o.reserve(s.size() + 16);
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string fmt_num(double v, int decimals) {
  if (std::isnan(v)) return "-";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v);
  return b;
}

std::string fmt_count(double v) {
  if (std::isnan(v)) return "-";
  char b[64];
  const double a = std::fabs(v);
  if (a >= 1e9) std::snprintf(b, sizeof b, "%.1fG", v / 1e9);
  else if (a >= 1e6) std::snprintf(b, sizeof b, "%.1fM", v / 1e6);
  else if (a >= 1e4) std::snprintf(b, sizeof b, "%.1fk", v / 1e3);
  else if (a == std::floor(a)) std::snprintf(b, sizeof b, "%.0f", v);
  else std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::vector<DiffOp> word_diff(std::string_view a, std::string_view b) {
  std::vector<std::string> x = split(collapse_whitespace(a), ' '), y = split(collapse_whitespace(b), ' ');
  const std::size_t n = x.size(), m = y.size();
  std::vector<std::vector<std::size_t>> L(n + 1, std::vector<std::size_t>(m + 1, 0));
  for (std::size_t i = n; i-- > 0;)
    for (std::size_t j = m; j-- > 0;) L[i][j] = x[i] == y[j] ? L[i + 1][j + 1] + 1 : std::max(L[i + 1][j], L[i][j + 1]);
  std::vector<DiffOp> out;
  std::size_t i = 0, j = 0;
  while (i < n && j < m) {
    if (x[i] == y[j]) {
      out.push_back({DiffOp::Kind::same, x[i]});
      ++i;
      ++j;
    } else if (L[i + 1][j] >= L[i][j + 1]) {
      out.push_back({DiffOp::Kind::removed, x[i++]});
    } else {
      out.push_back({DiffOp::Kind::added, y[j++]});
    }
  }
  for (; i < n; ++i) out.push_back({DiffOp::Kind::removed, x[i]});
  for (; j < m; ++j) out.push_back({DiffOp::Kind::added, y[j]});
  return out;
}

std::string diff_html(std::string_view a, std::string_view b) {
  std::string o;
  auto ops = word_diff(a, b);
  for (std::size_t k = 0; k < ops.size();) {
    const auto kind = ops[k].kind;
    std::string run;
    while (k < ops.size() && ops[k].kind == kind) {
      if (!run.empty()) run += ' ';
      run += html_escape(ops[k].text);
      ++k;
    }
    if (!o.empty()) o += ' ';
    if (kind == DiffOp::Kind::same) o += run;
    else if (kind == DiffOp::Kind::removed) o += "<del>" + run + "</del>";
    else o += "<ins>" + run + "</ins>";
  }
  return o;
}

}  // namespace ecpo::eval
