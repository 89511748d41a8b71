// An OpenAI-compatible HTTP endpoint over ANY llm::ChatModel: POST /v1/chat/completions (JSON, or SSE with
// `stream: true`), GET /v1/models[/{id}], GET /health. `ecpo serve` puts the local engine behind it,
// `ecpo fake-server` a scripted model (fake-server.h). The wire format is openai-wire.h; this layer adds
// HTTP (cpp-httplib, kept out of this header), auth, optional TLS, counters and a fault-injection hook.
// Streaming is live: each ChatParams::on_delta piece becomes one SSE chunk as it is generated (a role chunk,
// content chunks, a finish_reason chunk, an optional usage chunk, `data: [DONE]`); a ChatModel that does not
// stream sends its reply as one content chunk at the end. A client that disconnects cancels generation
// (noticed at the next chunk write). Requests are served on worker threads and call model.chat()
// concurrently: the model decides how to share itself (the server never serialises calls).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "llm/chat-model.h"
#include "llm/openai-wire.h"

namespace ecpo::llm {

// What the fault hook makes the server do with one chat request (the fake server's injected faults).
struct ChatFault {
  double delay_ms = 0;  // hold the request this long before anything else (cut short by stop())
  int status = 0;       // != 0: answer with this status, `headers` and `body` instead of calling the model
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  enum class Mangle { none, truncate, garbage };
  // A non-streamed 200 reply sent broken: truncate announces the full Content-Length, sends half and drops
  // the connection; garbage sends half the JSON followed by "<<garbage>>".
  Mangle mangle = Mangle::none;
};

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                        // 0 = any free port (read it back with ChatServer::port())
  std::string model_id;                   // id served in /v1/models and replies; empty → model.model_name()
  std::vector<std::string> aliases;       // more model names accepted and listed (a reply echoes the name asked for)
  bool any_model = false;                 // accept every model name (replies echo it)
  std::string owned_by = "ecpo";          // /v1/models owned_by
  std::string api_key;                    // when set, /v1/* requests need "Authorization: Bearer <api_key>"
  std::string tls_cert, tls_key;          // PEM files: serve HTTPS (both or neither)
  std::size_t max_body_bytes = 8u << 20;  // larger request bodies get 413
  int read_timeout_s = 30;                // per-connection socket read timeout
  int write_timeout_s = 600;              // long generations: keep the socket open this long
  int keep_alive_timeout_s = 5;           // idle keep-alive connections close after this; stop() waits for them
  int threads = 0;                        // worker threads (one per open connection); 0 = httplib's default
  int backlog = 0;                        // listen backlog; 0 = httplib's (5: a burst of connects loses SYNs)
  bool log_chats = true;                  // one info line per chat (tokens, ms, finish); debug level when false
  // Called once per chat request after it parsed and passed the auth and model checks (tests, fake server).
  std::function<ChatFault(const ChatRequest&)> fault;
};

struct ChatServerStats {
  std::uint64_t requests = 0;       // every request to /v1/* (and /health)
  std::uint64_t chat_requests = 0;  // POST /v1/chat/completions
  std::uint64_t ok = 0;             // chat requests answered 200 with an intact reply
  std::uint64_t bad_requests = 0;   // 400: the body did not parse
  std::uint64_t auth_failures = 0;  // 401
  std::uint64_t not_found = 0;      // 404: unknown model
  std::uint64_t model_errors = 0;   // the model threw
  int max_in_flight = 0;            // most chat requests handled at once
};

class ChatServer {
 public:
  // The ChatModel must outlive the server and be safe to call from several threads at once.
  ChatServer(ChatModel& model, ServeOptions options);
  ~ChatServer();  // stops and joins
  ChatServer(const ChatServer&) = delete;
  ChatServer& operator=(const ChatServer&) = delete;

  // Binds the listening socket; returns the port. Throws ecpo::Error when the address is unusable.
  int bind();
  // Serves until stop() (binds first when bind() was not called). Blocks the calling thread.
  void listen();
  // bind() + listen() on a background thread; returns once the server accepts connections.
  void start();
  // Stops accepting, finishes in-flight requests, joins the background thread. Idempotent. It first closes
  // the calling thread's own kept-alive client connections (http-transport.h), which stop() would otherwise
  // wait out.
  void stop();
  bool running() const;
  int port() const;
  const std::string& model_id() const;
  std::string base_url() const;  // http(s)://host:port/v1
  ChatServerStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Runs a ChatServer in the foreground until SIGINT or SIGTERM, logging the address. Used by `ecpo serve`
// and `ecpo fake-server`.
void serve_until_signal(ChatServer& server, const std::string& what);

}  // namespace ecpo::llm
