// Where ecpo's shipped data files are found at run time — prompts/ (prompt templates) and resources/ (synth
// word lists, the BPE training corpus) — one rule for every module, in this order:
//   1. $ECPO_PROMPTS_DIR / $ECPO_RESOURCES when set (must be a directory);
//   2. <dir>/<kind> or <dir>/share/ecpo/<kind> for the running binary's directory and each directory above it
//      (a build tree inside the source tree; an installed prefix such as /usr/local);
//   3. the source tree's <kind>/, compiled in (a build tree outside the source tree).
// It only finds files; reading and interpreting them is the caller's business.
#pragma once
#include <filesystem>
#include <string>

namespace ecpo {

enum class DataDir { prompts, resources };

// The directory; throws ecpo::Error listing the places tried (hint: the environment variable to set).
std::filesystem::path data_dir(DataDir kind);
// data_dir(kind) / relative, required to exist; throws ecpo::Error naming the file. Each candidate directory
// is tried in the order above, so a file missing from an earlier one is still found in a later one.
std::filesystem::path data_file(DataDir kind, const std::string& relative);

}  // namespace ecpo
