// Fuzz target: the client's reader of OpenAI chat.completion replies (llm::parse_chat_reply, a SAX handler).
// It never throws; its answer must agree with reading the same body as a JSON tree.
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "fuzz-support.h"
#include "llm/chat-reply.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body = ecpo::fuzz::text(data, size);
  ecpo::llm::ChatReplyFields f = ecpo::llm::parse_chat_reply(body);
  auto j = nlohmann::json::parse(body.begin(), body.end(), nullptr, false);
  if (f.json_ok != (!j.is_discarded() && j.is_object())) std::abort();
  if (!f.json_ok) return 0;
  // The tree's view of choices[0].message.content.
  const nlohmann::json* c = nullptr;
  if (auto ch = j.find("choices"); ch != j.end() && ch->is_array() && !ch->empty() && (*ch)[0].is_object())
    if (auto m = (*ch)[0].find("message"); m != (*ch)[0].end() && m->is_object())
      if (auto ct = m->find("content"); ct != m->end()) c = &*ct;
  const bool has = c && (c->is_string() || c->is_null());
  if (f.has_content != has) std::abort();
  if (has && f.content != (c->is_string() ? c->get<std::string>() : std::string())) std::abort();
  return 0;
}
