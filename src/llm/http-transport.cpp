// libcurl easy interface with a per-thread handle (see http-transport.h).
#include "llm/http-transport.h"

#include <cctype>
#include <cstring>
#include <mutex>

#include <curl/curl.h>

namespace ecpo::http {
namespace {

struct ThreadHandle {
  CURL* h = nullptr;
  ThreadHandle() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    h = curl_easy_init();
  }
  ~ThreadHandle() {
    if (h) curl_easy_cleanup(h);
  }
};

size_t on_body(char* p, size_t size, size_t n, void* ud) {
  static_cast<std::string*>(ud)->append(p, size * n);
  return size * n;
}

bool header_is(const char* p, size_t len, const char* name) {
  size_t k = std::strlen(name);
  if (len <= k || p[k] != ':') return false;
  for (size_t i = 0; i < k; ++i)
    if (std::tolower(static_cast<unsigned char>(p[i])) != name[i]) return false;
  return true;
}

std::string header_value(const char* p, size_t len, size_t name_len) {
  size_t b = name_len + 1, e = len;
  while (b < e && (p[b] == ' ' || p[b] == '\t')) ++b;
  while (e > b && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' ')) --e;
  return std::string(p + b, e - b);
}

size_t on_header(char* p, size_t size, size_t n, void* ud) {
  size_t len = size * n;
  auto* r = static_cast<Response*>(ud);
  if (len > 0 && (p[0] == 'r' || p[0] == 'R')) {
    if (header_is(p, len, "retry-after")) r->retry_after = header_value(p, len, 11);
    else if (header_is(p, len, "retry-after-ms")) r->retry_after_ms = header_value(p, len, 14);
  }
  return len;
}

}  // namespace

Response perform(const Request& req) {
  thread_local ThreadHandle th;
  Response r;
  CURL* h = th.h;
  if (!h) {
    r.curl_code = CURLE_FAILED_INIT;
    r.curl_error = "curl_easy_init failed";
    return r;
  }
  curl_easy_reset(h);  // keeps the connection cache
  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Expect:");
  if (req.body) headers = curl_slist_append(headers, "Content-Type: application/json");
  std::string auth;
  if (!req.authorization.empty()) {
    auth = "Authorization: " + req.authorization;
    headers = curl_slist_append(headers, auth.c_str());
  }
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout_ms));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(h, CURLOPT_USERAGENT, "ecpo/0.1");
  if (req.body) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body->data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body->size()));
  }
  CURLcode rc = curl_easy_perform(h);
  curl_slist_free_all(headers);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  r.curl_code = static_cast<int>(rc);
  if (rc != CURLE_OK) {
    r.curl_error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    r.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
    switch (rc) {
      case CURLE_OPERATION_TIMEDOUT:
      case CURLE_COULDNT_CONNECT:
      case CURLE_RECV_ERROR:
      case CURLE_SEND_ERROR:
      case CURLE_GOT_NOTHING:
      case CURLE_PARTIAL_FILE:
      case CURLE_HTTP2:
      case CURLE_HTTP2_STREAM:
      case CURLE_SSL_CONNECT_ERROR: r.retryable_transport = true; break;
      default: r.retryable_transport = false;
    }
  }
  return r;
}

}  // namespace ecpo::http
