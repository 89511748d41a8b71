// Logging through spdlog: one stderr logger, level from the CLI (--log-level) or ECPO_LOG_LEVEL.
// Never log secrets: API keys are read from the environment by llm/ and must not reach any log call.
#pragma once
#include <string>

#include <spdlog/spdlog.h>

namespace ecpo {

// Sets the global level ("trace", "debug", "info", "warn", "error", "off"). Unknown names throw ecpo::Error.
void log_init(const std::string& level = "info");

}  // namespace ecpo
