// Plain-http requests over pooled keep-alive connections (see http-plain.h).
#include "llm/http-plain.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "llm/http1-parser.h"

namespace ecpo::http::plain {
namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Idle connections by host:port; never destroyed (callers may run during static destruction).
struct Pool {
  std::mutex mu;
  std::unordered_map<std::string, std::vector<int>> idle;
};
Pool* pool() {
  static Pool* p = [] {
    auto* np = new Pool();
    // A forked child must neither find the pool locked nor share the parent's sockets.
    ::pthread_atfork([] { pool()->mu.lock(); }, [] { pool()->mu.unlock(); },
                     [] {
                       Pool* q = pool();
                       for (auto& [k, fds] : q->idle)
                         for (int fd : fds) ::close(fd);
                       q->idle.clear();
                       q->mu.unlock();
                     });
    return np;
  }();
  return p;
}

constexpr std::size_t kMaxIdlePerHost = 1024;

// An idle connection to `hostport` that the server has not closed, or -1.
int take_idle(const std::string& hostport) {
  Pool* p = pool();
  for (;;) {
    int fd;
    {
      std::lock_guard lk(p->mu);
      auto it = p->idle.find(hostport);
      if (it == p->idle.end() || it->second.empty()) return -1;
      fd = it->second.back();
      it->second.pop_back();
    }
    char c;
    ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return fd;  // open and quiet: usable
    ::close(fd);  // closed by the server (n == 0), an error, or stray bytes
  }
}

void put_idle(const std::string& hostport, int fd) {
  Pool* p = pool();
  {
    std::lock_guard lk(p->mu);
    auto& v = p->idle[hostport];
    if (v.size() < kMaxIdlePerHost) {
      v.push_back(fd);
      return;
    }
  }
  ::close(fd);
}

int ms_left(std::int64_t deadline) {
  std::int64_t d = deadline - now_us();
  return d <= 0 ? 0 : static_cast<int>((d + 999) / 1000);
}

// Connects within the connect timeout (and the transfer's deadline); -1 with `r` filled on failure.
int connect_to(const Target& t, const Request& req, std::int64_t deadline, Response& r) {
  const std::int64_t t0 = now_us();
  const std::int64_t cdeadline =
      std::min(deadline, t0 + static_cast<std::int64_t>(req.connect_timeout_ms * 1000));
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  if (int g = ::getaddrinfo(t.host.c_str(), t.port.c_str(), &hints, &res); g != 0 || !res) {
    r.curl_code = CURLE_COULDNT_RESOLVE_HOST;
    r.curl_error = "Could not resolve host: " + t.host;
    return -1;
  }
  int err = 0;
  bool timed_out = false;
  int fd = -1;
  for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
    int s = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (s < 0) {
      err = errno;
      continue;
    }
    int rc = ::connect(s, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd pf{s, POLLOUT, 0};
      int pr;
      while ((pr = ::poll(&pf, 1, ms_left(cdeadline))) < 0 && errno == EINTR) {
      }
      if (pr == 0) {
        timed_out = true;
        ::close(s);
        break;
      }
      socklen_t len = sizeof err;
      err = 0;
      ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
    } else if (rc != 0) {
      err = errno;
    }
    if (rc == 0) {
      int one = 1;
      ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fd = s;
    } else {
      ::close(s);
    }
  }
  ::freeaddrinfo(res);
  if (fd >= 0) return fd;
  const long ms = static_cast<long>((now_us() - t0) / 1000);
  if (timed_out) {
    r.curl_code = CURLE_OPERATION_TIMEDOUT;
    r.timed_out = true;
    r.curl_error = "Connection timed out after " + std::to_string(ms) + " milliseconds";
  } else {
    r.curl_code = CURLE_COULDNT_CONNECT;
    r.curl_error = "Failed to connect to " + t.host + " port " + t.port + " after " + std::to_string(ms) +
                   " ms: " + std::strerror(err ? err : ECONNREFUSED);
  }
  return -1;
}

// Sends head + body; 0, or an errno (ETIMEDOUT when the deadline passed).
int send_all(int fd, const std::string& head, const std::string* body, std::int64_t deadline) {
  std::size_t off = 0;
  const std::size_t total = head.size() + (body ? body->size() : 0);
  while (off < total) {
    iovec iov[2];
    int k = 0;
    if (off < head.size()) {
      iov[k++] = {const_cast<char*>(head.data() + off), head.size() - off};
      if (body && !body->empty()) iov[k++] = {const_cast<char*>(body->data()), body->size()};
    } else {
      iov[k++] = {const_cast<char*>(body->data() + (off - head.size())), total - off};
    }
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = static_cast<std::size_t>(k);
    ssize_t n = ::sendmsg(fd, &m, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd pf{fd, POLLOUT, 0};
      int left = ms_left(deadline);
      if (left == 0) return ETIMEDOUT;
      int pr = ::poll(&pf, 1, left);
      if (pr == 0) return ETIMEDOUT;
      continue;
    }
    return n < 0 ? errno : EPIPE;
  }
  return 0;
}

// What reading one reply left behind.
struct Reply {
  int fd = -1;
  std::int64_t deadline_us = 0;
  Http1Parser parser;
  bool eof = false, timed_out = false;
  int io_errno = 0;
};

// Reads the reply on the calling thread, sleeping in poll() on this one socket until data, EOF, an error
// or the deadline. (Handing the socket to a shared event thread instead, measured in llm-bench, cost a
// second thread wake-up per call and about 10% more CPU per call.)
void read_reply(Reply& w) {
  thread_local std::vector<char> buf(16 * 1024);
  bool drained = true;  // nothing read yet, or the last read took less than it could: poll first
  for (;;) {
    if (drained) {
      pollfd pf{w.fd, POLLIN, 0};
      int left = ms_left(w.deadline_us);
      int pr = left == 0 ? 0 : ::poll(&pf, 1, left);
      if (pr < 0 && errno == EINTR) continue;
      if (pr == 0) {
        w.timed_out = true;
        return;
      }
    }
    ssize_t n = ::recv(w.fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (n > 0) {
      std::size_t used = w.parser.feed(buf.data(), static_cast<std::size_t>(n));
      if (w.parser.done() && used < static_cast<std::size_t>(n)) w.parser.keep_alive = false;  // stray bytes
      if (w.parser.done() || w.parser.failed()) return;
      drained = static_cast<std::size_t>(n) < buf.size();
      continue;
    }
    if (n == 0) {
      w.eof = true;
      w.parser.on_eof();
      return;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      w.io_errno = errno;
      return;
    }
    drained = true;
  }
}

}  // namespace

bool parse_url(const std::string& url, Target& t) {
  if (url.compare(0, 7, "http://") != 0) return false;
  std::size_t b = 7;
  std::size_t slash = url.find_first_of("/?#", b);
  std::string authority = url.substr(b, slash == std::string::npos ? std::string::npos : slash - b);
  if (authority.empty() || authority.find('@') != std::string::npos) return false;
  std::string host, port = "80";
  if (authority[0] == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string::npos) return false;
    host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return false;
      port = authority.substr(close + 2);
    }
  } else {
    std::size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (host.empty() || port.empty() || port.size() > 5) return false;
  for (char c : port)
    if (c < '0' || c > '9') return false;
  if (std::stoi(port) <= 0 || std::stoi(port) > 65535) return false;
  t.host = host;
  t.port = port;
  t.hostport = authority;
  t.path = slash == std::string::npos ? "/" : url.substr(slash);
  if (t.path[0] != '/') t.path = "/" + t.path;
  if (auto h = t.path.find('#'); h != std::string::npos) t.path.resize(h);
  return true;
}

Response perform(const Request& req, const Target& t) {
  const std::int64_t t0 = now_us();
  const std::int64_t deadline = t0 + static_cast<std::int64_t>(req.timeout_ms * 1000);
  std::string head;
  head.reserve(256 + req.authorization.size());
  head.append(req.body ? "POST " : "GET ").append(t.path).append(" HTTP/1.1\r\nHost: ").append(t.hostport);
  head.append("\r\nUser-Agent: ecpo/0.1\r\nAccept: */*\r\n");
  if (!req.authorization.empty()) head.append("Authorization: ").append(req.authorization).append("\r\n");
  if (req.body) {
    head.append("Content-Type: application/json\r\nContent-Length: ")
        .append(std::to_string(req.body->size()))
        .append("\r\n");
  }
  head.append("\r\n");

  for (int attempt = 0;; ++attempt) {
    Response r;
    int fd = take_idle(t.hostport);
    const bool reused = fd >= 0;
    if (!reused && (fd = connect_to(t, req, deadline, r)) < 0) return r;
    if (int e = send_all(fd, head, req.body, deadline); e != 0) {
      ::close(fd);
      // A kept-alive connection the server dropped meanwhile: once more on a fresh one (as libcurl does).
      if (reused && attempt == 0 && e != ETIMEDOUT) continue;
      r.curl_code = e == ETIMEDOUT ? CURLE_OPERATION_TIMEDOUT : CURLE_SEND_ERROR;
      r.timed_out = e == ETIMEDOUT;
      r.curl_error = e == ETIMEDOUT ? "Operation timed out while sending the request"
                                    : std::string("Send failure: ") + std::strerror(e);
      return r;
    }
    Reply w;
    w.fd = fd;
    w.deadline_us = deadline;
    read_reply(w);
    Http1Parser& p = w.parser;
    if (p.done()) {
      r.status = p.status;
      r.body = std::move(p.body);
      r.retry_after = std::move(p.retry_after);
      r.retry_after_ms = std::move(p.retry_after_ms);
      if (p.keep_alive && !w.eof) put_idle(t.hostport, fd);
      else ::close(fd);
      return r;
    }
    ::close(fd);
    if (reused && attempt == 0 && !p.started() && !w.timed_out) continue;  // stale kept-alive connection
    r.status = p.state() == Http1Parser::State::status_line ? 0 : p.status;
    if (w.timed_out) {
      r.curl_code = CURLE_OPERATION_TIMEDOUT;
      r.timed_out = true;
      r.curl_error = "Operation timed out after " + std::to_string((now_us() - t0) / 1000) + " milliseconds with " +
                     std::to_string(p.bytes()) + " bytes received";
    } else if (p.failed()) {
      r.curl_code = CURLE_WEIRD_SERVER_REPLY;
      r.curl_error = "Invalid HTTP response: " + p.error();
    } else if (w.io_errno != 0) {
      r.curl_code = CURLE_RECV_ERROR;
      r.curl_error = std::string("Recv failure: ") + std::strerror(w.io_errno);
    } else if (!p.started()) {
      r.curl_code = CURLE_GOT_NOTHING;
      r.curl_error = "Empty reply from server";
    } else if (p.state() == Http1Parser::State::status_line || p.state() == Http1Parser::State::headers) {
      r.curl_code = CURLE_RECV_ERROR;
      r.curl_error = "Connection closed in the middle of the response headers";
    } else {
      r.curl_code = CURLE_PARTIAL_FILE;
      r.curl_error = p.state() == Http1Parser::State::body_length
                         ? "transfer closed with " + std::to_string(p.remaining()) + " bytes remaining to read"
                         : "transfer closed with outstanding read data remaining";
    }
    return r;
  }
}

void close_idle() {
  Pool* p = pool();
  std::lock_guard lk(p->mu);
  for (auto& [k, fds] : p->idle)
    for (int fd : fds) ::close(fd);
  p->idle.clear();
}

}  // namespace ecpo::http::plain
