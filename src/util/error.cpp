// Formats ecpo::Error as "where: message (hint: ...)".
#include "util/error.h"

namespace ecpo {
namespace {
std::string format_error(const std::string& message, const std::string& where, const std::string& hint) {
  std::string s;
  if (!where.empty()) s += where + ": ";
  s += message;
  if (!hint.empty()) s += " (hint: " + hint + ")";
  return s;
}
}  // namespace

Error::Error(std::string message, std::string where, std::string hint)
    : std::runtime_error(format_error(message, where, hint)),
      message_(std::move(message)), where_(std::move(where)), hint_(std::move(hint)) {}

std::string error_location(const std::string& file, std::uint64_t line) {
  return line == 0 ? file : file + ":" + std::to_string(line);
}

}  // namespace ecpo
