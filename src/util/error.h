// ecpo::Error — the one exception type the CLI prints without a stack trace.
// Every error says what went wrong, where (file, line or record) and, when known, a hint for the fix.
// Library code throws it for bad input; the CLI catches it in main and exits non-zero with one line.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace ecpo {

class Error : public std::runtime_error {
 public:
  Error(std::string message, std::string where = {}, std::string hint = {});
  const std::string& message() const { return message_; }
  const std::string& where() const { return where_; }
  const std::string& hint() const { return hint_; }

 private:
  std::string message_, where_, hint_;
};

// "file:line" for messages; line 0 means "the whole file".
std::string error_location(const std::string& file, std::uint64_t line = 0);

}  // namespace ecpo
