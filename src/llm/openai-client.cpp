// OpenAI-compatible chat client: body building, attempts, classification, backoff (see openai-client.h).
#include "llm/openai-client.h"

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <random>
#include <thread>

#include "llm/chat-reply.h"
#include "llm/http-transport.h"
#include "util/error.h"
#include "util/json-text.h"
#include "util/log.h"
#include "util/rng.h"
#include "util/text.h"

namespace ecpo::llm {
namespace {

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Backoff jitter: deliberately not reproducible (seeded per thread from the OS).
double uniform01() {
  thread_local Rng rng{std::random_device{}() ^ std::hash<std::thread::id>{}(std::this_thread::get_id())};
  return rng.uniform();
}

// One attempt's failure, before it becomes a ChatError.
struct AttemptFailure {
  FailureKind kind = FailureKind::other;
  int status = 0;
  std::string message;
  bool retryable = false;
  std::optional<double> retry_after_ms;
};

// A short, one-line excerpt of a server error body (the "error.message" field when it is JSON).
std::string error_excerpt(const std::string& body) {
  std::string msg;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error")) {
    const auto& e = j["error"];
    if (e.is_object() && e.contains("message") && e["message"].is_string()) msg = e["message"].get<std::string>();
    else if (e.is_string()) msg = e.get<std::string>();
  }
  if (msg.empty()) msg = body;
  msg = collapse_whitespace(utf8_sanitize(msg));
  if (msg.size() > 200) msg = msg.substr(0, 200) + "…";
  return msg;
}

}  // namespace

StructuredMode structured_mode_from_name(const std::string& name, const std::string& where) {
  if (name == "json_schema") return StructuredMode::json_schema;
  if (name == "guided_json") return StructuredMode::guided_json;
  if (name == "json_object") return StructuredMode::json_object;
  if (name == "none") return StructuredMode::none;
  throw Error("unknown structured-output mode '" + name + "'", where,
              "use json_schema (OpenAI, llama.cpp, Ollama, vLLM), guided_json (vLLM), json_object or none");
}

const char* structured_mode_name(StructuredMode m) {
  switch (m) {
    case StructuredMode::json_schema: return "json_schema";
    case StructuredMode::guided_json: return "guided_json";
    case StructuredMode::json_object: return "json_object";
    case StructuredMode::none: return "none";
  }
  return "none";
}

OpenAiClient::OpenAiClient(OpenAiOptions opts, std::shared_ptr<EndpointRegistry> registry)
    : registry_(registry ? std::move(registry) : std::make_shared<EndpointRegistry>()),
      opts_(std::move(opts)),
      pool_(*registry_, opts_.base_urls, opts_.max_concurrency) {
  if (!opts_.api_key_env.empty())
    if (const char* k = std::getenv(opts_.api_key_env.c_str()); k && *k) key_ = k;
  if (!opts_.verify_tls)
    for (const auto& u : opts_.base_urls)
      if (u.rfind("https://", 0) == 0)
        spdlog::warn("role {}: TLS certificate verification is OFF for {} (tls_verify: false)", opts_.label, u);
}

std::string OpenAiClient::redact(std::string s) const {
  if (key_.size() >= 4) {
    for (std::size_t p = s.find(key_); p != std::string::npos; p = s.find(key_, p))
      s.replace(p, key_.size(), "[redacted]");
  }
  return s;
}

namespace {

// A JSON string literal via util/json-text.h; invalid UTF-8 becomes U+FFFD first (nlohmann's dump would throw).
void append_text(std::string& out, std::string_view s) {
  if (utf8_valid(s)) append_json_string(out, s);
  else append_json_string(out, utf8_sanitize(s));
}

}  // namespace

std::string OpenAiClient::request_body(const std::vector<Message>& messages, const ChatParams& params) const {
  // The common case (no extra_body) is written directly: building a nlohmann tree and dumping it cost ~45
  // allocations per call, about a tenth of the client's CPU per call at 64 threads (llm-bench).
  if (!opts_.extra_body.is_object() || opts_.extra_body.empty()) {
    std::size_t size = 160 + opts_.model.size();
    for (const auto& m : messages) size += 32 + m.role.size() + m.content.size() + m.content.size() / 8;
    std::string out;
    out.reserve(size);
    out += "{\"model\":";
    append_text(out, opts_.model);
    out += ",\"messages\":[";
    for (std::size_t i = 0; i < messages.size(); ++i) {
      out += i ? ",{\"role\":" : "{\"role\":";
      append_text(out, messages[i].role);
      out += ",\"content\":";
      append_text(out, messages[i].content);
      out += '}';
    }
    out += "],\"temperature\":";
    append_json_double(out, params.temperature);
    out += ",\"top_p\":";
    append_json_double(out, params.top_p);
    out += ",\"max_tokens\":";
    append_json_int(out, params.max_tokens);
    if (!params.stop.empty()) {
      out += ",\"stop\":[";
      for (std::size_t i = 0; i < params.stop.size(); ++i) {
        if (i) out += ',';
        append_text(out, params.stop[i]);
      }
      out += ']';
    }
    if (params.seed) out += ",\"seed\":" + std::to_string(*params.seed);
    if (!params.json_schema.is_null()) {
      switch (opts_.structured) {
        case StructuredMode::json_schema:
          out += ",\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":";
          append_text(out, params.schema_name.empty() ? "reply" : params.schema_name);
          out += ",\"schema\":" + params.json_schema.dump() + ",\"strict\":" + (opts_.strict_schema ? "true" : "false") +
                 "}}";
          break;
        case StructuredMode::guided_json: out += ",\"guided_json\":" + params.json_schema.dump(); break;
        case StructuredMode::json_object: out += ",\"response_format\":{\"type\":\"json_object\"}"; break;
        case StructuredMode::none: break;
      }
    }
    out += '}';
    return out;
  }
  // extra_body: its keys first, ours override them (the tree's merge does that).
  nlohmann::json b = opts_.extra_body;
  b["model"] = opts_.model;
  b["messages"] = to_json(messages);
  b["temperature"] = params.temperature;
  b["top_p"] = params.top_p;
  b["max_tokens"] = params.max_tokens;
  if (!params.stop.empty()) b["stop"] = params.stop;
  if (params.seed) b["seed"] = *params.seed;
  if (!params.json_schema.is_null()) {
    switch (opts_.structured) {
      case StructuredMode::json_schema:
        b["response_format"] = {{"type", "json_schema"},
                                {"json_schema",
                                 {{"name", params.schema_name.empty() ? "reply" : params.schema_name},
                                  {"schema", params.json_schema},
                                  {"strict", opts_.strict_schema}}}};
        break;
      case StructuredMode::guided_json: b["guided_json"] = params.json_schema; break;
      case StructuredMode::json_object: b["response_format"] = {{"type", "json_object"}}; break;
      case StructuredMode::none: break;
    }
  }
  return b.dump();
}

ChatResult OpenAiClient::chat(const std::vector<Message>& messages, const ChatParams& params) {
  return run(messages, params, opts_.retry, static_cast<std::size_t>(-1));
}

ChatResult OpenAiClient::chat_on(std::size_t index, const std::vector<Message>& messages, const ChatParams& params,
                                 const RetryPolicy& policy) {
  return run(messages, params, policy, index);
}

ChatResult OpenAiClient::run(const std::vector<Message>& messages, const ChatParams& params,
                             const RetryPolicy& policy, std::size_t pinned) {
  const double t0 = now_ms();
  const std::string prefix = "role " + opts_.label + ": ";
  if (!opts_.api_key_env.empty() && key_.empty())
    throw ChatError(FailureKind::auth,
                    prefix + "endpoint " + pool_.base_url(pinned < pool_.size() ? pinned : 0) +
                        ": environment variable " + opts_.api_key_env + " is not set (it must hold the API key)",
                    0, 0, pool_.base_url(0));
  const std::string body = request_body(messages, params);
  http::Request req;
  req.body = &body;
  req.timeout_ms = opts_.timeout_ms;
  req.connect_timeout_ms = opts_.connect_timeout_ms;
  req.ca_file = opts_.ca_file;
  req.verify_tls = opts_.verify_tls;
  if (!key_.empty()) req.authorization = "Bearer " + key_;

  std::size_t last = static_cast<std::size_t>(-1);
  AttemptFailure fail;
  std::string endpoint;
  const int max_attempts = std::max(1, policy.max_attempts);
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    if (attempt > 1) {
      double wait = policy.delay_ms(attempt, fail.retry_after_ms, uniform01());
      if (wait > 0) std::this_thread::sleep_for(std::chrono::microseconds(static_cast<long long>(wait * 1000)));
    }
    EndpointLease lease;
    std::size_t idx;
    if (pinned < pool_.size()) {
      idx = pinned;
      endpoint = pool_.base_url(idx);
    } else {
      lease = pool_.acquire(last);
      idx = lease.index();
      endpoint = lease.base_url();
    }
    last = idx;
    req.url = endpoint + "/chat/completions";
    http::Response r = http::perform(req);

    fail = AttemptFailure{};
    if (r.curl_code != 0) {
      fail.kind = r.timed_out ? FailureKind::timeout : FailureKind::transport;
      fail.message = r.timed_out ? "timed out after " + std::to_string(static_cast<long>(opts_.timeout_ms)) + " ms"
                                 : "transport error: " + r.curl_error;
      fail.retryable = r.retryable_transport;
    } else if (r.status != 200) {
      fail.status = static_cast<int>(r.status);
      if (r.retry_after_ms) {
        // retry-after-ms holds milliseconds; parse_retry_after_ms reads seconds, hence the / 1000.
        if (auto v = parse_retry_after_ms(*r.retry_after_ms, 0)) fail.retry_after_ms = *v / 1000.0;
      }
      if (!fail.retry_after_ms && r.retry_after)
        fail.retry_after_ms = parse_retry_after_ms(*r.retry_after, static_cast<std::int64_t>(std::time(nullptr)));
      if (r.status == 401 || r.status == 403) {
        fail.kind = FailureKind::auth;
        fail.message = "HTTP " + std::to_string(r.status) + " (authentication failed" +
                       (opts_.api_key_env.empty() ? std::string(": the server wants a key; set api_key_env")
                                                  : ": check the key in $" + opts_.api_key_env) +
                       ")";
      } else if (r.status == 404) {
        fail.kind = FailureKind::not_found;
        fail.message = "HTTP 404 (model '" + opts_.model + "' or path /chat/completions not found: " +
                       error_excerpt(r.body) + ")";
      } else if (r.status == 429) {
        fail.kind = FailureKind::rate_limited;
        fail.message = "HTTP 429 (rate limited: " + error_excerpt(r.body) + ")";
        fail.retryable = true;
      } else {
        fail.kind = FailureKind::http_status;
        fail.message = "HTTP " + std::to_string(r.status) + " (" + error_excerpt(r.body) + ")";
        fail.retryable = http_status_retryable(fail.status);
      }
    } else {
      ChatReplyFields reply = parse_chat_reply(r.body);
      if (!reply.has_content) {
        fail.kind = FailureKind::bad_response;
        fail.message = !reply.json_ok ? "malformed JSON in the response body (" + std::to_string(r.body.size()) +
                                            " bytes)"
                                      : "response lacks choices[0].message.content";
        fail.retryable = true;
      } else {
        ChatResult out;
        out.text = std::move(reply.content);
        out.finish_reason = std::move(reply.finish_reason);
        out.usage.prompt_tokens = reply.prompt_tokens;
        out.usage.completion_tokens = reply.completion_tokens;
        out.retries = attempt - 1;
        out.endpoint = endpoint;
        out.latency_ms = now_ms() - t0;
        deliver_whole_text(params, out.text);  // no token streaming over HTTP yet: the reply arrives whole
        return out;
      }
    }
    // A sick server: steer the next attempts elsewhere for a while when the role has several.
    if (fail.retryable && fail.kind != FailureKind::rate_limited) lease.mark_failed();
    lease.release();
    if (!fail.retryable) {
      throw ChatError(fail.kind, redact(prefix + "endpoint " + endpoint + ": " + fail.message), fail.status, attempt,
                      endpoint);
    }
    spdlog::debug("{}endpoint {}: attempt {} of {} failed: {}", prefix, endpoint, attempt, max_attempts,
                  redact(fail.message));
    if (attempt == max_attempts) {
      throw ChatError(fail.kind,
                      redact(prefix + "endpoint " + endpoint + ": " + fail.message + " (gave up after " +
                             std::to_string(attempt) + " attempts)"),
                      fail.status, attempt, endpoint);
    }
  }
  throw ChatError(FailureKind::other, prefix + "no attempt made", 0, 0, endpoint);
}

std::vector<std::string> OpenAiClient::list_models(std::size_t index) {
  const std::string prefix = "role " + opts_.label + ": endpoint " + pool_.base_url(index) + ": ";
  if (!opts_.api_key_env.empty() && key_.empty())
    throw ChatError(FailureKind::auth, prefix + "environment variable " + opts_.api_key_env + " is not set", 0, 0,
                    pool_.base_url(index));
  http::Request req;
  req.url = pool_.base_url(index) + "/models";
  req.timeout_ms = opts_.timeout_ms;
  req.connect_timeout_ms = opts_.connect_timeout_ms;
  req.ca_file = opts_.ca_file;
  req.verify_tls = opts_.verify_tls;
  if (!key_.empty()) req.authorization = "Bearer " + key_;
  http::Response r = http::perform(req);
  if (r.curl_code != 0)
    throw ChatError(r.timed_out ? FailureKind::timeout : FailureKind::transport,
                    redact(prefix + "cannot reach the server: " + r.curl_error), 0, 1, pool_.base_url(index));
  if (r.status == 401 || r.status == 403)
    throw ChatError(FailureKind::auth,
                    prefix + "HTTP " + std::to_string(r.status) + " (authentication failed" +
                        (opts_.api_key_env.empty() ? std::string(")") : ": check the key in $" + opts_.api_key_env + ")"),
                    static_cast<int>(r.status), 1, pool_.base_url(index));
  if (r.status != 200)
    throw ChatError(r.status == 404 ? FailureKind::not_found : FailureKind::http_status,
                    redact(prefix + "GET /models gave HTTP " + std::to_string(r.status) + " (" +
                           error_excerpt(r.body) + ")"),
                    static_cast<int>(r.status), 1, pool_.base_url(index));
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("data") || !j["data"].is_array())
    throw ChatError(FailureKind::bad_response, prefix + "GET /models did not return {data: [...]}", 200, 1,
                    pool_.base_url(index));
  std::vector<std::string> ids;
  for (const auto& m : j["data"])
    if (m.is_object() && m.contains("id") && m["id"].is_string()) ids.push_back(m["id"].get<std::string>());
  return ids;
}

}  // namespace ecpo::llm
