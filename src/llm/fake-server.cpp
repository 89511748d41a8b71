// Fake OpenAI-compatible server: routes, replies, fault injection (see fake-server.h).
#include "llm/fake-server.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <sys/socket.h>

#include <httplib.h>

#include "llm/http-transport.h"

#include "util/config.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::llm {
namespace {

nlohmann::json error_body(const std::string& message, const std::string& type, const std::string& code = {}) {
  nlohmann::json e = {{"message", message}, {"type", type}};
  if (!code.empty()) e["code"] = code;
  return {{"error", e}};
}

std::string reply_text(const nlohmann::json& reply) { return reply.is_string() ? reply.get<std::string>() : reply.dump(); }

// The schema the request asks for, if any (json_schema response_format or vLLM guided_json).
const nlohmann::json* requested_schema(const nlohmann::json& req) {
  if (req.contains("guided_json") && req["guided_json"].is_object()) return &req["guided_json"];
  if (req.contains("response_format") && req["response_format"].is_object()) {
    const auto& rf = req["response_format"];
    if (rf.contains("json_schema") && rf["json_schema"].is_object() && rf["json_schema"].contains("schema"))
      return &rf["json_schema"]["schema"];
  }
  return nullptr;
}

}  // namespace

const char* fake_fault_name(FakeFault f) {
  switch (f) {
    case FakeFault::rate_limit: return "rate_limit";
    case FakeFault::server_error: return "server_error";
    case FakeFault::stall: return "stall";
    case FakeFault::truncated: return "truncated";
    case FakeFault::malformed: return "malformed";
  }
  return "?";
}

FakeScript load_fake_script(const std::filesystem::path& path) {
  Config c = Config::load(path);
  const auto& root = c.root();
  const std::string where = path.string();
  if (!root.is_object()) throw Error("fake-server script must be a map {sequence, rules, default}", where);
  FakeScript s;
  if (root.contains("sequence")) {
    if (!root["sequence"].is_array()) throw Error("'sequence' must be a list of replies", where);
    for (const auto& r : root["sequence"]) s.sequence.push_back(r);
  }
  if (root.contains("rules")) {
    if (!root["rules"].is_array()) throw Error("'rules' must be a list of {match, reply}", where);
    for (const auto& r : root["rules"]) {
      if (!r.is_object() || !r.contains("match") || !r["match"].is_string() || !r.contains("reply"))
        throw Error("each rule needs a string 'match' and a 'reply'", where, "e.g. - {match: recommend, reply: Hi}");
      s.rules.push_back({to_lower_ascii(r["match"].get<std::string>()), r["reply"]});
    }
  }
  if (root.contains("default")) s.fallback = root["default"];
  for (auto it = root.begin(); it != root.end(); ++it)
    if (it.key() != "sequence" && it.key() != "rules" && it.key() != "default")
      throw Error("unknown key '" + it.key() + "' in fake-server script", where, "use sequence, rules, default");
  return s;
}

nlohmann::json fake_value_for_schema(const nlohmann::json& schema) {
  if (!schema.is_object()) return "fake";
  if (schema.contains("enum") && schema["enum"].is_array() && !schema["enum"].empty()) return schema["enum"][0];
  std::string type = "string";
  if (schema.contains("type")) {
    if (schema["type"].is_string()) type = schema["type"].get<std::string>();
    else if (schema["type"].is_array() && !schema["type"].empty() && schema["type"][0].is_string())
      type = schema["type"][0].get<std::string>();
  } else if (schema.contains("properties")) {
    type = "object";
  }
  if (type == "object") {
    nlohmann::json o = nlohmann::json::object();
    if (schema.contains("properties") && schema["properties"].is_object())
      for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it)
        o[it.key()] = fake_value_for_schema(it.value());
    return o;
  }
  if (type == "array") {
    nlohmann::json a = nlohmann::json::array();
    a.push_back(fake_value_for_schema(schema.value("items", nlohmann::json::object())));
    return a;
  }
  if (type == "integer") return schema.contains("minimum") ? schema["minimum"].get<std::int64_t>() : 0;
  if (type == "number") return schema.contains("minimum") ? schema["minimum"].get<double>() : 0.0;
  if (type == "boolean") return true;
  if (type == "null") return nullptr;
  return "fake";
}

std::int64_t FakeServer::count_tokens(const std::string& text) {
  std::int64_t n = 0;
  bool in_word = false;
  for (unsigned char c : text) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++n;
    in_word = !space;
  }
  return n;
}

FakeServer::FakeServer(FakeServerOptions opts) : opts_(std::move(opts)), rng_(opts_.seed) {
  if (opts_.fault_rate < 0 || opts_.fault_rate > 1) throw Error("fault rate must be in [0, 1]", "fake-server");
  if (opts_.fault_rate > 0 && opts_.faults.empty()) throw Error("fault rate > 0 but no fault kinds", "fake-server");
  if (opts_.latency_ms < 0) throw Error("latency must be >= 0", "fake-server");
  if (opts_.tls_cert.empty() != opts_.tls_key.empty())
    throw Error("HTTPS needs both a certificate and a key file", "fake-server", "pass --tls-cert and --tls-key together");
  if (!opts_.tls_cert.empty()) {
    for (const auto* f : {&opts_.tls_cert, &opts_.tls_key})
      if (!std::filesystem::is_regular_file(*f)) throw Error("no such file", *f, "give a PEM file");
    auto tls = std::make_unique<httplib::SSLServer>(opts_.tls_cert.c_str(), opts_.tls_key.c_str());
    if (!tls->is_valid())
      throw Error("cannot load the TLS certificate/key pair", opts_.tls_cert + ", " + opts_.tls_key,
                  "both must be PEM, and the key must match the certificate");
    svr_ = std::move(tls);
  } else {
    svr_ = std::make_unique<httplib::Server>();
  }
  int threads = std::max(4, opts_.threads);
  svr_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  svr_->set_keep_alive_max_count(1000000);
  svr_->set_keep_alive_timeout(std::max(1, opts_.keep_alive_s));
  svr_->set_socket_options([this](int sock) {
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which lets a second server share a busy port.
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd_ = sock;  // remembered so bind() can raise the backlog
  });
  svr_->set_tcp_nodelay(true);  // without it Nagle + delayed ACK add ~40 ms per reply on loopback
  install_routes();
}

FakeServer::~FakeServer() { stop(); }

std::string FakeServer::base_url() const {
  return (opts_.tls_cert.empty() ? "http://" : "https://") + opts_.host + ":" + std::to_string(port_) + "/v1";
}

FakeServerStats FakeServer::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

std::optional<FakeFault> FakeServer::draw_fault() {
  std::lock_guard lk(mu_);
  if (opts_.fault_rate <= 0) return std::nullopt;
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  if (u >= opts_.fault_rate) return std::nullopt;
  auto f = opts_.faults[std::uniform_int_distribution<std::size_t>(0, opts_.faults.size() - 1)(rng_)];
  stats_.faults[static_cast<int>(f)]++;
  return f;
}

nlohmann::json FakeServer::next_reply(const nlohmann::json& req) {
  {
    std::lock_guard lk(mu_);
    if (seq_ < opts_.script.sequence.size()) return opts_.script.sequence[seq_++];
  }
  std::string last_user;
  if (req.contains("messages") && req["messages"].is_array())
    for (const auto& m : req["messages"])
      if (m.is_object() && m.value("role", "") == "user" && m.contains("content") && m["content"].is_string())
        last_user = m["content"].get<std::string>();
  std::string lower = to_lower_ascii(last_user);
  for (const auto& r : opts_.script.rules)
    if (lower.find(r.match) != std::string::npos) return r.reply;
  if (opts_.script.fallback) return *opts_.script.fallback;
  if (const auto* schema = requested_schema(req)) return fake_value_for_schema(*schema);
  if (req.contains("response_format") && req["response_format"].is_object() &&
      req["response_format"].value("type", "") == "json_object")
    return nlohmann::json{{"reply", "fake"}};
  std::string excerpt = collapse_whitespace(last_user);
  if (excerpt.size() > 80) excerpt = excerpt.substr(0, 80);
  return "Fake reply to: " + excerpt;
}

void FakeServer::install_routes() {
  auto authorized = [this](const httplib::Request& req, httplib::Response& res) {
    if (opts_.api_key.empty()) return true;
    std::string got = req.get_header_value("Authorization");
    if (got == "Bearer " + opts_.api_key) return true;
    // Like some real servers, echo what was presented: the client must never print this body.
    std::string presented = starts_with(got, "Bearer ") ? got.substr(7) : got;
    res.status = 401;
    res.set_content(error_body("Incorrect API key provided: " + presented, "invalid_request_error",
                               "invalid_api_key").dump(),
                    "application/json");
    std::lock_guard lk(mu_);
    stats_.auth_failures++;
    return false;
  };

  svr_->Get("/v1/models", [this, authorized](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lk(mu_);
      stats_.requests++;
    }
    if (!authorized(req, res)) return;
    nlohmann::json data = nlohmann::json::array();
    for (const auto& m : opts_.models) data.push_back({{"id", m}, {"object", "model"}, {"owned_by", "ecpo-fake"}});
    res.set_content(nlohmann::json{{"object", "list"}, {"data", data}}.dump(), "application/json");
  });

  svr_->Post("/v1/chat/completions", [this, authorized](const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lk(mu_);
      stats_.requests++;
      stats_.chat_requests++;
      stats_.max_in_flight = std::max(stats_.max_in_flight, ++in_flight_);
    }
    struct Leave {
      FakeServer* s;
      ~Leave() {
        std::lock_guard lk(s->mu_);
        s->in_flight_--;
      }
    } leave{this};
    if (!authorized(req, res)) return;
    auto body = nlohmann::json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object() || !body.contains("messages") || !body["messages"].is_array()) {
      res.status = 400;
      res.set_content(error_body("request body must be JSON with messages[]", "invalid_request_error").dump(),
                      "application/json");
      return;
    }
    std::string model = body.value("model", "");
    if (!opts_.models.empty() && std::find(opts_.models.begin(), opts_.models.end(), model) == opts_.models.end()) {
      res.status = 404;
      res.set_content(
          error_body("The model '" + model + "' does not exist", "invalid_request_error", "model_not_found").dump(),
          "application/json");
      std::lock_guard lk(mu_);
      stats_.not_found++;
      return;
    }
    auto fault = draw_fault();
    if (opts_.latency_ms > 0)
      std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long long>(opts_.latency_ms * 1000)));
    if (fault == FakeFault::rate_limit) {
      res.status = 429;
      res.set_header("retry-after-ms", std::to_string(static_cast<long long>(std::ceil(opts_.retry_after_ms))));
      res.set_header("Retry-After", std::to_string(static_cast<long long>(std::ceil(opts_.retry_after_ms / 1000.0))));
      res.set_content(error_body("Rate limit reached (fake)", "rate_limit_error", "rate_limit_exceeded").dump(),
                      "application/json");
      return;
    }
    if (fault == FakeFault::server_error) {
      res.status = 500;
      res.set_content(error_body("The server had an error (fake)", "server_error").dump(), "application/json");
      return;
    }
    if (fault == FakeFault::stall) {
      auto until = std::chrono::steady_clock::now() +
                   std::chrono::microseconds(static_cast<long long>(opts_.stall_ms * 1000));
      while (!stopping_ && std::chrono::steady_clock::now() < until)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }

    // The reply: script/rules/schema, then stop sequences and max_tokens (in words) applied.
    std::string text = reply_text(next_reply(body));
    std::string finish = "stop";
    if (body.contains("stop") && body["stop"].is_array())
      for (const auto& s : body["stop"])
        if (s.is_string() && !s.get<std::string>().empty())
          if (auto p = text.find(s.get<std::string>()); p != std::string::npos) text.resize(p);
    int max_tokens = body.value("max_tokens", 1 << 30);
    if (count_tokens(text) > max_tokens) {
      auto words = split(text, ' ');
      words.resize(static_cast<std::size_t>(std::max(0, max_tokens)));
      text = join(words, " ");
      finish = "length";
    }
    std::int64_t prompt_tokens = 0;
    for (const auto& m : body["messages"])
      if (m.is_object() && m.contains("content") && m["content"].is_string())
        prompt_tokens += count_tokens(m["content"].get<std::string>());
    std::int64_t completion_tokens = count_tokens(text);
    nlohmann::json out = {
        {"id", "chatcmpl-fake"},
        {"object", "chat.completion"},
        {"created", 0},
        {"model", model},
        {"choices",
         nlohmann::json::array({{{"index", 0},
                                 {"message", {{"role", "assistant"}, {"content", text}}},
                                 {"finish_reason", finish}}})},
        {"usage",
         {{"prompt_tokens", prompt_tokens},
          {"completion_tokens", completion_tokens},
          {"total_tokens", prompt_tokens + completion_tokens}}}};
    std::string payload = out.dump();
    if (fault == FakeFault::malformed) {
      res.set_content(payload.substr(0, payload.size() / 2) + "<<garbage>>", "application/json");
      return;
    }
    if (fault == FakeFault::truncated) {
      // Announce the full length, send half, then drop the connection.
      auto shared = std::make_shared<std::string>(std::move(payload));
      res.set_content_provider(shared->size(), "application/json",
                               [shared](size_t offset, size_t, httplib::DataSink& sink) {
                                 if (offset == 0) sink.write(shared->data(), shared->size() / 2);
                                 return offset == 0 ? true : false;
                               });
      return;
    }
    {
      std::lock_guard lk(mu_);
      stats_.ok++;
    }
    res.set_content(payload, "application/json");
  });
}

int FakeServer::bind() {
  int p = opts_.port == 0 ? svr_->bind_to_any_port(opts_.host) : (svr_->bind_to_port(opts_.host, opts_.port) ? opts_.port : -1);
  if (p <= 0)
    throw Error("cannot listen on " + opts_.host + ":" + std::to_string(opts_.port), "fake-server",
                "is the port in use? try --port 0 for any free port");
  if (listen_fd_ >= 0) ::listen(listen_fd_, std::max(5, opts_.backlog));  // a second listen() resizes the queue
  port_ = p;
  return p;
}

int FakeServer::start() {
  bind();
  thread_ = std::thread([this] { svr_->listen_after_bind(); });
  for (int i = 0; i < 2000 && !svr_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (!svr_->is_running()) {
    stop();
    throw Error("the fake server did not start", "fake-server");
  }
  return port_;
}

void FakeServer::run() {
  bind();
  svr_->listen_after_bind();
}

void FakeServer::stop() {
  stopping_ = true;
  // httplib's stop() waits for idle keep-alive connections to time out; close this thread's own client
  // connections first (the usual case in tests: the thread that made the calls destroys the server).
  http::close_thread_connections();
  if (svr_) svr_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace ecpo::llm
