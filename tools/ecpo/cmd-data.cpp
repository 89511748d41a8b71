// CLI verbs of the data stage (see commands.h). Thin: flags → library call → summary.
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_data_commands(CLI::App& app) { (void)app; }

}  // namespace ecpo::cli
