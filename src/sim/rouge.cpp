// ROUGE-L and the max-ROUGE-L diversity statistic (see rouge.h).
#include "sim/rouge.h"

#include <algorithm>

namespace ecpo::sim {

std::vector<std::string> rouge_tokens(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  for (char ch : text) {
    char c = ch;
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      cur += c;
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

double rouge_l_f(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  if (a.empty() || b.empty()) return 0.0;
  std::vector<int> prev(b.size() + 1, 0), cur(b.size() + 1, 0);
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = a[i - 1] == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  double lcs = prev[b.size()];
  if (lcs == 0) return 0.0;
  double p = lcs / static_cast<double>(a.size()), r = lcs / static_cast<double>(b.size());
  return 2 * p * r / (p + r);
}

std::vector<double> max_rouge_l(const std::vector<std::string>& texts) {
  std::vector<std::vector<std::string>> toks;
  for (const auto& t : texts) toks.push_back(rouge_tokens(t));
  std::vector<double> best(texts.size(), 0.0);
  for (std::size_t i = 0; i < toks.size(); ++i)
    for (std::size_t j = i + 1; j < toks.size(); ++j) {
      double f = rouge_l_f(toks[i], toks[j]);
      best[i] = std::max(best[i], f);
      best[j] = std::max(best[j], f);
    }
  return best;
}

}  // namespace ecpo::sim
