// An OpenAI-compatible HTTP endpoint over ANY llm::ChatModel (the local libtorch engine, a scripted test
// model, even a remote client): POST /v1/chat/completions (JSON or SSE `stream: true`), GET /v1/models,
// GET /health. The HTTP layer (cpp-httplib) stays in serve.cpp; this header is torch- and httplib-free.
// Streaming is live: each ChatParams::on_delta piece becomes one SSE chunk as it is generated (OpenAI's
// chat.completion.chunk format: a role chunk, content chunks, a finish_reason chunk, an optional usage chunk,
// `data: [DONE]`); a ChatModel that does not stream sends its reply as one content chunk at the end. A client
// that disconnects cancels generation (noticed at the next chunk write). No auth, no TLS, one model per server.
#pragma once
#include <cstddef>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"

namespace ecpo::model {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                          // 0 = any free port (read it back with ChatServer::port())
  std::string model_id;                     // id served in /v1/models and replies; empty → model.model_name()
  std::size_t max_body_bytes = 8u << 20;    // larger request bodies get 413
  int read_timeout_s = 30;                  // per-connection socket read timeout
  int write_timeout_s = 600;                // long generations: keep the socket open this long
  int keep_alive_timeout_s = 5;             // idle keep-alive connections close after this; stop() waits for them
};

// One server bound to one ChatModel. The ChatModel must outlive the server and be thread-safe
// (httplib serves each connection on a worker thread; the local backend serialises generation itself).
class ChatServer {
 public:
  ChatServer(llm::ChatModel& model, ServeOptions options);
  ~ChatServer();  // stops and joins
  ChatServer(const ChatServer&) = delete;
  ChatServer& operator=(const ChatServer&) = delete;

  // Binds the listening socket; returns the port. Throws ecpo::Error when the address is unusable.
  int bind();
  // Serves until stop() (binds first when bind() was not called). Blocks the calling thread.
  void listen();
  // bind() + listen() on a background thread; returns once the server accepts connections.
  void start();
  // Stops accepting, finishes in-flight requests, joins the background thread. Idempotent.
  void stop();
  bool running() const;
  int port() const;
  const std::string& model_id() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs a ChatServer in the foreground until SIGINT or SIGTERM, logging the address. Used by `ecpo serve`.
void serve_chat_model(llm::ChatModel& model, const ServeOptions& options);

// ---- request/response mapping, exposed for tests and for clients that want the same validation ----

// A request that must be answered with an OpenAI error object: {error: {message, type, code}}.
struct RequestError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string code;  // e.g. "model_not_found", "invalid_value"; empty → null
};

// Parses a chat-completions body into messages + sampling parameters. Accepts: messages (content as a
// string or as [{type:"text", text}] parts; role "developer" = system), temperature (absent → 1.0, as
// OpenAI), top_p, max_tokens | max_completion_tokens (absent → 512),
// stop (string or list), seed, n (only 1), response_format {type:"json_schema", json_schema:{name, schema}}.
// Throws RequestError (status 400) naming the offending field.
struct ChatRequest {
  std::string model;  // as sent; empty when absent
  std::vector<llm::Message> messages;
  llm::ChatParams params;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};
ChatRequest parse_chat_request(const nlohmann::json& body);

// The OpenAI error JSON for a RequestError.
nlohmann::json error_json(const RequestError& e);
// A non-streaming `chat.completion` object for one result.
nlohmann::json completion_json(const std::string& id, const std::string& model_id, std::int64_t created,
                               const llm::ChatResult& r);

}  // namespace ecpo::model
