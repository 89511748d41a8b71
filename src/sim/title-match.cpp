// Title matching: indel ratio (LCS-based), token-sort ratio, whole-word and windowed fuzzy search.
// Formulas follow rapidfuzz's documented definitions (fuzz.ratio, fuzz.token_sort_ratio), written here.
#include "sim/title-match.h"

#include <algorithm>

#include "util/text.h"

namespace ecpo::sim {

double indel_ratio(std::string_view a, std::string_view b) {
  if (a.empty() && b.empty()) return 1.0;
  // LCS length by the classic two-row dynamic programme; indel distance = |a| + |b| − 2·LCS.
  std::vector<int> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  double lcs = prev[b.size()];
  return 2.0 * lcs / static_cast<double>(a.size() + b.size());
}

namespace {

std::vector<std::string> words(std::string_view normalised) { return split(normalised, ' '); }

bool is_number(const std::string& w) {
  return !w.empty() && std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The numbers of a word list, in order ("volume 2" and "volume 3" are different books).
std::vector<std::string> numbers(const std::vector<std::string>& ws, std::size_t from, std::size_t to) {
  std::vector<std::string> out;
  for (std::size_t i = from; i < to; ++i)
    if (is_number(ws[i])) out.push_back(ws[i]);
  return out;
}

}  // namespace

double token_sort_ratio(std::string_view a, std::string_view b) {
  auto wa = words(a), wb = words(b);
  if (wa.empty() || wb.empty()) return 0.0;
  std::sort(wa.begin(), wa.end());
  std::sort(wb.begin(), wb.end());
  return indel_ratio(join(wa, " "), join(wb, " "));
}

std::vector<std::string> title_variants(std::string_view title) {
  std::vector<std::string> out;
  std::string full = normalize_title(title);
  if (!full.empty()) out.push_back(full);
  std::size_t cut = std::string_view::npos;
  for (std::string_view sep : {std::string_view(":"), std::string_view(" - ")}) {
    auto p = title.find(sep);
    if (p != std::string_view::npos && p > 0) cut = std::min(cut, p);
  }
  if (cut != std::string_view::npos) {
    std::string main = normalize_title(title.substr(0, cut));
    if (!main.empty() && main != full && words(main).size() >= 2) out.push_back(main);
  }
  return out;
}

TitleMatch match_title_in_text(std::string_view text, std::string_view title) {
  TitleMatch best;
  auto variants = title_variants(title);
  if (variants.empty()) return best;
  std::vector<std::string> tw = words(normalize_title(text));
  if (tw.empty()) return best;
  for (const auto& v : variants) {
    auto vw = words(v);
    const std::size_t k = vw.size();
    // Whole-word occurrence.
    for (std::size_t i = 0; i + k <= tw.size(); ++i) {
      if (std::equal(vw.begin(), vw.end(), tw.begin() + static_cast<std::ptrdiff_t>(i))) {
        best = {1.0, true, v, i, i + k};
        return best;
      }
    }
    // Fuzzy windows of k-1 .. k+1 words.
    for (std::size_t len = (k > 1 ? k - 1 : 1); len <= k + 1; ++len) {
      if (len > tw.size()) break;
      for (std::size_t i = 0; i + len <= tw.size(); ++i) {
        std::string win;
        for (std::size_t j = i; j < i + len; ++j) {
          if (j > i) win += ' ';
          win += tw[j];
        }
        if (numbers(tw, i, i + len) != numbers(vw, 0, vw.size())) continue;
        double r = indel_ratio(win, v);
        if (len == k) r = std::max(r, token_sort_ratio(win, v));
        if (r > best.score) best = {r, false, v, i, i + len};
      }
    }
  }
  return best;
}

bool text_names_title(std::string_view text, std::string_view title, double threshold) {
  return match_title_in_text(text, title).score >= threshold;
}

bool substring_names_title(std::string_view text, std::string_view title) {
  std::string t = to_lower_ascii(trim(title));
  if (t.empty()) return false;
  return to_lower_ascii(text).find(t) != std::string::npos;
}

}  // namespace ecpo::sim
