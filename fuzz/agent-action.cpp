// Fuzz target: the agent action grammar (agent/action.h) on arbitrary model output. parse_action never throws
// and either rejects with a reason or returns an action that round-trips: format_action(a) parses back to a,
// and its argument is non-empty with balanced brackets. complete_action_text never throws and returns the
// trimmed text, with one "]" appended at most (restoring a dropped stop sequence).
#include <cstdlib>

#include "agent/action.h"
#include "fuzz-support.h"
#include "util/text.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ecpo::agent;
  const std::string_view text = ecpo::fuzz::text(data, size);
  std::string error;
  const auto a = parse_action(text, &error);
  if (!a) {
    if (error.empty()) std::abort();  // a rejection always says why
  } else {
    if (a->argument.empty()) std::abort();
    int depth = 0;
    for (char c : a->argument) {
      depth += c == '[' ? 1 : c == ']' ? -1 : 0;
      if (depth < 0) std::abort();
    }
    if (depth != 0) std::abort();
    const auto again = parse_action(format_action(*a));
    if (!again || !(*again == *a)) std::abort();
    if (!action_type_from_name(action_type_name(a->type))) std::abort();
  }
  const std::string trimmed = ecpo::trim(text);
  for (const char* finish : {"stop", "length"}) {
    const std::string done = complete_action_text(text, finish);
    if (done != trimmed && done != trimmed + "]") std::abort();
  }
  return 0;
}
