// CLI verbs: serve (see commands.h). Thin: flags → library call → output.
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_serve_commands(CLI::App& app) { (void)app; }

}  // namespace ecpo::cli
