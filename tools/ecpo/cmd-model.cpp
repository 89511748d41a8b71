// CLI verbs of the model stage (see commands.h). Thin: flags → library call → summary.
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_model_commands(CLI::App& app) { (void)app; }

}  // namespace ecpo::cli
