// Template definitions for Config::get (kept out of config.h for readability).
#pragma once
#include "util/error.h"

namespace ecpo {

template <typename T>
T Config::get(const std::string& dotted) const {
  const nlohmann::json* v = find(dotted);
  if (!v) throw Error("missing config key '" + dotted + "'", "config", "set it in the YAML or pass " + dotted + "=VALUE");
  try {
    return v->get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("config key '" + dotted + "' has the wrong type (" + std::string(v->type_name()) + ")", "config",
                "check the value of " + dotted);
  }
}

}  // namespace ecpo
