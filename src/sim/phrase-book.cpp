// Phrase-book parsing and lookup (see phrase-book.h).
#include "sim/phrase-book.h"

#include <memory>
#include <mutex>

#include "sim/prompt-template.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::sim {

PhraseBook PhraseBook::parse(const std::string& text, const std::string& where) {
  PhraseBook b;
  b.where_ = where;
  int line_no = 0;
  for (const auto& raw : split(text, '\n', true)) {
    ++line_no;
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0)
      throw Error("phrase line without 'key:'", where + ":" + std::to_string(line_no), "write key: text");
    std::string key = trim(line.substr(0, colon));
    b.phrases_[key].push_back(trim(line.substr(colon + 1)));
  }
  return b;
}

const PhraseBook& PhraseBook::load(const std::string& module, const std::string& domain, const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<PhraseBook>> cache;
  std::string key = module + "/" + domain + "/" + name;
  std::lock_guard lk(mu);
  auto it = cache.find(key);
  if (it != cache.end()) return *it->second;
  auto book = std::make_unique<PhraseBook>(parse(domain_prompt(module, domain, name), "prompts/" + key + ".txt"));
  return *cache.emplace(key, std::move(book)).first->second;
}

const std::vector<std::string>& PhraseBook::all(const std::string& key) const {
  auto it = phrases_.find(key);
  if (it == phrases_.end()) throw Error("phrase '" + key + "' is missing", where_, "add a line '" + key + ": ...'");
  return it->second;
}

const std::string& PhraseBook::pick(const std::string& key, std::mt19937_64& rng) const {
  const auto& v = all(key);
  return v[static_cast<std::size_t>(rng() % v.size())];
}

std::vector<std::string> PhraseBook::words(const std::string& key) const {
  if (!has(key)) return {};
  std::vector<std::string> out;
  for (const auto& w : split(to_lower_ascii(first(key)), ' '))
    if (!trim(w).empty()) out.push_back(trim(w));
  return out;
}

std::string fill_phrase(std::string phrase, const std::map<std::string, std::string>& vars) {
  for (const auto& [name, value] : vars) {
    std::string slot = "{{" + name + "}}";
    for (std::size_t p = phrase.find(slot); p != std::string::npos; p = phrase.find(slot, p + value.size()))
      phrase.replace(p, slot.size(), value);
  }
  return phrase;
}

}  // namespace ecpo::sim
