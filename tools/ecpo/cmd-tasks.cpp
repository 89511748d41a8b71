// CLI verbs of the tasks stage (see commands.h). Thin: flags → library call → summary.
#include "tools/ecpo/commands.h"

namespace ecpo::cli {

void register_tasks_commands(CLI::App& app) { (void)app; }

}  // namespace ecpo::cli
