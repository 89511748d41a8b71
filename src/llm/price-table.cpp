// Price look-up by exact name or longest prefix (see price-table.h).
#include "llm/price-table.h"

#include "util/error.h"

namespace ecpo::llm {

PriceTable PriceTable::from_json(const nlohmann::json& j, const std::string& where) {
  PriceTable t;
  if (j.is_null()) return t;
  if (!j.is_object()) throw Error("prices must be a map of model → {input, output}", where);
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& v = it.value();
    if (!v.is_object() || !v.contains("input") || !v.contains("output") || !v["input"].is_number() ||
        !v["output"].is_number())
      throw Error("price of '" + it.key() + "' needs numbers input and output (USD per 1M tokens)", where,
                  "e.g. gpt-4o: {input: 2.5, output: 10}");
    Price p{v["input"].get<double>(), v["output"].get<double>()};
    if (p.input_per_mtok < 0 || p.output_per_mtok < 0) throw Error("negative price for '" + it.key() + "'", where);
    t.prices_[it.key()] = p;
  }
  return t;
}

std::optional<Price> PriceTable::find(const std::string& model) const {
  if (auto it = prices_.find(model); it != prices_.end()) return it->second;
  std::optional<Price> best;
  std::size_t best_len = 0;
  for (const auto& [name, p] : prices_)
    if (name.size() > best_len && model.compare(0, name.size(), name) == 0) best = p, best_len = name.size();
  return best;
}

std::optional<double> PriceTable::cost(const std::string& model, const Usage& usage) const {
  auto p = find(model);
  if (!p) return std::nullopt;
  return (static_cast<double>(usage.prompt_tokens) * p->input_per_mtok +
          static_cast<double>(usage.completion_tokens) * p->output_per_mtok) /
         1e6;
}

}  // namespace ecpo::llm
