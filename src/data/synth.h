// Synthetic review data in the RAW published layouts (Amazon Reviews 2023 <Category>.jsonl +
// meta_<Category>.jsonl; Yelp review + business JSON lines), made from the word lists and templates in
// resources/synth/<domain>.yaml. Same options + same template file → byte-identical files on any platform
// (own distributions over std::mt19937_64). It writes files only; importing them is data/import.h's job.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ecpo::data {

struct SynthOptions {
  std::string domain = "book";           // book | game | yelp
  std::size_t users = 100;
  std::size_t reviews_per_user = 30;     // 4 of every 5 users get exactly this many; the 5th a varied count
  std::size_t items = 0;                 // catalogue size; 0 → max(50, users * reviews_per_user / 10)
  std::uint64_t seed = 1;
  std::filesystem::path out;             // directory; created when missing
  std::filesystem::path templates;       // resources/synth/<domain>.yaml; empty → synth_template_path(domain)
};

struct SynthResult {
  std::size_t users = 0, reviews = 0, items = 0;
  std::filesystem::path reviews_file, meta_file;
};

// Writes the two raw files atomically (temp + rename). Throws ecpo::Error on a bad option or template.
SynthResult synthesize(const SynthOptions& options);

// The item titles of the catalogue synthesize() would write for `options`, in catalogue order, without
// writing anything (for checks of title variety; `out` is not used).
std::vector<std::string> synth_item_titles(const SynthOptions& options);

// Where the template for `domain` is looked up: $ECPO_RESOURCES/synth, then resources/synth next to or above
// the running binary, then the source tree's resources/synth. Throws ecpo::Error with a hint when absent.
std::filesystem::path synth_template_path(const std::string& domain);

}  // namespace ecpo::data
