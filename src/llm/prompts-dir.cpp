// Prompt directory resolution (see prompts-dir.h): util/resources.h's rule for prompts/.
#include "llm/prompts-dir.h"

#include "util/error.h"
#include "util/fs.h"
#include "util/resources.h"

namespace ecpo::llm {

std::filesystem::path prompts_dir() { return data_dir(DataDir::prompts); }

std::string load_prompt(const std::string& relative) { return read_file(data_file(DataDir::prompts, relative)); }

}  // namespace ecpo::llm
