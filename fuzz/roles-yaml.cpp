// Fuzz target: roles.yaml (Config::parse, then llm::roles_from_config): YAML syntax, merging of defaults and
// endpoints, and every field's type and range. Relative ca_file / prices paths resolve under a missing
// directory, so they fail as located errors too.
#include <spdlog/spdlog.h>

#include "fuzz-support.h"
#include "llm/roles.h"
#include "util/config.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ecpo::fuzz::located_or_abort([&] {
    auto c = ecpo::Config::parse(std::string(ecpo::fuzz::text(data, size)), "roles.yaml");
    (void)ecpo::llm::roles_from_config(c, "roles.yaml", "/nonexistent-ecpo-fuzz");
  });
  return 0;
}
