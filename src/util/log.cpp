// spdlog setup for the CLI and tests (see log.h).
#include "util/log.h"

#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>

#include "util/error.h"

namespace ecpo {

void log_init(const std::string& level) {
  std::string lvl = level;
  if (const char* env = std::getenv("ECPO_LOG_LEVEL"); env && *env) lvl = env;
  auto parsed = spdlog::level::from_str(lvl);
  if (parsed == spdlog::level::off && lvl != "off")
    throw Error("unknown log level '" + lvl + "'", "--log-level", "use trace, debug, info, warn, error or off");
  static bool made = false;
  if (!made) {
    auto logger = spdlog::stderr_color_mt("ecpo");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
    made = true;
  }
  spdlog::set_level(parsed);
}

}  // namespace ecpo
