// Import of raw review dumps (Amazon Reviews 2023 <Category>.jsonl + meta_<Category>.jsonl; Yelp review +
// business JSON lines; plain or .gz) into the project's items.jsonl and users.jsonl (data/types.h).
// Reviews stream once into compact per-review records, meta streams once keeping only the items those
// reviews name; nothing is written unless the whole import succeeds. It does not build tasks (tasks.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "util/error.h"

namespace ecpo::data {

struct ImportOptions {
  std::string source;                          // "amazon2023" | "yelp"
  std::vector<std::filesystem::path> reviews;  // one or more review files
  std::vector<std::filesystem::path> meta;     // one or more meta / business files (joined as one catalogue)
  std::filesystem::path out;                   // writes out/items.jsonl, out/users.jsonl, out/import.json
  bool strict = false;                         // a malformed line or record fails the import
  std::string domain;                          // item domain; empty → from the meta file name / "yelp"
  std::function<void(const Error&)> on_bad;    // each skipped line (default: a warning on stderr)
};

struct ImportStats {
  std::uint64_t users = 0;             // users written (with ≥ 1 joined review)
  std::uint64_t reviews = 0;           // reviews written
  std::uint64_t items = 0;             // items written (those named by a written review)
  std::uint64_t skipped_reviews = 0;   // well-formed reviews whose item is not in the meta files
  std::uint64_t bad_lines = 0;         // malformed JSON or records lacking a required field (all files)
  std::uint64_t review_lines = 0;      // review records read
  std::uint64_t meta_records = 0;      // meta records read
  std::uint64_t bytes_read = 0;        // uncompressed bytes read, all files
};

// Runs the import; throws ecpo::Error for a missing file, unknown source, or (strict) the first bad line.
ImportStats import_raw(const ImportOptions& options);

// "users N, reviews N, items N, skipped N (item not in meta), bad lines N"
std::string import_summary(const ImportStats& stats);

}  // namespace ecpo::data
