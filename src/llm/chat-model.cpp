// Message JSON conversion and failure names (see chat-model.h).
#include "llm/chat-model.h"

#include "util/error.h"

namespace ecpo::llm {

nlohmann::json to_json(const Message& m) { return {{"role", m.role}, {"content", m.content}}; }

nlohmann::json to_json(const std::vector<Message>& ms) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& m : ms) a.push_back(to_json(m));
  return a;
}

std::vector<Message> messages_from_json(const nlohmann::json& j) {
  if (!j.is_array()) throw Error("messages must be an array of {role, content}", "messages");
  std::vector<Message> out;
  for (const auto& m : j) {
    if (!m.is_object() || !m.contains("role") || !m.contains("content") || !m["role"].is_string() ||
        !m["content"].is_string())
      throw Error("each message needs string fields role and content", "messages");
    out.push_back({m["role"].get<std::string>(), m["content"].get<std::string>()});
  }
  return out;
}

const char* failure_kind_name(FailureKind k) {
  switch (k) {
    case FailureKind::transport: return "transport";
    case FailureKind::timeout: return "timeout";
    case FailureKind::http_status: return "http_status";
    case FailureKind::bad_response: return "bad_response";
    case FailureKind::auth: return "auth";
    case FailureKind::not_found: return "not_found";
    case FailureKind::rate_limited: return "rate_limited";
    case FailureKind::other: return "other";
  }
  return "other";
}

}  // namespace ecpo::llm
