// The one interface every LLM role talks through: chat(messages, params) → result.
// Backends: OpenAI-compatible HTTP (llm/), the built-in libtorch engine (model/, "local"), offline roles.
// Implementations must be safe to call from many episodes (threads) at once. Streaming is an optional hook
// (ChatParams::on_delta); the interface stays one blocking call that returns the whole result.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ecpo::llm {

struct Message {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

struct ChatParams {
  double temperature = 0.0;
  double top_p = 1.0;
  int max_tokens = 512;
  std::vector<std::string> stop;
  std::optional<std::uint64_t> seed;
  // JSON schema the reply must satisfy (structured output); null = free text.
  nlohmann::json json_schema = nullptr;
  std::string schema_name = "reply";
  // Optional live text stream; not part of any cache key and not sent to servers. When set, chat() calls it
  // with consecutive pieces of the reply, on the calling thread, before it returns; the pieces concatenate
  // to exactly ChatResult::text (each is valid UTF-8). Backends that generate token by token (the local
  // engine) call it as text is produced, holding back bytes that may still turn into a stop string or
  // complete a UTF-8 character; backends that do not stream (the HTTP client, a response-cache hit) call it
  // once with the whole text (no call for an empty reply). Return false to ask the backend to stop early:
  // the local engine cancels (finish_reason "cancelled", text = what was delivered); a backend that already
  // has the whole reply ignores it. Use deliver_whole_text() to implement the non-streaming contract.
  std::function<bool(std::string_view delta)> on_delta;
};

// For backends without token streaming: hands a finished reply to params.on_delta in one piece (when set
// and the text is non-empty). Call it once, just before returning the result.
inline void deliver_whole_text(const ChatParams& params, std::string_view text) {
  if (params.on_delta && !text.empty()) params.on_delta(text);
}

struct Usage {
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  // Prompt tokens served from a prefix cache instead of being computed (the local engine's prefix reuse; OpenAI's
  // usage.prompt_tokens_details.cached_tokens). 0 when none or unknown.
  std::int64_t cached_tokens = 0;
};

struct ChatResult {
  std::string text;
  std::string finish_reason;  // "stop" | "length" | ...
  Usage usage;
  double latency_ms = 0;
  int retries = 0;
  bool cache_hit = false;
  std::string endpoint;  // base URL that answered ("" for cache hits and non-HTTP backends)
};

// Why a call failed after all retries; the caller records it (the episode notes it; the run goes on).
enum class FailureKind { transport, timeout, http_status, bad_response, auth, not_found, rate_limited, other };

class ChatError : public std::runtime_error {
 public:
  ChatError(FailureKind kind, std::string message, int http_status = 0, int attempts = 1, std::string endpoint = {})
      : std::runtime_error(std::move(message)), kind_(kind), http_status_(http_status), attempts_(attempts),
        endpoint_(std::move(endpoint)) {}
  FailureKind kind() const { return kind_; }
  int http_status() const { return http_status_; }
  int attempts() const { return attempts_; }
  const std::string& endpoint() const { return endpoint_; }  // last base URL tried ("" when none)

 private:
  FailureKind kind_;
  int http_status_;
  int attempts_;
  std::string endpoint_;
};

class ChatModel {
 public:
  virtual ~ChatModel() = default;
  // Throws ChatError when the call fails for good.
  virtual ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) = 0;
  // The model identifier used in cache keys and accounting.
  virtual std::string model_name() const = 0;
};

nlohmann::json to_json(const Message& m);
nlohmann::json to_json(const std::vector<Message>& ms);
std::vector<Message> messages_from_json(const nlohmann::json& j);  // throws ecpo::Error on bad shape
const char* failure_kind_name(FailureKind k);

}  // namespace ecpo::llm
