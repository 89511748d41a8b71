// Incremental HTTP/1.1 response parsing (see http1-parser.h).
#include "llm/http1-parser.h"

#include <cctype>
#include <cstring>

namespace ecpo::http {
namespace {

constexpr std::size_t kMaxLine = 64 * 1024;

bool name_is(const char* p, std::size_t n, const char* name) {
  std::size_t k = std::strlen(name);
  if (n != k) return false;
  for (std::size_t i = 0; i < k; ++i)
    if (std::tolower(static_cast<unsigned char>(p[i])) != name[i]) return false;
  return true;
}

bool contains_token(const std::string& v, const char* token) {
  std::string low;
  low.reserve(v.size());
  for (char c : v) low.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return low.find(token) != std::string::npos;
}

}  // namespace

void Http1Parser::fail(std::string why) {
  state_ = State::error;
  error_ = std::move(why);
}

std::size_t Http1Parser::feed(const char* p, std::size_t n) {
  std::size_t i = 0;
  bytes_ += n;
  while (i < n && state_ != State::done && state_ != State::error) {
    switch (state_) {
      case State::body_length: {
        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n - i));
        body.append(p + i, take);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::done;
        break;
      }
      case State::chunk_data: {
        std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n - i));
        body.append(p + i, take);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::chunk_crlf;
        break;
      }
      case State::body_until_close:
        body.append(p + i, n - i);
        i = n;
        break;
      default: {
        // Line-oriented states: status line, headers, chunk size, the CRLF after a chunk, trailers.
        const char* nl = static_cast<const char*>(std::memchr(p + i, '\n', n - i));
        std::size_t end = nl ? static_cast<std::size_t>(nl - p) : n;
        if (line_.empty() && nl) {
          std::size_t len = end - i;
          if (len > 0 && p[end - 1] == '\r') --len;
          if (!line(p + i, len)) return i;
        } else {
          line_.append(p + i, end - i);
          if (line_.size() > kMaxLine) {
            fail("a response line longer than 64 KiB");
            return i;
          }
          if (nl) {
            std::string l;
            l.swap(line_);
            if (!l.empty() && l.back() == '\r') l.pop_back();
            if (!line(l.data(), l.size())) return i;
          }
        }
        i = nl ? end + 1 : n;
      }
    }
  }
  if (state_ == State::done && i < n) bytes_ -= n - i;
  return i;
}

bool Http1Parser::line(const char* p, std::size_t n) {
  switch (state_) {
    case State::status_line: {
      // HTTP/1.x SSS reason
      if (n < 12 || std::strncmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ' || !std::isdigit(static_cast<unsigned char>(p[9])) ||
          !std::isdigit(static_cast<unsigned char>(p[10])) || !std::isdigit(static_cast<unsigned char>(p[11]))) {
        fail("not an HTTP/1.x status line");
        return false;
      }
      http10_ = p[7] == '0';
      status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
      state_ = State::headers;
      return true;
    }
    case State::headers:
      if (n == 0) {
        headers_done();
        return state_ != State::error;
      }
      header(p, n);
      return state_ != State::error;
    case State::chunk_size: {
      std::uint64_t v = 0;
      std::size_t k = 0;
      for (; k < n && std::isxdigit(static_cast<unsigned char>(p[k])); ++k) {
        if (v > (UINT64_MAX >> 4)) {
          fail("a chunk size out of range");
          return false;
        }
        char c = static_cast<char>(std::tolower(static_cast<unsigned char>(p[k])));
        v = v * 16 + static_cast<std::uint64_t>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : c - 'a' + 10);
      }
      if (k == 0) {
        fail("a malformed chunk size line");
        return false;
      }
      remaining_ = v;
      state_ = v == 0 ? State::trailers : State::chunk_data;
      return true;
    }
    case State::chunk_crlf:
      if (n != 0) {
        fail("chunk data longer than its size");
        return false;
      }
      state_ = State::chunk_size;
      return true;
    case State::trailers:
      if (n == 0) state_ = State::done;
      return true;
    default: return true;
  }
}

void Http1Parser::header(const char* p, std::size_t n) {
  const char* colon = static_cast<const char*>(std::memchr(p, ':', n));
  if (!colon) return;  // not a header line; tolerated (as libcurl does)
  std::size_t nl = static_cast<std::size_t>(colon - p);
  std::size_t b = nl + 1, e = n;
  while (b < e && (p[b] == ' ' || p[b] == '\t')) ++b;
  while (e > b && (p[e - 1] == ' ' || p[e - 1] == '\t')) --e;
  std::string value(p + b, e - b);
  if (name_is(p, nl, "content-length")) {
    std::uint64_t v = 0;
    if (value.empty()) return fail("an empty Content-Length");
    for (char c : value) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || v > UINT64_MAX / 10) return fail("a bad Content-Length");
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (content_length && *content_length != v) return fail("conflicting Content-Length headers");
    content_length = v;
  } else if (name_is(p, nl, "transfer-encoding")) {
    chunked_ = contains_token(value, "chunked");
  } else if (name_is(p, nl, "connection")) {
    if (contains_token(value, "close")) close_ = true;
    if (http10_ && contains_token(value, "keep-alive")) http10_ = false;
  } else if (name_is(p, nl, "retry-after")) {
    retry_after = std::move(value);
  } else if (name_is(p, nl, "retry-after-ms")) {
    retry_after_ms = std::move(value);
  }
}

void Http1Parser::headers_done() {
  if (status >= 100 && status < 200 && status != 101) {  // interim (100 Continue): the real reply follows
    status = 0;
    content_length.reset();
    retry_after.reset();
    retry_after_ms.reset();
    chunked_ = close_ = false;
    state_ = State::status_line;
    return;
  }
  keep_alive = !close_ && !http10_;
  if (status == 204 || status == 304) {
    state_ = State::done;
  } else if (chunked_) {
    state_ = State::chunk_size;
  } else if (content_length) {
    remaining_ = *content_length;
    body.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, 1 << 24)));
    state_ = remaining_ == 0 ? State::done : State::body_length;
  } else {
    keep_alive = false;
    state_ = State::body_until_close;
  }
}

void Http1Parser::on_eof() {
  if (state_ == State::body_until_close) state_ = State::done;
}

}  // namespace ecpo::http
