// CLI verbs: tokenize (see commands.h). Thin: flags → library call → output.
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_tokenize_commands(CLI::App& app) { (void)app; }

}  // namespace ecpo::cli
