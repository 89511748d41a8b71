// Template definitions for Config::get (kept out of config.h for readability).
#pragma once
#include <cstdint>
#include <limits>
#include <type_traits>

#include "util/error.h"

namespace ecpo {

template <typename T>
T Config::get(const std::string& dotted) const {
  const nlohmann::json* v = find(dotted);
  if (!v) throw Error("missing config key '" + dotted + "'", where(dotted), "set it in the YAML or pass " + dotted + "=VALUE");
  // nlohmann converts a float to an integer type without a range check (undefined behaviour out of range):
  // integers must be written as integers.
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!v->is_number_integer())
      throw Error("config key '" + dotted + "' must be an integer, not " + std::string(v->type_name()), where(dotted),
                  "check the value of " + dotted);
    if (v->is_number_unsigned() ? v->template get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<T>::max())
                                : (v->template get<std::int64_t>() < static_cast<std::int64_t>(std::numeric_limits<T>::min()) ||
                                   (v->template get<std::int64_t>() > 0 &&
                                    static_cast<std::uint64_t>(v->template get<std::int64_t>()) >
                                        static_cast<std::uint64_t>(std::numeric_limits<T>::max()))))
      throw Error("config key '" + dotted + "' = " + v->dump() + " is out of range", where(dotted),
                  "check the value of " + dotted);
  }
  try {
    return v->get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw Error("config key '" + dotted + "' has the wrong type (" + std::string(v->type_name()) + ")", where(dotted),
                "check the value of " + dotted);
  }
}

}  // namespace ecpo
