// ChatModel over an OpenAI-compatible /chat/completions endpoint (OpenAI, vLLM, llama.cpp server, Ollama):
// request building per structured-output dialect, response parsing, bounded retries with backoff, and
// load balancing over several base URLs. The API key is read from the environment variable the config
// names, sent only in the Authorization header, and redacted from every message this class produces.
// Not here: caching and accounting (decorators in response-cache.h and accounted-model.h).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"
#include "llm/endpoint-pool.h"
#include "llm/retry-policy.h"

namespace ecpo::llm {

// How a JSON schema is requested from the server.
enum class StructuredMode {
  json_schema,  // response_format {type: json_schema, json_schema: {name, schema, strict}} (OpenAI, vLLM, llama.cpp, Ollama)
  guided_json,  // vLLM's extra parameter guided_json: schema
  json_object,  // response_format {type: json_object}: JSON but no schema
  none,         // nothing: the prompt alone asks for JSON
};
StructuredMode structured_mode_from_name(const std::string& name, const std::string& where);
const char* structured_mode_name(StructuredMode m);

struct OpenAiOptions {
  std::string label = "llm";              // role name, used in messages
  std::vector<std::string> base_urls;     // normalised, e.g. http://127.0.0.1:8000/v1
  std::string model;
  std::string api_key_env;                // environment variable holding the key; "" = send none
  int max_concurrency = 16;               // per base URL
  double timeout_ms = 60000;
  double connect_timeout_ms = 5000;
  std::string ca_file;                    // https: PEM CA bundle to verify the server ("" = system store)
  bool verify_tls = true;                 // https: false skips certificate verification (test servers only)
  RetryPolicy retry;
  StructuredMode structured = StructuredMode::json_schema;
  bool strict_schema = false;             // json_schema.strict
  nlohmann::json extra_body = nlohmann::json::object();  // merged into every request body
};

class OpenAiClient : public ChatModel {
 public:
  // `registry` shares per-URL limits between clients (may be null: the client owns one).
  // Never throws for a missing key: calls then fail with FailureKind::auth naming the variable.
  explicit OpenAiClient(OpenAiOptions opts, std::shared_ptr<EndpointRegistry> registry = nullptr);

  ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) override;
  std::string model_name() const override { return opts_.model; }

  // One call on endpoint `index` with `policy` (for `llm check`).
  ChatResult chat_on(std::size_t index, const std::vector<Message>& messages, const ChatParams& params,
                     const RetryPolicy& policy);
  // GET {base}/models on endpoint `index`: the model ids it serves. Throws ChatError.
  std::vector<std::string> list_models(std::size_t index);

  const OpenAiOptions& options() const { return opts_; }
  std::size_t endpoint_count() const { return pool_.size(); }
  const std::string& base_url(std::size_t i) const { return pool_.base_url(i); }
  bool has_key() const { return !key_.empty(); }

  // The request body chat() sends (exposed for tests).
  std::string request_body(const std::vector<Message>& messages, const ChatParams& params) const;
  // Replaces every occurrence of the key in `s` with "[redacted]".
  std::string redact(std::string s) const;

 private:
  ChatResult run(const std::vector<Message>& messages, const ChatParams& params, const RetryPolicy& policy,
                 std::size_t pinned);
  std::shared_ptr<EndpointRegistry> registry_;
  OpenAiOptions opts_;
  EndpointPool pool_;
  std::string key_;
};

}  // namespace ecpo::llm
