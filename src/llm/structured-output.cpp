// Tolerant JSON extraction, schema-subset validation, one-shot repair (see structured-output.h).
#include "llm/structured-output.h"

#include <cmath>

#include "llm/call-context.h"
#include "llm/prompts-dir.h"
#include "util/error.h"

namespace ecpo::llm {
namespace {

std::optional<nlohmann::json> parse_container(const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (j.is_discarded() || !(j.is_object() || j.is_array())) return std::nullopt;
  return j;
}

// End (one past) of the balanced bracket run starting at `b`, honouring JSON strings; npos if unbalanced.
std::size_t balanced_end(const std::string& s, std::size_t b) {
  std::vector<char> stack;
  bool in_str = false, esc = false;
  for (std::size_t i = b; i < s.size(); ++i) {
    char c = s[i];
    if (in_str) {
      if (esc) esc = false;
      else if (c == '\\') esc = true;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '{' || c == '[') stack.push_back(c == '{' ? '}' : ']');
    else if (c == '}' || c == ']') {
      if (stack.empty() || stack.back() != c) return std::string::npos;
      stack.pop_back();
      if (stack.empty()) return i + 1;
    }
  }
  return std::string::npos;
}

std::string type_of(const nlohmann::json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number()) return "number";
  return v.type_name();
}

bool has_type(const nlohmann::json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "number") return v.is_number();
  if (t == "integer")
    return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  return true;  // unknown type names are not enforced
}

std::string validate_at(const nlohmann::json& v, const nlohmann::json& s, const std::string& path) {
  if (!s.is_object()) return "";
  if (s.contains("type")) {
    const auto& t = s["type"];
    bool ok = false;
    std::string want;
    if (t.is_string()) ok = has_type(v, want = t.get<std::string>());
    else if (t.is_array())
      for (const auto& x : t)
        if (x.is_string()) {
          want += (want.empty() ? "" : "|") + x.get<std::string>();
          ok = ok || has_type(v, x.get<std::string>());
        }
    if (!ok) return path + ": expected " + want + ", got " + type_of(v);
  }
  if (s.contains("enum") && s["enum"].is_array()) {
    bool found = false;
    for (const auto& e : s["enum"]) found = found || e == v;
    if (!found) return path + ": " + v.dump() + " is not one of " + s["enum"].dump();
  }
  if (v.is_number()) {
    double x = v.get<double>();
    if (s.contains("minimum") && s["minimum"].is_number() && x < s["minimum"].get<double>())
      return path + ": " + v.dump() + " is below the minimum " + s["minimum"].dump();
    if (s.contains("maximum") && s["maximum"].is_number() && x > s["maximum"].get<double>())
      return path + ": " + v.dump() + " is above the maximum " + s["maximum"].dump();
  }
  if (v.is_string()) {
    auto n = v.get<std::string>().size();
    if (s.contains("minLength") && s["minLength"].is_number() && n < s["minLength"].get<std::size_t>())
      return path + ": string shorter than " + s["minLength"].dump();
    if (s.contains("maxLength") && s["maxLength"].is_number() && n > s["maxLength"].get<std::size_t>())
      return path + ": string longer than " + s["maxLength"].dump();
  }
  if (v.is_object()) {
    if (s.contains("required") && s["required"].is_array())
      for (const auto& r : s["required"])
        if (r.is_string() && !v.contains(r.get<std::string>()))
          return path + ": missing required field '" + r.get<std::string>() + "'";
    const nlohmann::json* props = s.contains("properties") && s["properties"].is_object() ? &s["properties"] : nullptr;
    bool closed = s.contains("additionalProperties") && s["additionalProperties"] == false;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (props && props->contains(it.key())) {
        if (auto e = validate_at(it.value(), (*props)[it.key()], path + "." + it.key()); !e.empty()) return e;
      } else if (closed) {
        return path + ": unexpected field '" + it.key() + "'";
      }
    }
  }
  if (v.is_array()) {
    if (s.contains("minItems") && s["minItems"].is_number() && v.size() < s["minItems"].get<std::size_t>())
      return path + ": fewer than " + s["minItems"].dump() + " items";
    if (s.contains("maxItems") && s["maxItems"].is_number() && v.size() > s["maxItems"].get<std::size_t>())
      return path + ": more than " + s["maxItems"].dump() + " items";
    if (s.contains("items") && s["items"].is_object())
      for (std::size_t i = 0; i < v.size(); ++i)
        if (auto e = validate_at(v[i], s["items"], path + "[" + std::to_string(i) + "]"); !e.empty()) return e;
  }
  return "";
}

std::string fill(std::string tmpl, const std::string& key, const std::string& value) {
  for (std::size_t p = tmpl.find(key); p != std::string::npos; p = tmpl.find(key, p + value.size()))
    tmpl.replace(p, key.size(), value);
  return tmpl;
}

}  // namespace

std::optional<nlohmann::json> extract_json(const std::string& text, std::string* error) {
  if (auto j = parse_container(text)) return j;
  // A fenced block: ```json ... ``` or ``` ... ```.
  for (std::size_t f = text.find("```"); f != std::string::npos; f = text.find("```", f + 3)) {
    std::size_t body = text.find('\n', f);
    if (body == std::string::npos) break;
    std::size_t close = text.find("```", body);
    if (close == std::string::npos) break;
    if (auto j = parse_container(text.substr(body + 1, close - body - 1))) return j;
    f = close;
  }
  // The first balanced {...} or [...] that parses.
  for (std::size_t b = text.find_first_of("{["); b != std::string::npos; b = text.find_first_of("{[", b + 1)) {
    std::size_t e = balanced_end(text, b);
    if (e == std::string::npos) continue;
    if (auto j = parse_container(text.substr(b, e - b))) return j;
  }
  if (error) *error = text.find_first_of("{[") == std::string::npos ? "the reply contains no JSON object"
                                                                  : "the reply's JSON does not parse";
  return std::nullopt;
}

std::string validate_json(const nlohmann::json& value, const nlohmann::json& schema) {
  return validate_at(value, schema, "$");
}

StructuredStats& global_structured_stats() {
  static StructuredStats s;
  return s;
}

JsonReply chat_json(ChatModel& model, const std::vector<Message>& messages, const ChatParams& params,
                    StructuredStats* stats) {
  if (params.json_schema.is_null())
    throw Error("chat_json needs params.json_schema", "structured output", "set the schema the reply must satisfy");
  StructuredStats& st = stats ? *stats : global_structured_stats();
  st.calls++;
  auto check = [&](const std::string& text, nlohmann::json& out) -> std::string {
    std::string err;
    auto j = extract_json(text, &err);
    if (!j) return err;
    err = validate_json(*j, params.json_schema);
    if (err.empty()) out = std::move(*j);
    return err;
  };
  // Attempts are not streamed (a first reply may be thrown away); the accepted reply goes to on_delta once.
  ChatParams quiet = params;
  quiet.on_delta = nullptr;
  JsonReply reply;
  try {
    reply.result = model.chat(messages, quiet);
  } catch (const ChatError&) {
    st.call_errors++;
    throw;
  }
  reply.first_error = check(reply.result.text, reply.value);
  if (reply.first_error.empty()) {
    st.first_try++;
    deliver_whole_text(params, reply.result.text);
    return reply;
  }
  // One re-ask: show the model its reply and what was wrong with it.
  static const std::string tmpl = load_prompt("llm/json-repair.txt");
  std::vector<Message> again = messages;
  again.push_back({"assistant", reply.result.text});
  again.push_back({"user", fill(fill(tmpl, "{error}", reply.first_error), "{schema}", params.json_schema.dump())});
  CallContext ctx = current_call_context();
  ctx.repair = true;
  CallContextScope scope(ctx);
  try {
    reply.result = model.chat(again, quiet);
  } catch (const ChatError&) {
    st.call_errors++;
    throw;
  }
  reply.calls = 2;
  std::string err2 = check(reply.result.text, reply.value);
  if (!err2.empty()) {
    st.failed++;
    throw ChatError(FailureKind::bad_response,
                    "reply does not match the schema after one repair: " + err2 + " (first: " + reply.first_error + ")",
                    0, 2, reply.result.endpoint);
  }
  st.repaired++;
  reply.repaired = true;
  deliver_whole_text(params, reply.result.text);
  return reply;
}

}  // namespace ecpo::llm
