// Tolerant JSON extraction, schema-subset validation (unsupported keywords refused), one-shot repair
// (see structured-output.h).
#include "llm/structured-output.h"

#include <algorithm>
#include <cmath>

#include "llm/call-context.h"
#include "llm/prompts-dir.h"
#include "util/error.h"
#include "util/utf8.h"

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

const char* const kTypes[] = {"object", "array", "string", "boolean", "null", "number", "integer"};

bool has_type(const nlohmann::json& v, const std::string& t) {
  if (t == "object") return v.is_object();
  if (t == "array") return v.is_array();
  if (t == "string") return v.is_string();
  if (t == "boolean") return v.is_boolean();
  if (t == "null") return v.is_null();
  if (t == "number") return v.is_number();
  // "integer": an integral float (4.0) counts, as in JSON Schema
  return v.is_number_integer() || (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
}

// ---- the supported subset, checked before any value is ----

// Keywords that constrain a value (validate_at implements each) and annotations that never do.
const char* const kConstraints[] = {"type",      "enum",      "const",     "minimum",  "maximum",
                                    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                                    "properties", "required", "additionalProperties", "items",
                                    "minItems",  "maxItems",  "uniqueItems", "anyOf"};
const char* const kAnnotations[] = {"title", "description", "default", "examples", "$schema", "$id", "$comment",
                                    "format", "deprecated", "readOnly", "writeOnly"};

bool listed(const char* const* begin, const char* const* end, const std::string& k) {
  return std::any_of(begin, end, [&](const char* x) { return k == x; });
}

std::string supported_list() {
  std::string s;
  for (const char* k : kConstraints) s += (s.empty() ? "" : ", ") + std::string(k);
  return s;
}

bool non_negative_integer(const nlohmann::json& v) {
  return v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
}

// "" when `s` uses only the subset with well-formed values; else "<path>: what is wrong".
std::string check_at(const nlohmann::json& s, const std::string& path, int depth) {
  if (depth > 64) return path + ": schema nested more than 64 levels deep";
  if (s.is_boolean()) return "";  // true / false schemas
  if (!s.is_object()) return path + ": a schema must be an object (or true/false), not " + std::string(s.type_name());
  for (auto it = s.begin(); it != s.end(); ++it) {
    const std::string& k = it.key();
    const nlohmann::json& v = it.value();
    if (listed(std::begin(kAnnotations), std::end(kAnnotations), k)) continue;
    if (!listed(std::begin(kConstraints), std::end(kConstraints), k))
      return path + ": keyword '" + k + "' is not supported by ecpo's schema validator (supported: " +
             supported_list() + ")";
    const std::string at = path + "." + k;
    if (k == "type") {
      auto known = [](const nlohmann::json& t) {
        return t.is_string() && listed(std::begin(kTypes), std::end(kTypes), t.get<std::string>());
      };
      if (v.is_array()) {
        if (v.empty()) return at + ": an empty list of types";
        for (const auto& t : v)
          if (!known(t)) return at + ": unknown type " + t.dump();
      } else if (!known(v)) {
        return at + ": unknown type " + v.dump() + " (object, array, string, boolean, null, number, integer)";
      }
    } else if (k == "enum") {
      if (!v.is_array() || v.empty()) return at + ": must be a non-empty list";
    } else if (k == "minimum" || k == "maximum" || k == "exclusiveMinimum" || k == "exclusiveMaximum") {
      if (!v.is_number()) return at + ": must be a number";
    } else if (k == "minLength" || k == "maxLength" || k == "minItems" || k == "maxItems") {
      if (!non_negative_integer(v)) return at + ": must be a non-negative integer";
    } else if (k == "uniqueItems") {
      if (!v.is_boolean()) return at + ": must be true or false";
    } else if (k == "required") {
      if (!v.is_array()) return at + ": must be a list of property names";
      for (const auto& r : v)
        if (!r.is_string()) return at + ": must be a list of property names";
    } else if (k == "properties") {
      if (!v.is_object()) return at + ": must map property names to schemas";
      for (auto p = v.begin(); p != v.end(); ++p)
        if (auto e = check_at(p.value(), at + "." + p.key(), depth + 1); !e.empty()) return e;
    } else if (k == "additionalProperties" || k == "items") {
      if (auto e = check_at(v, at, depth + 1); !e.empty()) return e;
    } else if (k == "anyOf") {
      if (!v.is_array() || v.empty()) return at + ": must be a non-empty list of schemas";
      for (std::size_t i = 0; i < v.size(); ++i)
        if (auto e = check_at(v[i], at + "[" + std::to_string(i) + "]", depth + 1); !e.empty()) return e;
    }
  }
  return "";
}

std::string number_text(const nlohmann::json& v) { return v.dump(); }

// Assumes check_at(s) passed.
std::string validate_at(const nlohmann::json& v, const nlohmann::json& s, const std::string& path) {
  if (s.is_boolean()) return s.get<bool>() ? "" : path + ": no value is allowed here";
  if (auto t = s.find("type"); t != s.end()) {
    bool ok = false;
    std::string want;
    for (const auto& x : t->is_array() ? *t : nlohmann::json::array({*t})) {
      want += (want.empty() ? "" : "|") + x.get<std::string>();
      ok = ok || has_type(v, x.get<std::string>());
    }
    if (!ok) return path + ": expected " + want + ", got " + type_of(v);
  }
  if (auto e = s.find("enum"); e != s.end() && std::find(e->begin(), e->end(), v) == e->end())
    return path + ": " + v.dump() + " is not one of " + e->dump();
  if (auto c = s.find("const"); c != s.end() && *c != v) return path + ": " + v.dump() + " is not " + c->dump();
  if (v.is_number()) {
    const double x = v.get<double>();
    if (auto m = s.find("minimum"); m != s.end() && x < m->get<double>())
      return path + ": " + v.dump() + " is below the minimum " + number_text(*m);
    if (auto m = s.find("maximum"); m != s.end() && x > m->get<double>())
      return path + ": " + v.dump() + " is above the maximum " + number_text(*m);
    if (auto m = s.find("exclusiveMinimum"); m != s.end() && !(x > m->get<double>()))
      return path + ": " + v.dump() + " is not above " + number_text(*m);
    if (auto m = s.find("exclusiveMaximum"); m != s.end() && !(x < m->get<double>()))
      return path + ": " + v.dump() + " is not below " + number_text(*m);
  }
  if (v.is_string()) {
    // Lengths count characters (code points), as JSON Schema says, not bytes: "café" has length 4.
    const std::size_t n = utf8_length(v.get_ref<const std::string&>());
    if (auto m = s.find("minLength"); m != s.end() && n < m->get<std::uint64_t>())
      return path + ": string shorter than " + m->dump() + " characters";
    if (auto m = s.find("maxLength"); m != s.end() && n > m->get<std::uint64_t>())
      return path + ": string longer than " + m->dump() + " characters";
  }
  if (v.is_object()) {
    if (auto r = s.find("required"); r != s.end())
      for (const auto& name : *r)
        if (!v.contains(name.get<std::string>()))
          return path + ": missing required field '" + name.get<std::string>() + "'";
    auto props = s.find("properties");
    auto extra = s.find("additionalProperties");
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (props != s.end() && props->contains(it.key())) {
        if (auto e = validate_at(it.value(), (*props)[it.key()], path + "." + it.key()); !e.empty()) return e;
      } else if (extra != s.end()) {
        if (extra->is_boolean() && !extra->get<bool>()) return path + ": unexpected field '" + it.key() + "'";
        if (auto e = validate_at(it.value(), *extra, path + "." + it.key()); !e.empty()) return e;
      }
    }
  }
  if (v.is_array()) {
    if (auto m = s.find("minItems"); m != s.end() && v.size() < m->get<std::uint64_t>())
      return path + ": fewer than " + m->dump() + " items";
    if (auto m = s.find("maxItems"); m != s.end() && v.size() > m->get<std::uint64_t>())
      return path + ": more than " + m->dump() + " items";
    if (auto u = s.find("uniqueItems"); u != s.end() && u->get<bool>())
      for (std::size_t i = 0; i < v.size(); ++i)
        for (std::size_t j = i + 1; j < v.size(); ++j)
          if (v[i] == v[j]) return path + ": items " + std::to_string(i) + " and " + std::to_string(j) + " are equal";
    if (auto it = s.find("items"); it != s.end())
      for (std::size_t i = 0; i < v.size(); ++i)
        if (auto e = validate_at(v[i], *it, path + "[" + std::to_string(i) + "]"); !e.empty()) return e;
  }
  if (auto any = s.find("anyOf"); any != s.end()) {
    std::string first;
    for (const auto& alt : *any) {
      std::string e = validate_at(v, alt, path);
      if (e.empty()) return "";
      if (first.empty()) first = e;
    }
    return first + " (and no other anyOf alternative matches)";
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

std::string check_schema(const nlohmann::json& schema) { return check_at(schema, "$", 0); }

std::string validate_json(const nlohmann::json& value, const nlohmann::json& schema) {
  if (std::string e = check_schema(schema); !e.empty())
    throw Error("unsupported JSON schema: " + e, "structured output",
                "use only the keywords ecpo validates, or drop the others from the schema");
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
  // A schema the validator cannot enforce is refused before any call (passing it silently would accept
  // replies that break it).
  if (std::string e = check_schema(params.json_schema); !e.empty())
    throw Error("unsupported JSON schema: " + e, "structured output (schema '" + params.schema_name + "')",
                "use only the keywords ecpo validates, or drop the others from the schema");
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
