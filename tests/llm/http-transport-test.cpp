// llm/http-transport (libcurl): replies shaped the way real servers send them (Content-Length in any
// packet split, chunked with extensions and trailers, an interim 100 Continue, close-delimited HTTP/1.0,
// 204), malformed and truncated replies, and against the fake server: replies, Retry-After, each transport
// failure's code and retry class, timeouts, concurrency, and closing idle connections.
#include "llm/http-transport.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "llm/fake-server.h"
#include "test-support.h"

using namespace ecpo;

namespace {

// A one-shot raw TCP server on loopback: accepts one connection, reads the request head (and a body of
// Content-Length bytes), writes `pieces` with a short pause between them, then closes. Lets a test send
// exactly the bytes a server on the wire would.
class CannedServer {
 public:
  explicit CannedServer(std::vector<std::string> pieces) : pieces_(std::move(pieces)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int yes = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 4) != 0)
      throw std::runtime_error("cannot listen");
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/chat/completions"; }
  std::string request() const { return request_; }  // what the client sent (valid after the reply)

 private:
  void serve() {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    std::size_t want = std::string::npos;
    while (true) {
      auto head_end = request_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        if (want == std::string::npos) {
          want = head_end + 4;
          auto cl = request_.find("Content-Length: ");
          if (cl != std::string::npos && cl < head_end) want += std::stoul(request_.substr(cl + 16));
        }
        if (request_.size() >= want) break;
      }
      ssize_t n = ::recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<std::size_t>(n));
    }
    for (const auto& p : pieces_) {
      ::send(c, p.data(), p.size(), MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::close(c);
  }

  std::vector<std::string> pieces_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::string request_;
};

// Sends `reply` split into pieces of `step` bytes and posts a small body to it.
http::Response exchange(const std::string& reply, std::size_t step) {
  std::vector<std::string> pieces;
  for (std::size_t i = 0; i < reply.size(); i += step) pieces.push_back(reply.substr(i, step));
  CannedServer srv(pieces);
  const std::string body = R"({"x":1})";
  http::Request req;
  req.url = srv.url();
  req.body = &body;
  req.timeout_ms = 3000;
  http::close_thread_connections();  // each canned server closes after one reply
  return http::perform(req);
}

}  // namespace

TEST(HttpWire, ContentLengthInAnySplit) {
  const std::string reply =
      "HTTP/1.1 429 Too Many Requests\r\nContent-Length: 11\r\nRetry-After: 2\r\nretry-after-ms: 1500\r\n"
      "X-Other: y\r\n\r\nhello world";
  for (std::size_t step : {1u, 7u, 1000u}) {
    auto r = exchange(reply, step);
    ASSERT_EQ(r.curl_code, 0) << step << " " << r.curl_error;
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.body, "hello world");
    EXPECT_EQ(r.retry_after.value_or(""), "2");
    EXPECT_EQ(r.retry_after_ms.value_or(""), "1500");
  }
}

TEST(HttpWire, ChunkedWithExtensionsAndTrailers) {
  // Chunks "Wiki" (4) + "pedia" (5) + " in chunks." (0xb = 11), a chunk extension and a trailer.
  const std::string reply =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\nB\r\n in chunks.\r\n"
      "0\r\nTrailer: x\r\n\r\n";
  for (std::size_t step : {1u, 1000u}) {
    auto r = exchange(reply, step);
    ASSERT_EQ(r.curl_code, 0) << r.curl_error;
    EXPECT_EQ(r.body, "Wikipedia in chunks.");
  }
}

TEST(HttpWire, InterimCloseDelimitedAndNoBody) {
  auto r = exchange("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 5);
  ASSERT_EQ(r.curl_code, 0) << r.curl_error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");
  // No length: the body runs to the end of the connection.
  auto c = exchange("HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nall of it", 1000);
  ASSERT_EQ(c.curl_code, 0) << c.curl_error;
  EXPECT_EQ(c.body, "all of it");
  auto n = exchange("HTTP/1.1 204 No Content\r\n\r\n", 1000);
  ASSERT_EQ(n.curl_code, 0) << n.curl_error;
  EXPECT_EQ(n.status, 204);
  EXPECT_TRUE(n.body.empty());
}

TEST(HttpWire, MalformedAndTruncatedReplies) {
  // Not HTTP at all, a bad chunk size, a body shorter than announced: failures, never a made-up reply.
  auto a = exchange("SSH-2.0-OpenSSH\r\n\r\n", 1000);
  EXPECT_NE(a.curl_code, 0);
  auto b = exchange("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 1000);
  EXPECT_NE(b.curl_code, 0);
  auto t = exchange("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd", 1000);
  EXPECT_EQ(t.curl_code, CURLE_PARTIAL_FILE) << t.curl_error;
  EXPECT_TRUE(t.retryable_transport);
  auto e = exchange("", 1000);  // the server closes without a byte
  EXPECT_EQ(e.curl_code, CURLE_GOT_NOTHING) << e.curl_error;
  EXPECT_TRUE(e.retryable_transport);
}

class HttpTransport : public ::testing::Test {
 protected:
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

TEST_F(HttpTransport, ReplyAndModels) {
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

TEST_F(HttpTransport, RateLimitCarriesRetryAfter) {
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

TEST_F(HttpTransport, TransportFailuresAreClassified) {
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

TEST_F(HttpTransport, ManyThreadsShareKeptAliveConnections) {
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

TEST_F(HttpTransport, ReconnectsAfterTheServerDropsIdleConnections) {
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
