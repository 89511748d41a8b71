// The libcurl transport (see http-transport.h): libcurl's easy interface on a handle cached per thread.
// (A hand-written HTTP/1.1 client for plain http:// once saved ~36 µs of CPU per call; it was removed —
// invisible beside LLM latencies, and a parser to keep correct against every server and proxy.)
#include "llm/http-transport.h"

#include <cctype>
#include <cstring>
#include <mutex>

#include <curl/curl.h>


namespace ecpo::http {
namespace {

size_t on_body(char* p, size_t size, size_t n, void* ud);
size_t on_header(char* p, size_t size, size_t n, void* ud);

// One easy handle per thread (libcurl's rule for thread safety), configured once; each request sets only
// what varies. (curl_easy_reset per call would free and re-allocate the transfer buffers every time.)
// Its kept-alive connections live with it. One libcurl multi handle shared by all threads, driven by one
// event thread, was built and measured instead (git history: http-reactor): no less CPU per call, and
// worse ideal/wall at C = 64 (0.89-0.93 against 0.95) because one thread serialised every transfer.
struct ThreadHandle {
  CURL* h = nullptr;
  std::string cached_auth;              // the Authorization value the cached header lists were built for
  curl_slist* post_headers = nullptr;   // Expect:, Content-Type, Authorization
  curl_slist* get_headers = nullptr;    // Expect:, Authorization
  char errbuf[CURL_ERROR_SIZE];
  ThreadHandle() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    open();
  }
  ~ThreadHandle() { close(); }
  void open() {
    h = curl_easy_init();
    if (!h) return;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ecpo/0.1");
  }
  void close() {
    if (h) curl_easy_cleanup(h);
    h = nullptr;
    curl_slist_free_all(post_headers);
    curl_slist_free_all(get_headers);
    post_headers = get_headers = nullptr;
    cached_auth.clear();
  }
  curl_slist* headers(bool post, const std::string& authorization) {
    if (!post_headers || authorization != cached_auth) {
      curl_slist_free_all(post_headers);
      curl_slist_free_all(get_headers);
      post_headers = curl_slist_append(nullptr, "Expect:");
      post_headers = curl_slist_append(post_headers, "Content-Type: application/json");
      get_headers = curl_slist_append(nullptr, "Expect:");
      if (!authorization.empty()) {
        std::string a = "Authorization: " + authorization;
        post_headers = curl_slist_append(post_headers, a.c_str());
        get_headers = curl_slist_append(get_headers, a.c_str());
      }
      cached_auth = authorization;
    }
    return post ? post_headers : get_headers;
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

thread_local ThreadHandle th;

void classify(Response& r) {
  if (r.curl_code == CURLE_OK) return;
  r.timed_out = r.curl_code == CURLE_OPERATION_TIMEDOUT;
  switch (static_cast<CURLcode>(r.curl_code)) {
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

}  // namespace

void close_thread_connections() {
  th.close();
  th.open();
}

Response perform(const Request& req) {
  Response r;
  CURL* h = th.h;
  if (!h) {
    r.curl_code = CURLE_FAILED_INIT;
    r.curl_error = "curl_easy_init failed";
    return r;
  }
  th.errbuf[0] = '\0';
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, th.headers(req.body != nullptr, req.authorization));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_ms));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout_ms));
  // TLS settings are set on every request: the per-thread handle serves every role, and roles differ.
  curl_easy_setopt(h, CURLOPT_CAINFO, req.ca_file.empty() ? nullptr : req.ca_file.c_str());
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, req.verify_tls ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, req.verify_tls ? 2L : 0L);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
  if (req.body) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body->data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body->size()));
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  CURLcode rc = curl_easy_perform(h);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
  r.curl_code = static_cast<int>(rc);
  if (rc != CURLE_OK) r.curl_error = th.errbuf[0] ? th.errbuf : curl_easy_strerror(rc);
  if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
    r.curl_error += req.ca_file.empty()
                        ? " (the server's certificate is not trusted by the system store: set ca_file: to its CA "
                          "certificate in the role or endpoint, or tls_verify: false for a test server)"
                        : " (ca_file " + req.ca_file + " does not vouch for this server, or cannot be read)";
  classify(r);
  return r;
}

}  // namespace ecpo::http
