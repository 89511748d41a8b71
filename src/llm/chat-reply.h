// The fields ecpo reads from an OpenAI chat.completion reply — choices[0].message.content (string or null),
// choices[0].finish_reason, usage.prompt_tokens / usage.completion_tokens — pulled out with nlohmann's SAX
// interface instead of building the whole JSON tree (that tree cost ~40 allocations per call, a sizeable part of
// the client's CPU at high concurrency). Same answers as reading the tree, duplicate keys included (last wins).
// It does not validate anything else in the reply.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace ecpo::llm {

struct ChatReplyFields {
  bool json_ok = false;      // the body is one valid JSON value and an object
  bool has_content = false;  // choices[0].message.content exists and is a string or null
  std::string content;       // "" when null
  std::string finish_reason; // "" unless choices[0].finish_reason is a string
  std::int64_t prompt_tokens = 0, completion_tokens = 0;  // 0 unless usage.* are integers; clamped to [0, 2^63)
};

ChatReplyFields parse_chat_reply(std::string_view body);

}  // namespace ecpo::llm
