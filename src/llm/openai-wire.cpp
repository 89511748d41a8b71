// OpenAI chat-completions wire codec, server side (see openai-wire.h).
#include "llm/openai-wire.h"

#include <cmath>

#include "util/text.h"

namespace ecpo::llm {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& param, const std::string& message, const std::string& code = "invalid_value") {
  throw WireError{400, (param.empty() ? std::string() : "'" + param + "' ") + message, "invalid_request_error", code,
                  param};
}

const char* type_phrase(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::object: return "an object";
    case json::value_t::array: return "an array";
    case json::value_t::string: return "a string";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    default: return "a value";
  }
}

// The member `key` of `o`, or nullptr when absent or null.
const json* member(const json& o, const char* key) {
  auto it = o.find(key);
  return it == o.end() || it->is_null() ? nullptr : &*it;
}

const std::string& string_at(const json& v, const std::string& param) {
  if (!v.is_string()) bad(param, std::string("must be a string, not ") + type_phrase(v));
  return v.get_ref<const std::string&>();
}

bool bool_at(const json& v, const std::string& param) {
  if (!v.is_boolean()) bad(param, std::string("must be true or false, not ") + type_phrase(v));
  return v.get<bool>();
}

double number_at(const json& v, const std::string& param, double lo, double hi) {
  if (!v.is_number()) bad(param, std::string("must be a number, not ") + type_phrase(v));
  double x = v.get<double>();
  if (!(x >= lo && x <= hi)) bad(param, "must be in [" + dump_json(lo) + ", " + dump_json(hi) + "]");
  return x;
}

std::int64_t integer_at(const json& v, const std::string& param, std::int64_t lo, std::int64_t hi) {
  if (!v.is_number_integer()) bad(param, std::string("must be an integer, not ") + type_phrase(v));
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
    bad(param, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  std::int64_t x = v.get<std::int64_t>();
  if (x < lo || x > hi) bad(param, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return x;
}

std::string message_content(const json* c, const std::string& param) {
  if (!c) return "";
  if (c->is_string()) return c->get<std::string>();
  if (c->is_array()) {  // [{type: "text", text: "..."}, ...]
    std::string out;
    for (std::size_t i = 0; i < c->size(); ++i) {
      const json& part = (*c)[i];
      const std::string p = param + "[" + std::to_string(i) + "]";
      if (!part.is_object()) bad(p, "must be a content part object");
      const json* type = member(part, "type");
      if (!type || !type->is_string() || type->get_ref<const std::string&>() != "text")
        bad(p + ".type", "only text parts are supported");
      const json* text = member(part, "text");
      if (!text) bad(p + ".text", "is required", "missing_field");
      out += string_at(*text, p + ".text");
    }
    return out;
  }
  bad(param, "must be a string or a list of text parts");
}

}  // namespace

ChatRequest parse_chat_request(std::string_view body) {
  json j;
  try {
    j = json::parse(body.begin(), body.end());
  } catch (const json::exception& e) {  // syntax (parse_error) or a number beyond double (out_of_range)
    std::string why = e.what();
    if (auto p = why.find("] "); p != std::string::npos) why = why.substr(p + 2);
    throw WireError{400, "request body is not valid JSON: " + utf8_sanitize(why), "invalid_request_error",
                    "invalid_json", ""};
  }
  return parse_chat_request(j);
}

ChatRequest parse_chat_request(const json& body) {
  if (!body.is_object()) bad("", "request body must be a JSON object");
  ChatRequest req;
  if (const json* m = member(body, "model")) req.model = string_at(*m, "model");
  auto mit = body.find("messages");
  if (mit == body.end()) bad("messages", "is required", "missing_field");
  const json& ms = *mit;
  if (!ms.is_array() || ms.empty()) bad("messages", "must be a non-empty array");
  req.messages.reserve(ms.size());
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const json& m = ms[i];
    const std::string p = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) bad(p, "must be an object {role, content}");
    const json* role_j = member(m, "role");
    if (!role_j) bad(p + ".role", "is required", "missing_field");
    std::string role = string_at(*role_j, p + ".role");
    if (role == "developer") role = "system";
    if (role != "system" && role != "user" && role != "assistant")
      bad(p + ".role", "'" + role + "' is not supported (use system, user or assistant)");
    req.messages.push_back({role, message_content(member(m, "content"), p + ".content")});
  }
  auto& par = req.params;
  par.temperature = 1.0;  // OpenAI's default when the field is absent (ChatParams defaults to 0 for evaluation)
  if (const json* v = member(body, "temperature")) par.temperature = number_at(*v, "temperature", 0.0, 2.0);
  if (const json* v = member(body, "top_p")) par.top_p = number_at(*v, "top_p", 0.0, 1.0);
  for (const char* key : {"max_tokens", "max_completion_tokens"})
    if (const json* v = member(body, key)) par.max_tokens = static_cast<int>(integer_at(*v, key, 1, 1'000'000));
  if (const json* s = member(body, "stop")) {
    if (s->is_string()) {
      par.stop.push_back(s->get<std::string>());
    } else if (s->is_array()) {
      if (s->size() > 16) bad("stop", "may hold at most 16 strings");
      for (std::size_t i = 0; i < s->size(); ++i) par.stop.push_back(string_at((*s)[i], "stop[" + std::to_string(i) + "]"));
    } else {
      bad("stop", "must be a string or a list of strings");
    }
    for (const auto& x : par.stop)
      if (x.empty()) bad("stop", "strings must be non-empty");
  }
  if (const json* v = member(body, "seed")) {
    if (!v->is_number_integer()) bad("seed", std::string("must be an integer, not ") + type_phrase(*v));
    par.seed = v->is_number_unsigned() ? v->get<std::uint64_t>() : static_cast<std::uint64_t>(v->get<std::int64_t>());
  }
  if (const json* v = member(body, "n"))
    if (integer_at(*v, "n", 1, 1'000'000) != 1) bad("n", "is not supported beyond 1 (only n = 1 is supported)");
  if (const json* rf = member(body, "response_format")) {
    if (!rf->is_object()) bad("response_format", "must be an object with a 'type'");
    const json* type_j = member(*rf, "type");
    if (!type_j) bad("response_format.type", "is required", "missing_field");
    const std::string& type = string_at(*type_j, "response_format.type");
    if (type == "json_schema") {
      const json* js = member(*rf, "json_schema");
      if (!js || !js->is_object()) bad("response_format.json_schema", "must be an object {name, schema}");
      const json* schema = member(*js, "schema");
      if (!schema || !schema->is_object()) bad("response_format.json_schema.schema", "must be a JSON schema object");
      par.json_schema = *schema;
      if (const json* name = member(*js, "name")) par.schema_name = string_at(*name, "response_format.json_schema.name");
    } else if (type == "json_object") {
      par.json_schema = json{{"type", "object"}};
    } else if (type != "text") {
      bad("response_format.type", "'" + type + "' is not supported (text, json_object, json_schema)");
    }
  }
  if (const json* g = member(body, "guided_json")) {  // vLLM's dialect of the same request
    if (!g->is_object()) bad("guided_json", "must be a JSON schema object");
    par.json_schema = *g;
  }
  if (const json* v = member(body, "stream")) req.stream = bool_at(*v, "stream");
  if (const json* so = member(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "must be an object");
    if (const json* v = member(*so, "include_usage")) req.include_usage = bool_at(*v, "stream_options.include_usage");
  }
  return req;
}

WireError wire_error_from(const ChatError& e) {
  switch (e.kind()) {
    case FailureKind::timeout: return {504, e.what(), "server_error", "timeout", ""};
    case FailureKind::rate_limited: return {429, e.what(), "rate_limit_error", "rate_limited", ""};
    case FailureKind::not_found: return {404, e.what(), "invalid_request_error", "model_not_found", ""};
    default: return {500, e.what(), "server_error", failure_kind_name(e.kind()), ""};
  }
}

std::string dump_json(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_json(const WireError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json completion_json(const std::string& id, const std::string& model, std::int64_t created, const ChatResult& r) {
  return {{"id", id},
          {"object", "chat.completion"},
          {"created", created},
          {"model", model},
          {"choices", json::array({{{"index", 0},
                                    {"message", {{"role", "assistant"}, {"content", r.text}}},
                                    {"finish_reason", r.finish_reason.empty() ? "stop" : r.finish_reason}}})},
          {"usage", usage_json(r.usage)}};
}

json chunk_json(const std::string& id, const std::string& model, std::int64_t created, const json& delta,
                const json& finish_reason) {
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", model},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish_reason}}})}};
}

json usage_chunk_json(const std::string& id, const std::string& model, std::int64_t created, const Usage& u) {
  json c = chunk_json(id, model, created, json::object(), nullptr);
  c["choices"] = json::array();
  c["usage"] = usage_json(u);
  return c;
}

std::string sse_event(const json& j) { return "data: " + dump_json(j) + "\n\n"; }

json model_json(const std::string& id, const std::string& owned_by) {
  return {{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", owned_by}};
}

json models_json(const std::vector<std::string>& ids, const std::string& owned_by) {
  json data = json::array();
  for (const auto& id : ids) data.push_back(model_json(id, owned_by));
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace ecpo::llm
