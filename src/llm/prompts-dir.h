// Where prompt templates (text files under prompts/) are read from at run time: util/resources.h's rule
// ($ECPO_PROMPTS_DIR, then prompts/ or share/ecpo/prompts/ next to or above the binary, then the source tree).
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
