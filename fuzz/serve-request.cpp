// Fuzz target: a chat-completions request body as `ecpo serve` and the fake server parse it
// (llm::parse_chat_request): only WireError (an HTTP 400 naming the field) may come out of bad input, and an
// accepted request must be usable (valid ranges, a message list, no empty stop string).
#include <cstdlib>

#include "fuzz-support.h"
#include "llm/openai-wire.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto r = ecpo::llm::parse_chat_request(ecpo::fuzz::text(data, size));
    if (r.messages.empty() || r.params.max_tokens < 1 || !(r.params.temperature >= 0 && r.params.temperature <= 2) ||
        !(r.params.top_p >= 0 && r.params.top_p <= 1))
      std::abort();
    for (const auto& s : r.params.stop)
      if (s.empty()) std::abort();
    // The reply writers must cope with whatever text the request carried (invalid UTF-8 included).
    ecpo::llm::ChatResult res;
    res.text = r.messages.back().content;
    (void)ecpo::llm::dump_json(ecpo::llm::completion_json("id", r.model, 0, res));
  } catch (const ecpo::llm::WireError& e) {
    if (e.status != 400 || e.message.empty()) std::abort();
    (void)ecpo::llm::dump_json(ecpo::llm::error_json(e));
  }
  return 0;
}
