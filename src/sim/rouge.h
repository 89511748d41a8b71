// ROUGE-L (Lin 2004) as the rouge-score package computes it by default: lower-cased alphanumeric tokens,
// LCS-based precision P = LCS/|candidate|, recall R = LCS/|reference|, F = 2PR/(P+R). And the persona
// diversity statistic of the paper (Fig. 4): each persona's maximum ROUGE-L F against all the others.
#pragma once
#include <string>
#include <vector>

namespace ecpo::sim {

// Lower-case ASCII letters and digits runs; every other byte separates tokens (rouge-score's tokenizer).
std::vector<std::string> rouge_tokens(const std::string& text);

// ROUGE-L F1 of two token lists (0 when either is empty).
double rouge_l_f(const std::vector<std::string>& candidate, const std::vector<std::string>& reference);

// For each text, the maximum ROUGE-L F1 against every other text (0 for a single text). ROUGE-L F1 is
// symmetric, so each pair is computed once.
std::vector<double> max_rouge_l(const std::vector<std::string>& texts);

}  // namespace ecpo::sim
