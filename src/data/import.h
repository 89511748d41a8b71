// Import of raw review dumps (Amazon Reviews 2023 <Category>.jsonl + meta_<Category>.jsonl; Yelp review +
// business JSON lines; plain or .gz) into the project's items.jsonl and users.jsonl (data/types.h), in
// bounded memory whatever the input size: reviews and meta each stream once into external sorts
// (data/external-sort.h) whose runs spill under the output folder or `tmp`, and are removed at the end or
// on failure. Optionally keeps only users with [min_reviews, max_reviews] joined reviews. Nothing is written
// unless the whole import succeeds. It does not build tasks (tasks.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
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
  // Users are written only when their joined review count lies in [min_reviews, max_reviews] (the
  // defaults keep everyone); the others are counted as dropped, and so are the items only they reviewed.
  std::size_t min_reviews = 0;
  std::size_t max_reviews = std::numeric_limits<std::size_t>::max();
  std::filesystem::path tmp;                   // spill folder parent; empty → `out`
  std::size_t memory = 128u << 20;             // bytes for the sort buffers of a pass together
  std::size_t fan_in = 64;                     // runs merged at once (tests lower it to force merge passes)
  std::size_t io_buffer = 64u << 10;           // per open run file
  bool filtering() const { return min_reviews > 1 || max_reviews != std::numeric_limits<std::size_t>::max(); }
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
  std::uint64_t dropped_users = 0;     // users outside [min_reviews, max_reviews] (joined reviews)
  std::uint64_t dropped_reviews = 0;   // their joined reviews
  std::uint64_t sort_runs = 0;         // run files written by the external sorts (0: all fitted in memory)
};

// Runs the import; throws ecpo::Error for a missing file, unknown source, or (strict) the first bad line.
ImportStats import_raw(const ImportOptions& options);

// "users N, reviews N, items N, skipped N (item not in meta), bad lines N", plus, when users were filtered,
// "; dropped N users outside [min, max] reviews (N reviews)".
std::string import_summary(const ImportStats& stats, const ImportOptions& options = {});

}  // namespace ecpo::data
