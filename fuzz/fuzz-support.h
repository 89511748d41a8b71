// What every fuzz target treats as a correct answer to bad input: an ecpo::Error that says where (a file,
// request or record). Anything else — another exception type, an error without a location, a sanitizer
// report, a crash — is a bug: located_or_abort() aborts so libFuzzer records the input.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "util/error.h"

namespace ecpo::fuzz {

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

template <typename F>
void located_or_abort(F&& f) {
  try {
    f();
  } catch (const ecpo::Error& e) {
    if (e.where().empty() || e.message().empty()) {
      std::fprintf(stderr, "ecpo::Error without a location or message: %s\n", e.what());
      std::abort();
    }
  }
  // Any other exception escapes: libFuzzer reports it as a crash ("deadly signal" via std::terminate).
}

}  // namespace ecpo::fuzz
