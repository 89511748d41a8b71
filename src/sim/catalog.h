// The item database of a task set (tasks DIR/items.jsonl) held in memory: items by id, the text an
// agent or prompt shows for an item, and word document frequencies (for the agenda user's choice of
// distinctive words). Read-only after construction, so episodes share one catalogue across threads.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/types.h"

namespace ecpo::sim {

class ItemCatalog {
 public:
  ItemCatalog() = default;
  explicit ItemCatalog(std::vector<data::Item> items);
  static ItemCatalog load(const std::filesystem::path& items_jsonl);  // throws ecpo::Error (file:line)

  const data::Item* find(const std::string& item_id) const;  // nullptr when absent
  const data::Item& at(const std::string& item_id) const;     // throws ecpo::Error naming the id
  const std::vector<data::Item>& items() const { return items_; }
  std::size_t size() const { return items_.size(); }
  std::string domain() const;  // the items' domain ("" when empty or mixed)

  // Number of items whose normalised title + description contains the word (normalised, lower-case).
  std::size_t document_frequency(const std::string& word) const;

 private:
  std::vector<data::Item> items_;
  std::unordered_map<std::string, std::size_t> by_id_;
  std::unordered_map<std::string, std::size_t> df_;
};

// "title | categories joined by ' > ' | description" with the description cut to `description_chars`
// characters at a word boundary (+ "…"); 0 = uncut. The line an agent sees for a retrieved item.
std::string item_line(const data::Item& item, std::size_t description_chars = 0);

// The most specific category that says something: the deepest of item.categories that is not the root
// (index 0, when there are several) and not in `generic` (e.g. "Games", "Restaurants"). "" when none.
std::string main_category(const data::Item& item, const std::vector<std::string>& generic);

// Comma-separated list → trimmed entries ("Video Games, Games" → {"Video Games", "Games"}).
std::vector<std::string> comma_list(const std::string& text);

// The lower-case words of a text after normalize_title (letters and digits only).
std::vector<std::string> normalized_words(const std::string& text);

}  // namespace ecpo::sim
