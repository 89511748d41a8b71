// Fake OpenAI-compatible server: the scripted model and the fault draws behind a ChatServer (see fake-server.h).
#include "llm/fake-server.h"

#include <chrono>
#include <cmath>
#include <filesystem>


#include "util/config.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::llm {
namespace {

std::string reply_text(const nlohmann::json& reply) { return reply.is_string() ? reply.get<std::string>() : reply.dump(); }

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

namespace {

nlohmann::json fake_value_at(const nlohmann::json& schema, int depth) {
  if (!schema.is_object() || depth > 32) return "fake";  // schemas come from requests: bound the recursion
  if (schema.contains("enum") && schema["enum"].is_array() && !schema["enum"].empty()) return schema["enum"][0];
  std::string type = "string";
  if (schema.contains("type")) {
    if (schema["type"].is_string()) type = schema["type"].get<std::string>();
    else if (schema["type"].is_array() && !schema["type"].empty() && schema["type"][0].is_string())
      type = schema["type"][0].get<std::string>();
  } else if (schema.contains("properties")) {
    type = "object";
  }
  const nlohmann::json* minimum = schema.contains("minimum") && schema["minimum"].is_number() ? &schema["minimum"] : nullptr;
  if (type == "object") {
    nlohmann::json o = nlohmann::json::object();
    if (schema.contains("properties") && schema["properties"].is_object())
      for (auto it = schema["properties"].begin(); it != schema["properties"].end(); ++it)
        o[it.key()] = fake_value_at(it.value(), depth + 1);
    return o;
  }
  if (type == "array") {
    nlohmann::json a = nlohmann::json::array();
    a.push_back(fake_value_at(schema.contains("items") ? schema["items"] : nlohmann::json::object(), depth + 1));
    return a;
  }
  if (type == "integer") {
    if (!minimum) return 0;
    const double m = std::ceil(minimum->get<double>());  // a float minimum: the next integer, when representable
    return std::abs(m) < 9e15 ? nlohmann::json(static_cast<std::int64_t>(m)) : nlohmann::json(0);
  }
  if (type == "number") return minimum ? minimum->get<double>() : 0.0;
  if (type == "boolean") return true;
  if (type == "null") return nullptr;
  return "fake";
}

}  // namespace

nlohmann::json fake_value_for_schema(const nlohmann::json& schema) { return fake_value_at(schema, 0); }

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

// The scripted "model": sequence, then rules, then the default, then a value made up from the schema, else
// an echo of the last user message; stop strings cut, max_tokens counted in words. Safe from many threads.
class FakeServer::ScriptModel : public ChatModel {
 public:
  explicit ScriptModel(const FakeScript& script) : script_(script) {}

  ChatResult chat(const std::vector<Message>& messages, const ChatParams& params) override {
    std::string text = reply_text(next_reply(messages, params));
    ChatResult r;
    r.finish_reason = "stop";
    for (const auto& s : params.stop)
      if (!s.empty())
        if (auto p = text.find(s); p != std::string::npos) text.resize(p);
    if (count_tokens(text) > params.max_tokens) {
      auto words = split(text, ' ');
      words.resize(static_cast<std::size_t>(std::max(0, params.max_tokens)));
      text = join(words, " ");
      r.finish_reason = "length";
    }
    for (const auto& m : messages) r.usage.prompt_tokens += count_tokens(m.content);
    r.usage.completion_tokens = count_tokens(text);
    r.text = std::move(text);
    deliver_whole_text(params, r.text);
    return r;
  }
  std::string model_name() const override { return "fake-model"; }

 private:
  nlohmann::json next_reply(const std::vector<Message>& messages, const ChatParams& params) {
    {
      std::lock_guard lk(mu_);
      if (seq_ < script_.sequence.size()) return script_.sequence[seq_++];
    }
    std::string last_user;
    for (const auto& m : messages)
      if (m.role == "user") last_user = m.content;
    std::string lower = to_lower_ascii(last_user);
    for (const auto& r : script_.rules)
      if (lower.find(r.match) != std::string::npos) return r.reply;
    if (script_.fallback) return *script_.fallback;
    // json_object requests arrive as the schema {"type": "object"} (openai-wire.h).
    if (params.json_schema == nlohmann::json{{"type", "object"}}) return nlohmann::json{{"reply", "fake"}};
    if (!params.json_schema.is_null()) return fake_value_for_schema(params.json_schema);
    std::string excerpt = collapse_whitespace(last_user);
    if (excerpt.size() > 80) excerpt = excerpt.substr(0, 80);
    return "Fake reply to: " + excerpt;
  }

  const FakeScript& script_;
  std::mutex mu_;
  std::size_t seq_ = 0;
};

FakeServer::FakeServer(FakeServerOptions opts)
    : opts_(std::move(opts)), model_(std::make_unique<ScriptModel>(opts_.script)), rng_(opts_.seed) {
  if (opts_.fault_rate < 0 || opts_.fault_rate > 1) throw Error("fault rate must be in [0, 1]", "fake-server");
  if (opts_.fault_rate > 0 && opts_.faults.empty()) throw Error("fault rate > 0 but no fault kinds", "fake-server");
  if (opts_.latency_ms < 0) throw Error("latency must be >= 0", "fake-server");
  ServeOptions so;
  so.host = opts_.host;
  so.port = opts_.port;
  if (opts_.models.empty()) {
    so.any_model = true;
  } else {
    so.model_id = opts_.models.front();
    so.aliases.assign(opts_.models.begin() + 1, opts_.models.end());
  }
  so.owned_by = "ecpo-fake";
  so.api_key = opts_.api_key;
  so.tls_cert = opts_.tls_cert;
  so.tls_key = opts_.tls_key;
  so.threads = std::max(4, opts_.threads);
  so.keep_alive_timeout_s = std::max(1, opts_.keep_alive_s);
  so.backlog = std::max(5, opts_.backlog);
  so.log_chats = false;
  so.fault = [this](const ChatRequest& r) { return draw_fault(r); };
  server_ = std::make_unique<ChatServer>(*model_, std::move(so));
}

FakeServer::~FakeServer() { stop(); }

FakeServerStats FakeServer::stats() const {
  ChatServerStats s = server_->stats();
  FakeServerStats f;
  f.requests = s.requests;
  f.chat_requests = s.chat_requests;
  f.ok = s.ok;
  f.auth_failures = s.auth_failures;
  f.not_found = s.not_found;
  f.bad_requests = s.bad_requests;
  f.max_in_flight = s.max_in_flight;
  std::lock_guard lk(mu_);
  for (int i = 0; i < 5; ++i) f.faults[i] = faults_[i];
  return f;
}

ChatFault FakeServer::draw_fault(const ChatRequest&) {
  ChatFault out;
  out.delay_ms = opts_.latency_ms;
  std::optional<FakeFault> f;
  {
    std::lock_guard lk(mu_);
    if (opts_.fault_rate > 0 && rng_.uniform() < opts_.fault_rate) {
      f = opts_.faults[rng_.below(opts_.faults.size())];
      faults_[static_cast<int>(*f)]++;
    }
  }
  if (!f) return out;
  switch (*f) {
    case FakeFault::rate_limit:
      out.status = 429;
      out.headers = {{"retry-after-ms", std::to_string(static_cast<long long>(std::ceil(opts_.retry_after_ms)))},
                     {"Retry-After", std::to_string(static_cast<long long>(std::ceil(opts_.retry_after_ms / 1000.0)))}};
      out.body = dump_json(error_json({429, "Rate limit reached (fake)", "rate_limit_error", "rate_limit_exceeded", ""}));
      break;
    case FakeFault::server_error:
      out.status = 500;
      out.body = dump_json(error_json({500, "The server had an error (fake)", "server_error", "", ""}));
      break;
    case FakeFault::stall: out.delay_ms += opts_.stall_ms; break;
    case FakeFault::truncated: out.mangle = ChatFault::Mangle::truncate; break;
    case FakeFault::malformed: out.mangle = ChatFault::Mangle::garbage; break;
  }
  return out;
}

int FakeServer::start() {
  server_->start();
  return server_->port();
}

void FakeServer::run() { serve_until_signal(*server_, "fake server serving"); }

void FakeServer::stop() {
  if (server_) server_->stop();
}

}  // namespace ecpo::llm
