// Where prompt templates (text files under prompts/) are read from at run time, in this order:
//   1. $ECPO_PROMPTS_DIR, when set (must exist);
//   2. <source tree>/prompts, compiled in as ECPO_SOURCE_PROMPTS_DIR, when it exists (a build-tree binary);
//   3. <dir of the running binary>/../share/ecpo/prompts (an installed binary).
// Prompts are data: this file only finds and reads them; it does not render or interpret them.
#pragma once
#include <filesystem>
#include <string>

namespace ecpo::llm {

// The prompts directory; throws ecpo::Error listing the places tried when none exists.
std::filesystem::path prompts_dir();

// Reads prompts_dir()/relative (e.g. "llm/check-probe.txt"); throws ecpo::Error naming the file.
std::string load_prompt(const std::string& relative);

}  // namespace ecpo::llm
