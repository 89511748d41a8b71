// llm/http-transport, http-plain and http1-parser: the HTTP/1.1 response parser on hand-written
// replies (split anywhere, chunked, interim 100, close-delimited, malformed), URL parsing, and both engines
// (built-in plain-http client and libcurl) against the fake server: replies, Retry-After, each transport
// failure's code and retry class, timeouts, concurrency, and closing idle connections.
#include "llm/http-transport.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <curl/curl.h>

#include "llm/fake-server.h"
#include "llm/http-plain.h"
#include "llm/http1-parser.h"
#include "test-support.h"

using namespace ecpo;
using ecpo::http::Http1Parser;

namespace {

// Feeds `s` in pieces of `step` bytes; returns the parser.
Http1Parser parse(const std::string& s, std::size_t step) {
  Http1Parser p;
  for (std::size_t i = 0; i < s.size() && !p.done() && !p.failed(); i += step)
    p.feed(s.data() + i, std::min(step, s.size() - i));
  return p;
}

}  // namespace

TEST(Http1Parser, ContentLengthInAnySplit) {
  const std::string reply =
      "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 11\r\nRetry-After: 2\r\nretry-after-ms: 1500\r\n"
      "X-Other: y\r\n\r\nhello world";
  for (std::size_t step : {1u, 2u, 7u, 1000u}) {
    auto p = parse(reply, step);
    ASSERT_TRUE(p.done()) << step;
    EXPECT_EQ(p.status, 429);
    EXPECT_EQ(p.body, "hello world");
    EXPECT_EQ(p.retry_after.value_or(""), "2");
    EXPECT_EQ(p.retry_after_ms.value_or(""), "1500");
    EXPECT_TRUE(p.keep_alive);
  }
}

TEST(Http1Parser, ChunkedWithExtensionsAndTrailers) {
  // Chunks "Wiki" (4) + "pedia" (5) + " in chunks." (0xb = 11), a chunk extension and a trailer.
  const std::string reply =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\nB\r\n in chunks.\r\n"
      "0\r\nTrailer: x\r\n\r\n";
  for (std::size_t step : {1u, 3u, 1000u}) {
    auto p = parse(reply, step);
    ASSERT_TRUE(p.done()) << step;
    EXPECT_EQ(p.body, "Wikipedia in chunks.");
  }
}

TEST(Http1Parser, InterimCloseDelimitedAndNoBody) {
  auto p = parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 5);
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.status, 200);
  EXPECT_EQ(p.body, "ok");

  Http1Parser c;  // no length: the body runs to the end of the connection, which is then not reusable
  std::string s = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it";
  c.feed(s.data(), s.size());
  EXPECT_FALSE(c.done());
  c.on_eof();
  ASSERT_TRUE(c.done());
  EXPECT_EQ(c.body, "all of it");
  EXPECT_FALSE(c.keep_alive);

  auto n = parse("HTTP/1.1 204 No Content\r\n\r\n", 1000);
  EXPECT_TRUE(n.done());
  EXPECT_TRUE(n.body.empty());
  auto old = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 1000);
  EXPECT_TRUE(old.done());
  EXPECT_FALSE(old.keep_alive);  // HTTP/1.0 without keep-alive
}

TEST(Http1Parser, MalformedAndTruncated) {
  EXPECT_TRUE(parse("SSH-2.0-OpenSSH\r\n\r\n", 1000).failed());
  EXPECT_TRUE(parse("HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n", 1000).failed());
  EXPECT_TRUE(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 1000).failed());
  EXPECT_TRUE(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 1000).failed());
  auto t = parse("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", 1000);
  EXPECT_FALSE(t.done());
  EXPECT_EQ(t.remaining(), 6u);
  EXPECT_TRUE(t.started());
  // Bytes after a complete reply are not consumed.
  Http1Parser e;
  std::string two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1";
  EXPECT_EQ(e.feed(two.data(), two.size()), two.size() - 8);
  EXPECT_TRUE(e.done());
}

TEST(HttpPlain, ParseUrl) {
  http::plain::Target t;
  ASSERT_TRUE(http::plain::parse_url("http://127.0.0.1:8000/v1/chat/completions", t));
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, "8000");
  EXPECT_EQ(t.hostport, "127.0.0.1:8000");
  EXPECT_EQ(t.path, "/v1/chat/completions");
  ASSERT_TRUE(http::plain::parse_url("http://localhost", t));
  EXPECT_EQ(t.port, "80");
  EXPECT_EQ(t.path, "/");
  ASSERT_TRUE(http::plain::parse_url("http://[::1]:9/models?x=1#frag", t));
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.path, "/models?x=1");
  EXPECT_FALSE(http::plain::parse_url("https://api.openai.com/v1", t));
  EXPECT_FALSE(http::plain::parse_url("http://user:pw@host/x", t));
  EXPECT_FALSE(http::plain::parse_url("http://host:99999/x", t));
  EXPECT_FALSE(http::plain::parse_url("http://:80/x", t));
}

// Both engines must behave alike; each test runs under each.
class HttpEngines : public ::testing::TestWithParam<http::Engine> {
 protected:
  void SetUp() override { http::set_engine(GetParam()); }
  void TearDown() override { http::set_engine(http::Engine::automatic); }
  static http::Response post(const llm::FakeServer& srv, const std::string& body, double timeout_ms = 2000) {
    http::Request req;
    req.url = srv.base_url() + "/chat/completions";
    req.body = &body;
    req.timeout_ms = timeout_ms;
    req.connect_timeout_ms = 1000;
    return http::perform(req);
  }
};

const std::string kBody = R"({"model":"fake-model","messages":[{"role":"user","content":"hi there"}]})";

TEST_P(HttpEngines, ReplyAndModels) {
  llm::FakeServer srv({});
  srv.start();
  auto r = post(srv, kBody);
  EXPECT_EQ(r.curl_code, 0) << r.curl_error;
  EXPECT_EQ(r.status, 200);
  auto j = nlohmann::json::parse(r.body);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Fake reply to: hi there");
  http::Request get;
  get.url = srv.base_url() + "/models";
  auto m = http::perform(get);
  EXPECT_EQ(m.status, 200);
  EXPECT_TRUE(nlohmann::json::parse(m.body).contains("data"));
  EXPECT_EQ(srv.stats().requests, 2u);
}

TEST_P(HttpEngines, RateLimitCarriesRetryAfter) {
  llm::FakeServerOptions o;
  o.fault_rate = 1;
  o.faults = {llm::FakeFault::rate_limit};
  o.retry_after_ms = 1500;
  llm::FakeServer srv(o);
  srv.start();
  auto r = post(srv, kBody);
  EXPECT_EQ(r.curl_code, 0);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.retry_after_ms.value_or(""), "1500");
  EXPECT_EQ(r.retry_after.value_or(""), "2");  // whole seconds, rounded up
}

TEST_P(HttpEngines, TransportFailuresAreClassified) {
  {
    llm::FakeServerOptions o;
    o.fault_rate = 1;
    o.faults = {llm::FakeFault::truncated};
    llm::FakeServer srv(o);
    srv.start();
    auto r = post(srv, kBody);
    EXPECT_EQ(r.curl_code, CURLE_PARTIAL_FILE) << r.curl_error;
    EXPECT_TRUE(r.retryable_transport);
    EXPECT_FALSE(r.timed_out);
  }
  {
    llm::FakeServerOptions o;
    o.fault_rate = 1;
    o.faults = {llm::FakeFault::stall};
    o.stall_ms = 1500;
    llm::FakeServer srv(o);
    srv.start();
    auto t0 = std::chrono::steady_clock::now();
    auto r = post(srv, kBody, 200);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(r.curl_code, CURLE_OPERATION_TIMEDOUT) << r.curl_error;
    EXPECT_TRUE(r.timed_out);
    EXPECT_TRUE(r.retryable_transport);
    EXPECT_GE(ms, 190);
    EXPECT_LT(ms, 1400);  // well before the stalled reply would come
  }
  // Nothing listens on the port of a server that has stopped.
  int port;
  {
    llm::FakeServer srv({});
    port = srv.start();
  }
  http::Request req;
  req.url = "http://127.0.0.1:" + std::to_string(port) + "/v1/models";
  auto r = http::perform(req);
  EXPECT_EQ(r.curl_code, CURLE_COULDNT_CONNECT) << r.curl_error;
  EXPECT_TRUE(r.retryable_transport);
  EXPECT_FALSE(r.curl_error.empty());
}

TEST_P(HttpEngines, ManyThreadsShareKeptAliveConnections) {
  llm::FakeServerOptions o;
  o.latency_ms = 5;
  llm::FakeServer srv(o);
  srv.start();
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 16; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 10; ++i)
        if (post(srv, kBody).status == 200) ok++;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok, 160);
  EXPECT_EQ(srv.stats().chat_requests, 160u);
  // Closing idle connections lets the server stop at once instead of waiting out keep-alive (5 s).
  http::close_thread_connections();
  auto t0 = std::chrono::steady_clock::now();
  srv.stop();
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 3.0);
}

TEST_P(HttpEngines, ReconnectsAfterTheServerDropsIdleConnections) {
  llm::FakeServerOptions o;
  o.keep_alive_s = 1;  // the server closes idle connections after a second
  llm::FakeServer srv(o);
  srv.start();
  EXPECT_EQ(post(srv, kBody).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  auto r = post(srv, kBody);
  EXPECT_EQ(r.curl_code, 0) << r.curl_error;
  EXPECT_EQ(r.status, 200);
}

INSTANTIATE_TEST_SUITE_P(BothEngines, HttpEngines, ::testing::Values(http::Engine::automatic, http::Engine::curl),
                         [](const auto& info) { return info.param == http::Engine::curl ? "curl" : "builtin"; });
