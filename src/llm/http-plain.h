// The built-in client for plain http:// URLs (local vLLM, llama.cpp, Ollama, the fake server): the caller
// takes a kept-alive connection from a process-wide pool (or connects), sends the request, and sleeps in
// poll() on that socket until the reply is in, parsed by http1-parser.h. About 60% of libcurl's CPU per
// call in llm-bench. Not here: https, proxies (http-transport.cpp sends those through libcurl).
// Failures are reported with the CURLcode libcurl would give, so callers classify them one way.
#pragma once
#include <string>

#include "llm/http-transport.h"

namespace ecpo::http::plain {

struct Target {
  std::string host;      // as written (brackets of an IPv6 literal removed)
  std::string port;      // "80" when absent
  std::string hostport;  // the pool key and the Host header
  std::string path;      // "/..." (with any query)
};
// http://host[:port][/path]; false for anything else (https, user:pass@, bad port).
bool parse_url(const std::string& url, Target& t);

// One request over the pool; never throws. The caller fills in retryable_transport.
Response perform(const Request& req, const Target& t);

// Closes every idle pooled connection.
void close_idle();

}  // namespace ecpo::http::plain
