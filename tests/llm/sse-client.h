// An SSE test client for the chat server: POSTs a chat request and splits the `data:` events as bytes arrive
// (a callback sees each one the moment it is complete and may drop the connection). Shared by the server's
// tests in tests/llm and the local-model streaming tests in tests/model.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace ecpo::test {

struct SseReply {
  bool ok = false;
  int status = 0;
  std::string error_body;           // the body when the reply is not an event stream
  std::vector<std::string> events;  // "data: " payloads in order
};

// POSTs `body` and splits the event stream as bytes arrive; on_event sees each payload the moment it is
// complete and may return false to drop the connection.
inline SseReply stream_post(int port, const nlohmann::json& body, const std::function<bool(const std::string&)>& on_event = {}) {
  SseReply out;
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(5, 0);
  c.set_read_timeout(60, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  std::string buf;
  bool is_sse = false;
  req.response_handler = [&](const httplib::Response& r) {
    out.status = r.status;
    is_sse = r.get_header_value("Content-Type").find("text/event-stream") != std::string::npos;
    return true;
  };
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    if (!is_sse) {
      out.error_body.append(data, n);
      return true;
    }
    buf.append(data, n);
    for (std::size_t end; (end = buf.find("\n\n")) != std::string::npos;) {
      std::string ev = buf.substr(0, end);
      buf.erase(0, end + 2);
      EXPECT_EQ(ev.rfind("data: ", 0), 0u) << ev;
      out.events.push_back(ev.substr(6));
      if (on_event && !on_event(out.events.back())) return false;
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err;
  out.ok = c.send(req, res, err);
  if (out.ok) {
    EXPECT_TRUE(buf.empty()) << "a partial event after the stream ended: " << buf;
  }
  return out;
}

// The content of a chat.completion.chunk payload ("" when it has none).
inline std::string content_of(const std::string& event) {
  if (event == "[DONE]") return "";
  nlohmann::json c = nlohmann::json::parse(event);
  if (c["choices"].empty() || !c["choices"][0]["delta"].contains("content")) return "";
  return c["choices"][0]["delta"]["content"].get<std::string>();
}

}  // namespace ecpo::test
