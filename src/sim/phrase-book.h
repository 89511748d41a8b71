// Phrase books: the wording of the offline roles (agenda user, rule agent, offline persona rules) as text
// files under prompts/ — lines "key: text", a key repeated for variants, '#' comments, {{name}} slots.
// The offline roles pick a variant with their seeded RNG, so a run is reproducible.
#pragma once
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace ecpo::sim {

class PhraseBook {
 public:
  PhraseBook() = default;
  // Parses "key: text" lines; throws ecpo::Error naming `where` and the line on a malformed one.
  static PhraseBook parse(const std::string& text, const std::string& where);
  // prompts/<module>/<domain>/<name>.txt (cached by domain_prompt).
  static const PhraseBook& load(const std::string& module, const std::string& domain, const std::string& name);

  bool has(const std::string& key) const { return phrases_.count(key) > 0; }
  // All variants of `key`; throws ecpo::Error naming the key and file when absent.
  const std::vector<std::string>& all(const std::string& key) const;
  // The first variant (deterministic use).
  const std::string& first(const std::string& key) const { return all(key).front(); }
  // A variant drawn with `rng`.
  const std::string& pick(const std::string& key, std::mt19937_64& rng) const;
  // Whitespace-separated words of the first variant (keyword lists), lower-case.
  std::vector<std::string> words(const std::string& key) const;

 private:
  std::map<std::string, std::vector<std::string>> phrases_;
  std::string where_;
};

// Replaces every {{name}} in `phrase` with its value; unknown slots are left as they are.
std::string fill_phrase(std::string phrase, const std::map<std::string, std::string>& vars);

}  // namespace ecpo::sim
