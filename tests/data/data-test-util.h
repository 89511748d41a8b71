// Helpers shared by the data tests: fixture paths and reading a JSONL file into a vector.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/jsonl.h"

namespace ecpo::test {

inline std::filesystem::path data_asset(const std::string& name) {
  return std::filesystem::path(ECPO_TEST_ASSETS) / "data" / name;
}

inline std::vector<nlohmann::json> read_rows(const std::filesystem::path& p) {
  std::vector<nlohmann::json> rows;
  ecpo::JsonlReader r(p);
  nlohmann::json v;
  while (r.next(v)) rows.push_back(v);
  return rows;
}

}  // namespace ecpo::test
