// CLI verbs of the retrieval stage (see commands.h). Thin: flags → library call → summary.
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_retrieval_commands(CLI::App& app) { (void)app; }

}  // namespace ecpo::cli
