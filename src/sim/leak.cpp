// Leak detection, one regeneration, redaction (see leak.h).
#include "sim/leak.h"

#include <vector>

#include "sim/title-match.h"
#include "util/text.h"

namespace ecpo::sim {

namespace {
// Sentences with their end punctuation; a sentence ends at . ! ? followed by a space or the end.
std::vector<std::string> sentences(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < s.size(); ++i) {
    cur += s[i];
    bool end = (s[i] == '.' || s[i] == '!' || s[i] == '?') && (i + 1 == s.size() || s[i + 1] == ' ' || s[i + 1] == '\n');
    if (end) {
      out.push_back(trim(cur));
      cur.clear();
    }
  }
  if (!trim(cur).empty()) out.push_back(trim(cur));
  return out;
}
}  // namespace

std::string redact_title(const std::string& utterance, const std::string& title, double threshold,
                         const std::string& fallback) {
  std::vector<std::string> kept;
  for (auto& s : sentences(utterance))
    if (!text_names_title(s, title, threshold)) kept.push_back(s);
  std::string out = join(kept, " ");
  return trim(out).empty() ? fallback : out;
}

std::string guard_leak(const std::string& utterance, const std::string& title, double threshold,
                       const std::function<std::string()>& regenerate, const std::string& fallback,
                       nlohmann::json& events) {
  TitleMatch m = match_title_in_text(utterance, title);
  if (m.score < threshold) return utterance;
  nlohmann::json ev{{"type", "leak"}, {"score", m.score}, {"original", utterance}};
  std::string retry = regenerate ? regenerate() : utterance;
  TitleMatch m2 = match_title_in_text(retry, title);
  if (m2.score < threshold) {
    ev["action"] = "regenerated";
    events.push_back(ev);
    return retry;
  }
  ev["action"] = "redacted";
  ev["retry_score"] = m2.score;
  events.push_back(ev);
  return redact_title(retry, title, threshold, fallback);
}

}  // namespace ecpo::sim
