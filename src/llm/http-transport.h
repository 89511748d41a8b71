// One blocking HTTP request through libcurl, on an easy handle cached per thread so connections are kept
// alive and reused across calls (one handle per thread is libcurl's rule for thread safety).
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

Response perform(const Request& req);

// Closes the calling thread's cached handle and its kept-alive connections (a later perform() reopens).
void close_thread_connections();

}  // namespace ecpo::http
