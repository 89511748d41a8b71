// An incremental HTTP/1.1 response parser for the built-in plain-http client: status line, headers
// (Content-Length, Transfer-Encoding: chunked, Connection, Retry-After, retry-after-ms), and the body by
// length, by chunks, or until the connection closes. Bytes in, state out; no sockets, no allocation
// beyond the body. Not here: requests, TLS, redirects, compression (never requested), trailers' values.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace ecpo::http {

class Http1Parser {
 public:
  enum class State { status_line, headers, body_length, chunk_size, chunk_data, chunk_crlf, trailers, body_until_close,
                     done, error };

  // Feeds bytes; returns the number consumed (less than n only when done or in error: the rest belongs
  // to nobody, since a request is sent only after the previous reply ended).
  std::size_t feed(const char* p, std::size_t n);
  // The peer closed the connection: a body read until close ends here.
  void on_eof();

  State state() const { return state_; }
  bool done() const { return state_ == State::done; }
  bool failed() const { return state_ == State::error; }
  const std::string& error() const { return error_; }
  bool started() const { return bytes_ > 0; }   // any byte of a response arrived
  std::uint64_t bytes() const { return bytes_; }

  int status = 0;
  std::string body;
  std::optional<std::string> retry_after, retry_after_ms;
  bool keep_alive = true;                       // the connection may carry another request
  std::optional<std::uint64_t> content_length;  // as announced
  // Bytes still expected when the connection closed mid-body (for the error message).
  std::uint64_t remaining() const { return remaining_; }

 private:
  bool line(const char* p, std::size_t n);  // one complete line without CRLF; false = error set
  void header(const char* p, std::size_t n);
  void headers_done();
  void fail(std::string why);

  State state_ = State::status_line;
  std::string line_;  // a line in progress (status, header, chunk size)
  std::string error_;
  std::uint64_t remaining_ = 0, bytes_ = 0;
  bool chunked_ = false, close_ = false, http10_ = false;
};

}  // namespace ecpo::http
