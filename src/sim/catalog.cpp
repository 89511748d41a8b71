// In-memory item catalogue and item rendering (see catalog.h).
#include "sim/catalog.h"

#include <set>

#include "data/records-io.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::sim {

std::vector<std::string> normalized_words(const std::string& text) { return split(normalize_title(text), ' '); }

ItemCatalog::ItemCatalog(std::vector<data::Item> items) : items_(std::move(items)) {
  for (std::size_t i = 0; i < items_.size(); ++i) {
    by_id_.emplace(items_[i].item_id, i);
    std::set<std::string> seen;
    for (auto& w : normalized_words(items_[i].title + " " + items_[i].description))
      if (seen.insert(w).second) df_[w]++;
  }
}

ItemCatalog ItemCatalog::load(const std::filesystem::path& items_jsonl) {
  return ItemCatalog(data::read_items(items_jsonl));
}

const data::Item* ItemCatalog::find(const std::string& item_id) const {
  auto it = by_id_.find(item_id);
  return it == by_id_.end() ? nullptr : &items_[it->second];
}

const data::Item& ItemCatalog::at(const std::string& item_id) const {
  const auto* p = find(item_id);
  if (!p) throw Error("item '" + item_id + "' is not in the item database", "items.jsonl",
                      "tasks and index must come from the same `ecpo tasks build` output");
  return *p;
}

std::string ItemCatalog::domain() const {
  if (items_.empty()) return {};
  const std::string& d = items_.front().domain;
  for (const auto& it : items_)
    if (it.domain != d) return {};
  return d;
}

std::size_t ItemCatalog::document_frequency(const std::string& word) const {
  auto it = df_.find(word);
  return it == df_.end() ? 0 : it->second;
}

std::string main_category(const data::Item& item, const std::vector<std::string>& generic) {
  for (std::size_t i = item.categories.size(); i-- > 0;) {
    if (i == 0 && item.categories.size() > 1) break;
    const std::string& c = item.categories[i];
    bool skip = false;
    for (const auto& g : generic)
      if (to_lower_ascii(g) == to_lower_ascii(c)) skip = true;
    if (!skip && !trim(c).empty()) return c;
  }
  return {};
}

std::vector<std::string> comma_list(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& p : split(text, ','))
    if (!trim(p).empty()) out.push_back(trim(p));
  return out;
}

std::string item_line(const data::Item& item, std::size_t description_chars) {
  std::string cats;
  for (const auto& c : item.categories) {
    if (!cats.empty()) cats += " > ";
    cats += c;
  }
  std::string desc = collapse_whitespace(item.description);
  if (description_chars > 0 && desc.size() > description_chars) {
    std::size_t cut = desc.rfind(' ', description_chars);
    if (cut == std::string::npos || cut < description_chars / 2) cut = description_chars;
    // Never cut inside a UTF-8 sequence.
    while (cut > 0 && (static_cast<unsigned char>(desc[cut]) & 0xC0) == 0x80) --cut;
    desc = desc.substr(0, cut) + "…";
  }
  std::string out = item.title;
  if (!cats.empty()) out += " | " + cats;
  if (!desc.empty()) out += " | " + desc;
  return out;
}

}  // namespace ecpo::sim
