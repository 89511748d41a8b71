// Probing each role's endpoints (see llm-check.h).
#include "llm/llm-check.h"

#include <algorithm>
#include <chrono>
#include <map>

#include "llm/prompts-dir.h"
#include "llm/structured-output.h"
#include "util/error.h"

namespace ecpo::llm {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

const nlohmann::json& probe_schema() {
  static const nlohmann::json s = {{"type", "object"},
                                   {"properties", {{"ok", {{"type", "boolean"}}}, {"word", {{"type", "string"}}}}},
                                   {"required", {"ok", "word"}},
                                   {"additionalProperties", false}};
  return s;
}

// Runs the structured probe through `call` and fills chat_ms / structured_ok / message.
template <typename Call>
void probe(CheckResult& r, Call&& call) {
  ChatParams params;
  params.temperature = 0;
  params.max_tokens = 64;
  params.json_schema = probe_schema();
  params.schema_name = "check";
  std::vector<Message> msgs = {{"user", load_prompt("llm/check-probe.txt")}};
  auto t0 = std::chrono::steady_clock::now();
  try {
    ChatResult res = call(msgs, params);
    r.chat_ms = ms_since(t0);
    std::string err;
    auto j = extract_json(res.text, &err);
    if (j) err = validate_json(*j, probe_schema());
    r.structured_ok = err.empty();
    if (!r.structured_ok) {
      r.message = "role " + r.role + ": endpoint " + r.endpoint + ": structured output not honoured (" + err +
                  "); try structured: guided_json (vLLM), json_object or none for this endpoint";
      return;
    }
    r.ok = true;
    r.message = "ok";
  } catch (const ChatError& e) {
    r.chat_ms = ms_since(t0);
    r.message = e.what();
  }
}

}  // namespace

std::vector<CheckResult> check_roles(RoleSet& roles, const std::vector<std::string>& only) {
  std::vector<std::string> names = only.empty() ? roles.names() : only;
  std::vector<CheckResult> out;
  std::map<std::string, CheckResult> seen;  // endpoint|model|key env|mode → result
  for (const auto& name : names) {
    const RoleSpec* spec = nullptr;
    try {
      spec = &roles.spec(name);
    } catch (const Error& e) {
      CheckResult r;
      r.role = name;
      r.message = e.what();
      out.push_back(r);
      continue;
    }
    if (spec->backend != "openai") {
      CheckResult r;
      r.role = name;
      r.endpoint = spec->backend;
      r.model = spec->http.model;
      r.note = "GET /models not applicable";
      try {
        auto m = roles.backend(name);
        probe(r, [&](const std::vector<Message>& ms, const ChatParams& p) { return m->chat(ms, p); });
      } catch (const Error& e) {
        r.message = "role " + name + ": backend " + spec->backend + ": " + e.what();
      }
      out.push_back(r);
      continue;
    }
    auto backend = std::dynamic_pointer_cast<OpenAiClient>(roles.backend(name));
    for (std::size_t i = 0; i < backend->endpoint_count(); ++i) {
      const std::string url = backend->base_url(i);
      const std::string dedupe = url + "|" + spec->http.model + "|" + spec->http.api_key_env + "|" +
                                 structured_mode_name(spec->http.structured);
      if (auto it = seen.find(dedupe); it != seen.end()) {
        CheckResult r = it->second;
        if (!r.ok) {  // restate the failure with this role's name
          const std::string from = "role " + r.role + ":", to = "role " + name + ":";
          if (r.message.rfind(from, 0) == 0) r.message = to + r.message.substr(from.size());
        }
        r.role = name;
        r.note = r.note.empty() ? "same endpoint and model as an earlier role" : r.note;
        out.push_back(r);
        continue;
      }
      CheckResult r;
      r.role = name;
      r.endpoint = url;
      r.model = spec->http.model;
      auto t0 = std::chrono::steady_clock::now();
      bool reachable = true;
      try {
        auto ids = backend->list_models(i);
        r.models_ms = ms_since(t0);
        r.model_listed = std::find(ids.begin(), ids.end(), r.model) != ids.end();
        if (!r.model_listed) {
          std::string some;
          for (std::size_t k = 0; k < ids.size() && k < 5; ++k) some += (k ? ", " : "") + ids[k];
          r.message = "role " + name + ": endpoint " + url + ": model '" + r.model + "' is not served (it lists " +
                      (some.empty() ? std::string("no models") : some) + (ids.size() > 5 ? ", …" : "") + ")";
        }
      } catch (const ChatError& e) {
        r.models_ms = ms_since(t0);
        if (e.kind() == FailureKind::not_found) {
          r.note = "GET /models not supported; model not confirmed";
        } else {
          r.message = e.what();
          reachable = false;
        }
      }
      if (reachable && r.message.empty()) {
        RetryPolicy once;
        once.max_attempts = 1;
        probe(r, [&](const std::vector<Message>& ms, const ChatParams& p) { return backend->chat_on(i, ms, p, once); });
      }
      seen[dedupe] = r;
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace ecpo::llm
