// A fake OpenAI-compatible server for tests, benchmarks and `ecpo fake-server` demos: a scripted ChatModel
// (sequence, then rules, then a reply synthesised from the request's JSON schema, else an echo; stop strings
// and max_tokens counted in words) behind the same ChatServer as `ecpo serve` (chat-server.h), with
// configurable latency and injected faults through its fault hook — 429 with Retry-After, 500, stalls past
// the client's timeout, truncated bodies, malformed JSON. It is not a model: replies carry no meaning beyond
// the script. Loopback by default; streaming, auth and HTTPS come with ChatServer.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/chat-server.h"
#include "util/rng.h"

namespace ecpo::llm {

// Scripted replies. A reply is a string or any JSON value (sent as its compact dump).
struct FakeScript {
  std::vector<nlohmann::json> sequence;  // one per chat call, in order, before rules apply
  struct Rule {
    std::string match;  // case-insensitive substring of the last user message
    nlohmann::json reply;
  };
  std::vector<Rule> rules;
  std::optional<nlohmann::json> fallback;  // "default:" in the file
};
// Reads a YAML/JSON script {sequence: [...], rules: [{match, reply}], default: ...}; throws ecpo::Error.
FakeScript load_fake_script(const std::filesystem::path& path);

enum class FakeFault { rate_limit, server_error, stall, truncated, malformed };
const char* fake_fault_name(FakeFault f);

struct FakeServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                 // 0: any free port
  double latency_ms = 0;        // added to every chat reply
  double fault_rate = 0;        // probability that a chat call gets a fault
  std::vector<FakeFault> faults = {FakeFault::rate_limit, FakeFault::server_error, FakeFault::stall,
                                   FakeFault::truncated, FakeFault::malformed};
  double stall_ms = 30000;      // a stall holds the reply this long (should exceed the client's timeout)
  double retry_after_ms = 1000; // sent with 429 as retry-after-ms and as Retry-After (whole seconds, rounded up)
  std::uint64_t seed = 1;       // fault draws
  std::vector<std::string> models = {"fake-model", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o",
                                     "gpt-4o-2024-08-06"};  // empty: any model accepted
  std::string api_key;          // when set, requests must carry "Authorization: Bearer <api_key>"
  FakeScript script;
  int threads = 128;            // worker threads (one per open connection)
  int keep_alive_s = 5;         // an idle connection is closed after this; stop() may wait this long for one
  int backlog = 1024;           // listen backlog (httplib's compiled-in 5 drops SYNs under a burst of connects)
  // HTTPS: PEM certificate chain and private key files (both or neither); base_url() then starts with https://.
  std::string tls_cert, tls_key;
};

struct FakeServerStats {
  std::uint64_t requests = 0, chat_requests = 0, ok = 0, auth_failures = 0, not_found = 0, bad_requests = 0;
  std::uint64_t faults[5] = {0, 0, 0, 0, 0};  // indexed by FakeFault
  int max_in_flight = 0;                       // most chat requests handled at once
  std::uint64_t fault_total() const { return faults[0] + faults[1] + faults[2] + faults[3] + faults[4]; }
};

class FakeServer {
 public:
  explicit FakeServer(FakeServerOptions opts);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // Binds and serves on a background thread; returns the port. Throws ecpo::Error if it cannot bind.
  int start();
  // Serves on the calling thread until SIGINT/SIGTERM (`ecpo fake-server`).
  void run();
  void stop();
  int port() const { return server_->port(); }
  std::string base_url() const { return server_->base_url(); }  // http://host:port/v1 (https:// with tls_cert)
  FakeServerStats stats() const;

  // Word-count token estimate used for usage (exposed so tests can compute expected values).
  static std::int64_t count_tokens(const std::string& text);

 private:
  class ScriptModel;
  ChatFault draw_fault(const ChatRequest& request);

  FakeServerOptions opts_;
  std::unique_ptr<ScriptModel> model_;
  std::unique_ptr<ChatServer> server_;
  mutable std::mutex mu_;  // rng_, faults_
  Rng rng_;
  std::uint64_t faults_[5] = {0, 0, 0, 0, 0};
};

// The reply the server makes up for a schema: objects get every property, strings "fake", numbers their
// minimum (or 0), booleans true, enums their first value, arrays one item.
nlohmann::json fake_value_for_schema(const nlohmann::json& schema);

}  // namespace ecpo::llm
