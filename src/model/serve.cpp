// OpenAI-compatible chat server over an llm::ChatModel (see serve.h): request parsing and validation,
// reply/error JSON, live SSE for `stream: true`, and the cpp-httplib wiring. It never touches tensors:
// the ChatModel decides how text is produced; this file only speaks the wire protocol.
#include "model/serve.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "util/error.h"

namespace ecpo::model {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------------
// request parsing

namespace {

[[noreturn]] void bad_request(const std::string& message, const std::string& code = "invalid_value") {
  throw RequestError{400, message, "invalid_request_error", code};
}

double number_field(const json& body, const char* key, double lo, double hi) {
  const json& v = body.at(key);
  if (!v.is_number()) bad_request(std::string("'") + key + "' must be a number");
  double x = v.get<double>();
  if (!(x >= lo && x <= hi))
    bad_request(std::string("'") + key + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

std::string message_content(const json& c, std::size_t index) {
  if (c.is_string()) return c.get<std::string>();
  if (c.is_null()) return "";
  if (c.is_array()) {  // [{type: "text", text: "..."}, ...]
    std::string out;
    for (const json& part : c) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
          !part["text"].is_string())
        bad_request("messages[" + std::to_string(index) + "].content: only text parts are supported");
      out += part["text"].get<std::string>();
    }
    return out;
  }
  bad_request("messages[" + std::to_string(index) + "].content must be a string or a list of text parts");
}

}  // namespace

ChatRequest parse_chat_request(const json& body) {
  if (!body.is_object()) bad_request("request body must be a JSON object");
  ChatRequest req;
  if (body.contains("model") && !body["model"].is_null()) {
    if (!body["model"].is_string()) bad_request("'model' must be a string");
    req.model = body["model"].get<std::string>();
  }
  if (!body.contains("messages")) bad_request("'messages' is required", "missing_field");
  const json& ms = body["messages"];
  if (!ms.is_array() || ms.empty()) bad_request("'messages' must be a non-empty array");
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const json& m = ms[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      bad_request("messages[" + std::to_string(i) + "] needs a string 'role'");
    std::string role = m["role"].get<std::string>();
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant")
      bad_request("messages[" + std::to_string(i) + "].role '" + role +
                  "' is not supported (use system, user or assistant)");
    req.messages.push_back({role, message_content(m.contains("content") ? m["content"] : json(), i)});
  }
  auto& p = req.params;
  p.temperature = 1.0;  // OpenAI's default when the field is absent (ChatParams defaults to 0 for evaluation)
  if (body.contains("temperature") && !body["temperature"].is_null())
    p.temperature = number_field(body, "temperature", 0.0, 2.0);
  if (body.contains("top_p") && !body["top_p"].is_null()) p.top_p = number_field(body, "top_p", 0.0, 1.0);
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (!body.contains(key) || body[key].is_null()) continue;
    if (!body[key].is_number_integer() || body[key].get<std::int64_t>() < 1 ||
        body[key].get<std::int64_t>() > 1'000'000)
      bad_request(std::string("'") + key + "' must be a positive integer");
    p.max_tokens = static_cast<int>(body[key].get<std::int64_t>());
  }
  if (body.contains("stop") && !body["stop"].is_null()) {
    const json& s = body["stop"];
    if (s.is_string()) {
      p.stop.push_back(s.get<std::string>());
    } else if (s.is_array()) {
      for (const json& x : s) {
        if (!x.is_string()) bad_request("'stop' must be a string or a list of strings");
        p.stop.push_back(x.get<std::string>());
      }
    } else {
      bad_request("'stop' must be a string or a list of strings");
    }
    for (const auto& x : p.stop)
      if (x.empty()) bad_request("'stop' strings must be non-empty");
  }
  if (body.contains("seed") && !body["seed"].is_null()) {
    if (!body["seed"].is_number_integer()) bad_request("'seed' must be an integer");
    p.seed = static_cast<std::uint64_t>(body["seed"].get<std::int64_t>());
  }
  if (body.contains("n") && !body["n"].is_null() && body["n"] != 1) bad_request("only n = 1 is supported");
  if (body.contains("response_format") && !body["response_format"].is_null()) {
    const json& rf = body["response_format"];
    if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
      bad_request("'response_format' must be an object with a 'type'");
    std::string type = rf["type"].get<std::string>();
    if (type == "json_schema") {
      if (!rf.contains("json_schema") || !rf["json_schema"].is_object() || !rf["json_schema"].contains("schema"))
        bad_request("response_format.json_schema needs a 'schema'");
      p.json_schema = rf["json_schema"]["schema"];
      p.schema_name = rf["json_schema"].value("name", std::string("reply"));
    } else if (type == "json_object") {
      p.json_schema = json{{"type", "object"}};
    } else if (type != "text") {
      bad_request("response_format.type '" + type + "' is not supported (text, json_object, json_schema)");
    }
  }
  if (body.contains("stream") && !body["stream"].is_null()) {
    if (!body["stream"].is_boolean()) bad_request("'stream' must be a boolean");
    req.stream = body["stream"].get<bool>();
  }
  if (body.contains("stream_options") && body["stream_options"].is_object())
    req.include_usage = body["stream_options"].value("include_usage", false);
  return req;
}

json error_json(const RequestError& e) {
  return {{"error",
           {{"message", e.message}, {"type", e.type}, {"param", nullptr},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

json completion_json(const std::string& id, const std::string& model_id, std::int64_t created,
                     const llm::ChatResult& r) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model_id},
          {"choices", json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", r.text}}},
                                    {"finish_reason", r.finish_reason.empty() ? "stop" : r.finish_reason}}})},
          {"usage",
           {{"prompt_tokens", r.usage.prompt_tokens},
            {"completion_tokens", r.usage.completion_tokens},
            {"total_tokens", r.usage.prompt_tokens + r.usage.completion_tokens}}}};
}

// ---------------------------------------------------------------------------------------------------
// the server

namespace {

// Invalid UTF-8 from a model (a reply cut inside a multi-byte character) is sent as U+FFFD, never a throw.
std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
std::string sse(const json& j) { return "data: " + dump_json(j) + "\n\n"; }

json chunk_json(const std::string& id, const std::string& model_id, std::int64_t created, const json& delta,
                const json& finish_reason) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model_id},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}})}};
}

void reply_json(httplib::Response& res, int status, const json& j) {
  res.status = status;
  res.set_content(dump_json(j), "application/json");
}

RequestError from_chat_error(const llm::ChatError& e) {
  switch (e.kind()) {
    case llm::FailureKind::timeout: return {504, e.what(), "server_error", "timeout"};
    case llm::FailureKind::rate_limited: return {429, e.what(), "rate_limit_error", "rate_limited"};
    case llm::FailureKind::not_found: return {404, e.what(), "invalid_request_error", "model_not_found"};
    default: return {500, e.what(), "server_error", llm::failure_kind_name(e.kind())};
  }
}

// One streamed reply: SSE events queued by the producer (generation) thread for the httplib worker.
struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> events;
  bool role_sent = false;             // the first chunk (role) is queued lazily, with the first content
  bool done = false;                  // the producer queued its last event (or failed)
  bool cancelled = false;             // the client is gone: on_delta answers false
  std::optional<RequestError> error;  // failure before any event: answered as a plain HTTP error
  std::thread producer;
};

}  // namespace

struct ChatServer::Impl {
  llm::ChatModel& model;
  ServeOptions options;
  std::string model_id;
  httplib::Server http;
  std::thread thread;
  int port = -1;
  std::atomic<std::uint64_t> counter{0};
  std::uint64_t id_salt;
  std::mutex mu;  // guards bind/start/stop

  Impl(llm::ChatModel& m, ServeOptions o) : model(m), options(std::move(o)) {
    model_id = options.model_id.empty() ? model.model_name() : options.model_id;
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

  void routes() {
    http.set_payload_max_length(options.max_body_bytes);
    http.set_read_timeout(options.read_timeout_s, 0);
    http.set_write_timeout(options.write_timeout_s, 0);
    http.set_keep_alive_timeout(options.keep_alive_timeout_s);
    // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second server share a
    // busy port silently instead of failing with "port in use".
    http.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof yes);
    });

    http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      reply_json(res, 200, {{"status", "ok"}});
    });
    http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      reply_json(res, 200, models_json());
    });
    http.Get(R"(/v1/models/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      if (req.matches[1] != model_id) {
        reply_json(res, 404, error_json({404, "model '" + std::string(req.matches[1]) + "' does not exist",
                                         "invalid_request_error", "model_not_found"}));
        return;
      }
      reply_json(res, 200, model_json());
    });
    http.Post("/v1/chat/completions",
              [this](const httplib::Request& req, httplib::Response& res) { chat_completions(req, res); });

    // Unknown paths, 413 (body too large) and anything else httplib answers itself: OpenAI error JSON.
    http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                                   httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string msg = res.status == 404   ? "unknown path " + req.method + " " + req.path
                        : res.status == 413 ? "request body too large"
                                            : "request failed";
      reply_json(res, res.status, error_json({res.status, msg, "invalid_request_error", ""}));
      return httplib::Server::HandlerResponse::Handled;
    }));
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string msg = "internal error";
      try {
        if (ep) std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        msg = e.what();
      } catch (...) {
      }
      reply_json(res, 500, error_json({500, msg, "server_error", ""}));
    });
    http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
      spdlog::debug("serve: {} {} → {}", req.method, req.path, res.status);
    });
  }

  json model_json() const {
    return {{"id", model_id}, {"object", "model"}, {"created", 0}, {"owned_by", "ecpo"}};
  }
  json models_json() const { return {{"object", "list"}, {"data", json::array({model_json()})}}; }

  void chat_completions(const httplib::Request& req, httplib::Response& res) {
    ChatRequest parsed;
    try {
      json body = json::parse(req.body);
      parsed = parse_chat_request(body);
      if (!parsed.model.empty() && parsed.model != model_id)
        throw RequestError{404, "the model '" + parsed.model + "' does not exist (this server serves '" +
                                    model_id + "')",
                           "invalid_request_error", "model_not_found"};
    } catch (const json::parse_error& e) {
      reply_json(res, 400, error_json({400, std::string("request body is not valid JSON: ") + e.what(),
                                       "invalid_request_error", "invalid_json"}));
      return;
    } catch (const RequestError& e) {
      reply_json(res, e.status, error_json(e));
      return;
    }

    const std::string id = next_id();
    const std::int64_t created = static_cast<std::int64_t>(std::time(nullptr));
    if (parsed.stream) {
      stream_chat(std::move(parsed), id, created, res);
      return;
    }
    llm::ChatResult result;
    auto t0 = std::chrono::steady_clock::now();
    try {
      result = model.chat(parsed.messages, parsed.params);
    } catch (const llm::ChatError& e) {
      RequestError err = from_chat_error(e);
      reply_json(res, err.status, error_json(err));
      return;
    } catch (const Error& e) {  // bad input for this model (e.g. prompt longer than its context)
      reply_json(res, 400, error_json(bad_input(e)));
      return;
    }
    log_chat(result, t0);
    reply_json(res, 200, completion_json(id, model_id, created, result));
  }

  static RequestError bad_input(const Error& e) { return {400, e.what(), "invalid_request_error", "invalid_value"}; }

  void log_chat(const llm::ChatResult& result, std::chrono::steady_clock::time_point t0) const {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    spdlog::info("serve: chat {} prompt={} completion={} tokens, {:.0f} ms, finish={}", model_id,
                 result.usage.prompt_tokens, result.usage.completion_tokens, ms, result.finish_reason);
  }

  // `stream: true`. A producer thread runs model.chat() with params.on_delta queueing one SSE content chunk
  // per delta; the httplib worker (the chunked content provider) writes queued events as they come. The
  // handler waits for the first event, so a request that fails before any text (a prompt too long for the
  // model, a model error) still gets a plain HTTP error status. A failed write (the client went away) makes
  // on_delta return false, which cancels generation; the provider's releaser joins the producer.
  void stream_chat(ChatRequest parsed, const std::string& id, std::int64_t created, httplib::Response& res) {
    auto st = std::make_shared<StreamState>();
    auto chunk = [this, id, created](const json& delta, const json& finish) {
      return sse(chunk_json(id, model_id, created, delta, finish));
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
    st->producer = std::thread([this, st, parsed = std::move(parsed), id, created, chunk, push]() mutable {
      std::string streamed;  // what on_delta delivered
      parsed.params.on_delta = [&](std::string_view delta) {
        std::lock_guard lock(st->mu);
        if (st->cancelled) return false;
        streamed.append(delta);
        push(chunk({{"content", std::string(delta)}}, nullptr));
        return true;
      };
      const auto t0 = std::chrono::steady_clock::now();
      llm::ChatResult result;
      std::optional<RequestError> failure;
      try {
        result = model.chat(parsed.messages, parsed.params);
      } catch (const llm::ChatError& e) {
        failure = from_chat_error(e);
      } catch (const Error& e) {
        failure = bad_input(e);
      } catch (const std::exception& e) {
        failure = RequestError{500, e.what(), "server_error", ""};
      }
      std::lock_guard lock(st->mu);
      if (failure) {
        spdlog::warn("serve: streamed chat failed: {}", failure->message);
        if (st->role_sent) {  // the stream has started: report in band (OpenAI clients raise on "error")
          st->events.push_back(sse(error_json(*failure)));
          st->events.push_back("data: [DONE]\n\n");
        } else {
          st->error = std::move(failure);
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
      if (parsed.include_usage) {
        json u = chunk_json(id, model_id, created, json::object(), nullptr);
        u["choices"] = json::array();
        u["usage"] = completion_json(id, model_id, created, result)["usage"];
        st->events.push_back(sse(u));
      }
      st->events.push_back("data: [DONE]\n\n");
      st->done = true;
      st->cv.notify_all();
    });

    {
      std::unique_lock lock(st->mu);
      st->cv.wait(lock, [&] { return !st->events.empty() || st->done; });
      if (st->error) {
        RequestError err = *st->error;
        lock.unlock();
        st->producer.join();
        reply_json(res, err.status, error_json(err));
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

ChatServer::ChatServer(llm::ChatModel& model, ServeOptions options)
    : impl_(std::make_unique<Impl>(model, std::move(options))) {}

ChatServer::~ChatServer() { stop(); }

int ChatServer::bind() {
  std::lock_guard lock(impl_->mu);
  if (impl_->port >= 0) return impl_->port;
  const auto& o = impl_->options;
  if (o.port < 0 || o.port > 65535)
    throw Error("port " + std::to_string(o.port) + " is out of range", "--port", "use 1..65535, or 0 for any");
  if (o.port == 0) {
    impl_->port = impl_->http.bind_to_any_port(o.host);
  } else {
    impl_->port = impl_->http.bind_to_port(o.host, o.port) ? o.port : -1;
  }
  if (impl_->port < 0)
    throw Error("cannot listen on " + o.host + ":" + std::to_string(o.port), "serve",
                "is the port in use or the host not an address of this machine? try another --port");
  return impl_->port;
}

void ChatServer::listen() {
  bind();
  impl_->http.listen_after_bind();
}

void ChatServer::start() {
  bind();
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->thread.joinable()) return;
    impl_->thread = std::thread([this] { impl_->http.listen_after_bind(); });
  }
  for (int i = 0; i < 1000 && !impl_->http.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  if (!impl_->http.is_running()) throw Error("server did not start within 5 s", "serve");
}

void ChatServer::stop() {
  std::lock_guard lock(impl_->mu);
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

bool ChatServer::running() const { return impl_->http.is_running(); }
int ChatServer::port() const { return impl_->port; }
const std::string& ChatServer::model_id() const { return impl_->model_id; }

// ---------------------------------------------------------------------------------------------------
// foreground serving for the CLI

namespace {
std::atomic<bool> g_stop_requested{false};
extern "C" void on_stop_signal(int) { g_stop_requested.store(true); }
}  // namespace

void serve_chat_model(llm::ChatModel& model, const ServeOptions& options) {
  ChatServer server(model, options);
  int port = server.bind();
  g_stop_requested.store(false);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  server.start();
  spdlog::info("serving '{}' on http://{}:{}/v1 (POST /v1/chat/completions, GET /v1/models, GET /health); "
               "Ctrl-C stops",
               server.model_id(), options.host, port);
  while (!g_stop_requested.load() && server.running()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  spdlog::info("stopping server");
  server.stop();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
}

}  // namespace ecpo::model
