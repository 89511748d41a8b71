// One blocking HTTP request through libcurl's easy interface, on a handle cached per thread (its connections
// kept alive with it): http and https, proxies from the environment, chunked bodies, HTTP/1.0 replies.
// It knows nothing about OpenAI's JSON: it moves bytes and reports transport failures as data, never throws.
#pragma once
#include <optional>
#include <string>

namespace ecpo::http {

struct Request {
  std::string url;
  const std::string* body = nullptr;  // null → GET, else POST with Content-Type: application/json
  std::string authorization;          // full header value ("Bearer …") or "" for none; never logged
  double timeout_ms = 60000;          // whole transfer
  double connect_timeout_ms = 5000;
  // https only: a PEM file of CA certificates to verify the server with ("" = the system's store), and
  // verify_tls = false to skip verification altogether (a self-signed test server; never for real keys).
  std::string ca_file;
  bool verify_tls = true;
};

struct Response {
  int curl_code = 0;          // CURLcode; 0 = the transfer completed
  std::string curl_error;     // libcurl's message when curl_code != 0
  long status = 0;            // HTTP status (0 when no response)
  std::string body;
  std::optional<std::string> retry_after;     // Retry-After header
  std::optional<std::string> retry_after_ms;  // retry-after-ms header (OpenAI, fake server)
  bool timed_out = false;     // CURLE_OPERATION_TIMEDOUT
  bool retryable_transport = false;  // connection refused/reset, partial body, empty reply, timeout
};

// Blocks the calling thread until the transfer completes, fails or times out. Safe from any thread.
Response perform(const Request& req);

// Closes the calling thread's libcurl handle with its kept-alive connections (a later request reconnects).
// Used before stopping a local server whose shutdown waits for idle keep-alive connections.
void close_thread_connections();

}  // namespace ecpo::http
