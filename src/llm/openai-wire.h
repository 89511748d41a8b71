// The OpenAI chat-completions wire format, server side: parsing a request body into messages + ChatParams
// (every field checked, every error a WireError naming the field), and writing replies, SSE chunks, model
// lists and error objects. Shared by `ecpo serve`, `ecpo fake-server` (both ChatServer, chat-server.h) and
// the client's tests. Not here: the client's side (openai-client.cpp writes request bodies, chat-reply.h reads
// replies) and anything about HTTP connections.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"

namespace ecpo::llm {

// A request answered with an OpenAI error object {error: {message, type, param, code}} and an HTTP status.
struct WireError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string code;   // e.g. "model_not_found", "invalid_value"; empty → null
  std::string param;  // the offending field's path ("messages[2].content"); empty → null
};

struct ChatRequest {
  std::string model;  // as sent; empty when absent
  std::vector<Message> messages;
  ChatParams params;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

// Parses a chat-completions body. Accepts: model, messages (content a string, null, or [{type:"text", text}]
// parts; role "developer" = system), temperature (absent → 1.0, as OpenAI), top_p, max_tokens |
// max_completion_tokens (absent → ChatParams' 512), stop (string or list), seed, n (only 1),
// response_format {type: text | json_object | json_schema {name, schema}}, vLLM's guided_json, stream,
// stream_options.include_usage. Unknown fields are ignored. Throws WireError (400) naming the field for
// malformed JSON, a wrong type or an out-of-range value; never anything else.
ChatRequest parse_chat_request(std::string_view body);
ChatRequest parse_chat_request(const nlohmann::json& body);

// Status and body for a ChatError from the model (timeout 504, rate limit 429, unknown model 404, else 500).
WireError wire_error_from(const ChatError& e);

// ---- writing ----
// Every writer replaces invalid UTF-8 (a reply cut inside a character) by U+FFFD instead of throwing.
std::string dump_json(const nlohmann::json& j);
nlohmann::json error_json(const WireError& e);
nlohmann::json usage_json(const Usage& u);
// A non-streaming `chat.completion` object for one result (finish_reason "" is sent as "stop").
nlohmann::json completion_json(const std::string& id, const std::string& model, std::int64_t created,
                               const ChatResult& r);
// One `chat.completion.chunk` with one choice (delta, finish_reason null or a string).
nlohmann::json chunk_json(const std::string& id, const std::string& model, std::int64_t created,
                          const nlohmann::json& delta, const nlohmann::json& finish_reason);
// The usage chunk sent last before [DONE] with stream_options.include_usage: no choices, usage set.
nlohmann::json usage_chunk_json(const std::string& id, const std::string& model, std::int64_t created,
                                const Usage& u);
// "data: <compact json>\n\n" and the terminating "data: [DONE]\n\n".
std::string sse_event(const nlohmann::json& j);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";
// GET /v1/models and /v1/models/{id}.
nlohmann::json model_json(const std::string& id, const std::string& owned_by);
nlohmann::json models_json(const std::vector<std::string>& ids, const std::string& owned_by);

}  // namespace ecpo::llm
