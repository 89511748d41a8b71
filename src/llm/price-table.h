// Dollars per call from a price table in config: model name → USD per million prompt and completion
// tokens. A model is priced by its exact name, else by the longest listed prefix ("gpt-4o-mini" prices
// "gpt-4o-mini-2024-07-18"). Unlisted models cost 0 and are reported as unpriced. No network look-ups.
#pragma once
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"

namespace ecpo::llm {

struct Price {
  double input_per_mtok = 0;   // USD per 1e6 prompt tokens
  double output_per_mtok = 0;  // USD per 1e6 completion tokens
};

class PriceTable {
 public:
  PriceTable() = default;
  // {model: {input: USD/1M, output: USD/1M}, ...}; throws ecpo::Error naming `where` on a bad entry.
  static PriceTable from_json(const nlohmann::json& j, const std::string& where);
  void set(const std::string& model, Price p) { prices_[model] = p; }
  std::optional<Price> find(const std::string& model) const;
  // Cost of one call; nullopt when the model is not priced.
  std::optional<double> cost(const std::string& model, const Usage& usage) const;
  std::size_t size() const { return prices_.size(); }

 private:
  std::map<std::string, Price> prices_;
};

}  // namespace ecpo::llm
