// ChatServer (see chat-server.h): cpp-httplib routes over a ChatModel, auth, the fault hook, counters, and live
// SSE for `stream: true`. It never touches tensors and never parses the wire format itself (openai-wire.h).
#include "llm/chat-server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <sys/socket.h>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "llm/http-transport.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::llm {

using nlohmann::json;

namespace {

void reply_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(dump_json(j), "application/json");
}

void reply_error(httplib::Response& res, const WireError& e) { reply_json(res, e.status, error_json(e)); }

// One streamed reply: SSE events queued by the producer (generation) thread for the httplib worker.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> events;
  bool role_sent = false;           // the first chunk (role) is queued lazily, with the first content
  bool done = false;                // the producer queued its last event (or failed)
  bool cancelled = false;           // the client is gone: on_delta answers false
  std::optional<WireError> error;   // failure before any event: answered as a plain HTTP error
  std::thread producer;
};

}  // namespace

struct ChatServer::Impl {
  ChatModel& model;
  ServeOptions options;
  std::string model_id;
  std::unique_ptr<httplib::Server> http;
  std::thread thread;
  int port = -1;
  int listen_fd = -1;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> counter{0};
  std::uint64_t id_salt;
  std::mutex mu;  // guards bind/start/stop
  mutable std::mutex stats_mu;
  ChatServerStats stats;
  int in_flight = 0;

  Impl(ChatModel& m, ServeOptions o) : model(m), options(std::move(o)) {
    model_id = options.model_id.empty() ? model.model_name() : options.model_id;
    if (options.tls_cert.empty() != options.tls_key.empty())
      throw Error("HTTPS needs both a certificate and a key file", "serve", "pass --tls-cert and --tls-key together");
    if (!options.tls_cert.empty()) {
      for (const auto* f : {&options.tls_cert, &options.tls_key})
        if (!std::filesystem::is_regular_file(*f)) throw Error("no such file", *f, "give a PEM file");
      auto tls = std::make_unique<httplib::SSLServer>(options.tls_cert.c_str(), options.tls_key.c_str());
      if (!tls->is_valid())
        throw Error("cannot load the TLS certificate/key pair", options.tls_cert + ", " + options.tls_key,
                    "both must be PEM, and the key must match the certificate");
      http = std::move(tls);
    } else {
      http = std::make_unique<httplib::Server>();
    }
    id_salt = std::random_device{}();
    id_salt = (id_salt << 32) ^ static_cast<std::uint64_t>(std::time(nullptr));
    routes();
  }

  std::string next_id() {
    char buf[48];
    std::snprintf(buf, sizeof buf, "chatcmpl-%016llx%06llx", static_cast<unsigned long long>(id_salt),
                  static_cast<unsigned long long>(counter.fetch_add(1) & 0xffffff));
    return buf;
  }

  template <typename F>
  void count(F&& f) {
    std::lock_guard lk(stats_mu);
    f(stats);
  }

  std::vector<std::string> served_ids() const {
    std::vector<std::string> ids = {model_id};
    for (const auto& a : options.aliases)
      if (std::find(ids.begin(), ids.end(), a) == ids.end()) ids.push_back(a);
    return ids;
  }

  // The model name a reply carries: the one asked for when it is served, else model_id; nullopt = unknown.
  std::optional<std::string> reply_model(const std::string& asked) const {
    if (asked.empty()) return model_id;
    if (options.any_model || asked == model_id) return asked;
    if (std::find(options.aliases.begin(), options.aliases.end(), asked) != options.aliases.end()) return asked;
    return std::nullopt;
  }

  bool authorized(const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty()) return true;
    std::string got = req.get_header_value("Authorization");
    if (got == "Bearer " + options.api_key) return true;
    // Like OpenAI, say what was presented (the caller's own key): a client must never print this body.
    std::string presented = starts_with(got, "Bearer ") ? got.substr(7) : got;
    reply_error(res, {401, "Incorrect API key provided: " + presented, "invalid_request_error", "invalid_api_key", ""});
    count([](ChatServerStats& s) { s.auth_failures++; });
    return false;
  }

  // Sleeps up to `ms`, returning early when the server stops.
  void pause(double ms) {
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(static_cast<long long>(ms * 1000));
    while (!stopping && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(5), until - std::chrono::steady_clock::now()));
  }

  void routes() {
    auto& h = *http;
    h.set_payload_max_length(options.max_body_bytes);
    h.set_read_timeout(options.read_timeout_s, 0);
    h.set_write_timeout(options.write_timeout_s, 0);
    h.set_keep_alive_timeout(std::max(1, options.keep_alive_timeout_s));
    h.set_keep_alive_max_count(1000000);
    h.set_tcp_nodelay(true);  // without it Nagle + delayed ACK add ~40 ms per reply on loopback
    if (options.threads > 0) {
      const auto n = static_cast<std::size_t>(options.threads);
      h.new_task_queue = [n] { return new httplib::ThreadPool(n); };
    }
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second server share a
    // busy port silently instead of failing with "port in use".
    h.set_socket_options([this](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof yes);
      listen_fd = sock;  // remembered so bind() can raise the backlog
    });

    h.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      count([](ChatServerStats& s) { s.requests++; });
      reply_json(res, 200, {{"status", "ok"}});
    });
    h.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
      count([](ChatServerStats& s) { s.requests++; });
      if (!authorized(req, res)) return;
      reply_json(res, 200, models_json(served_ids(), options.owned_by));
    });
    h.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      count([](ChatServerStats& s) { s.requests++; });
      if (!authorized(req, res)) return;
      const std::string id = req.matches[1];
      if (!reply_model(id) || id.empty()) {
        reply_error(res, {404, "model '" + id + "' does not exist", "invalid_request_error", "model_not_found", ""});
        return;
      }
      reply_json(res, 200, model_json(id, options.owned_by));
    });
    h.Post("/v1/chat/completions",
           [this](const httplib::Request& req, httplib::Response& res) { chat_completions(req, res); });

    // Unknown paths, 413 (body too large) and anything else httplib answers itself: OpenAI error JSON.
    h.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string msg = res.status == 404   ? "unknown path " + req.method + " " + req.path
                        : res.status == 413 ? "request body too large"
                                            : "request failed";
      reply_error(res, {res.status, msg, "invalid_request_error", "", ""});
      return httplib::Server::HandlerResponse::Handled;
    }));
    h.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string msg = "internal error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        msg = e.what();
      } catch (...) {
      }
      reply_error(res, {500, msg, "server_error", "", ""});
    });
    h.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      spdlog::debug("serve: {} {} → {}", req.method, req.path, res.status);
    });
  }

  // A failure of model.chat() as the answer to send.
  static WireError failure(std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const ChatError& e) {
      return wire_error_from(e);
    } catch (const Error& e) {  // bad input for this model (e.g. a prompt longer than its context)
      return {400, e.what(), "invalid_request_error", "invalid_value", ""};
    } catch (const std::exception& e) {
      return {500, e.what(), "server_error", "", ""};
    } catch (...) {
      return {500, "unknown failure", "server_error", "", ""};
    }
  }

  void chat_completions(const httplib::Request& req, httplib::Response& res) {
    count([](ChatServerStats& s) {
      s.requests++;
      s.chat_requests++;
    });
    {
      std::lock_guard lk(stats_mu);
      stats.max_in_flight = std::max(stats.max_in_flight, ++in_flight);
    }
    struct Leave {
      Impl* s;
      ~Leave() {
        std::lock_guard lk(s->stats_mu);
        s->in_flight--;
      }
    } leave{this};
    if (!authorized(req, res)) return;
    ChatRequest parsed;
    try {
      parsed = parse_chat_request(std::string_view(req.body));
    } catch (const WireError& e) {
      count([](ChatServerStats& s) { s.bad_requests++; });
      reply_error(res, e);
      return;
    }
    std::optional<std::string> served_as = reply_model(parsed.model);
    if (!served_as) {
      count([](ChatServerStats& s) { s.not_found++; });
      reply_error(res, {404, "The model '" + parsed.model + "' does not exist (this server serves '" + model_id + "')",
                        "invalid_request_error", "model_not_found", "model"});
      return;
    }
    ChatFault fault;
    if (options.fault) fault = options.fault(parsed);
    if (fault.delay_ms > 0) pause(fault.delay_ms);
    if (fault.status != 0) {
      res.status = fault.status;
      for (const auto& [k, v] : fault.headers) res.set_header(k, v);
      res.set_content(fault.body, "application/json");
      return;
    }

    const std::string id = next_id();
    const std::int64_t created = static_cast<std::int64_t>(std::time(nullptr));
    if (parsed.stream) {
      stream_chat(std::move(parsed), *served_as, id, created, res);
      return;
    }
    ChatResult result;
    auto t0 = std::chrono::steady_clock::now();
    try {
      result = model.chat(parsed.messages, parsed.params);
    } catch (...) {
      count([](ChatServerStats& s) { s.model_errors++; });
      reply_error(res, failure(std::current_exception()));
      return;
    }
    log_chat(result, t0);
    std::string payload = dump_json(completion_json(id, *served_as, created, result));
    if (fault.mangle == ChatFault::Mangle::garbage) {
      res.set_content(payload.substr(0, payload.size() / 2) + "<<garbage>>", "application/json");
      return;
    }
    if (fault.mangle == ChatFault::Mangle::truncate) {
      // Announce the full length, send half, then drop the connection.
      auto shared = std::make_shared<std::string>(std::move(payload));
      res.set_content_provider(shared->size(), "application/json",
                               [shared](size_t offset, size_t, httplib::DataSink& sink) {
                                 if (offset == 0) sink.write(shared->data(), shared->size() / 2);
                                 return offset == 0;
                               });
      return;
    }
    count([](ChatServerStats& s) { s.ok++; });
    res.status = 200;
    res.set_content(payload, "application/json");
  }

  void log_chat(const ChatResult& result, std::chrono::steady_clock::time_point t0) const {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    spdlog::log(options.log_chats ? spdlog::level::info : spdlog::level::debug,
                "serve: chat {} prompt={} completion={} tokens, {:.0f} ms, finish={}", model_id,
                result.usage.prompt_tokens, result.usage.completion_tokens, ms, result.finish_reason);
  }

  // `stream: true`. A producer thread runs model.chat() with params.on_delta queueing one SSE content chunk
  // per delta; the httplib worker (the chunked content provider) writes queued events as they come. The
  // handler waits for the first event, so a request that fails before any text (a prompt too long for the
  // model, a model error) still gets a plain HTTP error status. A failed write (the client went away) makes
  // on_delta return false, which cancels generation; the provider's releaser joins the producer.
  void stream_chat(ChatRequest parsed, const std::string& served_as, const std::string& id, std::int64_t created,
                   httplib::Response& res) {
    auto st = std::make_shared<StreamState>();
    auto chunk = [served_as, id, created](const json& delta, const json& finish) {
      return sse_event(chunk_json(id, served_as, created, delta, finish));
    };
    // Caller holds st->mu.
    auto push = [st, chunk](std::string event) {
      if (!st->role_sent) {
        st->events.push_back(chunk({{"role", "assistant"}, {"content", ""}}, nullptr));
        st->role_sent = true;
      }
      if (!event.empty()) st->events.push_back(std::move(event));
      st->cv.notify_all();
    };
    st->producer = std::thread([this, st, parsed = std::move(parsed), served_as, id, created, chunk, push]() mutable {
      std::string streamed;  // what on_delta delivered
      parsed.params.on_delta = [&](std::string_view delta) {
        std::lock_guard lock(st->mu);
        if (st->cancelled) return false;
        streamed.append(delta);
        push(chunk({{"content", std::string(delta)}}, nullptr));
        return true;
      };
      const auto t0 = std::chrono::steady_clock::now();
      ChatResult result;
      std::optional<WireError> fail;
      try {
        result = model.chat(parsed.messages, parsed.params);
      } catch (...) {
        fail = failure(std::current_exception());
      }
      std::lock_guard lock(st->mu);
      if (fail) {
        count([](ChatServerStats& s) { s.model_errors++; });
        spdlog::warn("serve: streamed chat failed: {}", fail->message);
        if (st->role_sent) {  // the stream has started: report in band (OpenAI clients raise on "error")
          st->events.push_back(sse_event(error_json(*fail)));
          st->events.emplace_back(kSseDone);
        } else {
          st->error = std::move(fail);
        }
        st->done = true;
        st->cv.notify_all();
        return;
      }
      log_chat(result, t0);
      // A backend that does not stream (or a cache hit that did not call on_delta) leaves text to send.
      if (result.text.size() > streamed.size() && result.text.compare(0, streamed.size(), streamed) == 0) {
        push(chunk({{"content", result.text.substr(streamed.size())}}, nullptr));
      } else if (result.text != streamed) {
        spdlog::warn("serve: the model's streamed text differs from its final reply; the stream keeps the former");
      }
      push(chunk(json::object(), result.finish_reason.empty() ? "stop" : result.finish_reason));
      if (parsed.include_usage) st->events.push_back(sse_event(usage_chunk_json(id, served_as, created, result.usage)));
      st->events.emplace_back(kSseDone);
      count([](ChatServerStats& s) { s.ok++; });
      st->done = true;
      st->cv.notify_all();
    });

    {
      std::unique_lock lock(st->mu);
      st->cv.wait(lock, [&] { return !st->events.empty() || st->done; });
      if (st->error) {
        WireError err = *st->error;
        lock.unlock();
        st->producer.join();
        reply_error(res, err);
        return;
      }
    }
    res.status = 200;
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [st](std::size_t, httplib::DataSink& sink) {
          std::unique_lock lock(st->mu);
          st->cv.wait(lock, [&] { return !st->events.empty() || st->done; });
          while (!st->events.empty()) {
            std::string event = std::move(st->events.front());
            st->events.pop_front();
            lock.unlock();
            const bool ok = sink.write(event.data(), event.size());
            lock.lock();
            if (!ok) {
              st->cancelled = true;
              return false;
            }
          }
          if (st->done) {
            lock.unlock();
            sink.done();
          }
          return true;  // httplib calls again until done()
        },
        [st](bool) {
          {
            std::lock_guard lock(st->mu);
            st->cancelled = true;  // no-op when generation already ended
          }
          if (st->producer.joinable()) st->producer.join();
        });
  }
};

ChatServer::ChatServer(ChatModel& model, ServeOptions options)
    : impl_(std::make_unique<Impl>(model, std::move(options))) {}

ChatServer::~ChatServer() { stop(); }

int ChatServer::bind() {
  std::lock_guard lock(impl_->mu);
  if (impl_->port >= 0) return impl_->port;
  const auto& o = impl_->options;
  if (o.port < 0 || o.port > 65535)
    throw Error("port " + std::to_string(o.port) + " is out of range", "--port", "use 1..65535, or 0 for any");
  if (o.port == 0) {
    impl_->port = impl_->http->bind_to_any_port(o.host);
  } else {
    impl_->port = impl_->http->bind_to_port(o.host, o.port) ? o.port : -1;
  }
  if (impl_->port < 0)
    throw Error("cannot listen on " + o.host + ":" + std::to_string(o.port), "serve",
                "is the port in use or the host not an address of this machine? try another --port, or 0 for any");
  if (o.backlog > 0 && impl_->listen_fd >= 0) ::listen(impl_->listen_fd, o.backlog);  // a second listen() resizes it
  return impl_->port;
}

void ChatServer::listen() {
  bind();
  impl_->http->listen_after_bind();
}

void ChatServer::start() {
  bind();
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->thread.joinable()) return;
    impl_->thread = std::thread([this] { impl_->http->listen_after_bind(); });
  }
  for (int i = 0; i < 1000 && !impl_->http->is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!impl_->http->is_running()) throw Error("server did not start within 5 s", "serve");
}

void ChatServer::stop() {
  impl_->stopping = true;
  // httplib's stop() waits for idle keep-alive connections to time out; close this thread's own client
  // connections first (the usual case in tests: the thread that made the calls stops the server).
  http::close_thread_connections();
  std::lock_guard lock(impl_->mu);
  impl_->http->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool ChatServer::running() const { return impl_->http->is_running(); }
int ChatServer::port() const { return impl_->port; }
const std::string& ChatServer::model_id() const { return impl_->model_id; }

std::string ChatServer::base_url() const {
  return (impl_->options.tls_cert.empty() ? "http://" : "https://") + impl_->options.host + ":" +
         std::to_string(impl_->port) + "/v1";
}

ChatServerStats ChatServer::stats() const {
  std::lock_guard lk(impl_->stats_mu);
  return impl_->stats;
}

// ---------------------------------------------------------------------------------------------------
// foreground serving for the CLI

namespace {
std::atomic<bool> g_stop_requested{false};
extern "C" void on_stop_signal(int) { g_stop_requested.store(true); }
}  // namespace

void serve_until_signal(ChatServer& server, const std::string& what) {
  server.bind();
  g_stop_requested.store(false);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  server.start();
  spdlog::info("{} '{}' on {} (POST /v1/chat/completions, GET /v1/models, GET /health); Ctrl-C stops", what,
               server.model_id(), server.base_url());
  while (!g_stop_requested.load() && server.running()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("stopping server");
  server.stop();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
}

}  // namespace ecpo::llm
