// The action grammar: parse, format, stop sequences and the re-appended ']' (see action.h).
#include "agent/action.h"

#include <cctype>

#include "util/text.h"

namespace ecpo::agent {

const char* action_type_name(ActionType t) {
  switch (t) {
    case ActionType::search: return "search";
    case ActionType::ask: return "ask";
    case ActionType::recommend: return "recommend";
    case ActionType::response: return "response";
  }
  return "response";
}

const char* action_type_keyword(ActionType t) {
  switch (t) {
    case ActionType::search: return "Search";
    case ActionType::ask: return "Ask";
    case ActionType::recommend: return "Recommend";
    case ActionType::response: return "Response";
  }
  return "Response";
}

std::optional<ActionType> action_type_from_name(std::string_view name) {
  std::string n = to_lower_ascii(name);
  if (n == "search") return ActionType::search;
  if (n == "ask") return ActionType::ask;
  if (n == "recommend") return ActionType::recommend;
  if (n == "response") return ActionType::response;
  return std::nullopt;
}

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view strip(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Drops a leading "Action <digits>:" (case-insensitive), as the official parse regex allows.
std::string_view drop_action_prefix(std::string_view s) {
  static constexpr std::string_view kw = "action";
  if (s.size() < kw.size() || to_lower_ascii(s.substr(0, kw.size())) != kw) return s;
  std::size_t i = kw.size();
  while (i < s.size() && is_space(s[i])) ++i;
  std::size_t digits = i;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == digits || i >= s.size() || s[i] != ':') return s;
  return strip(s.substr(i + 1));
}

bool fail(std::string* error, const char* why) {
  if (error) *error = why;
  return false;
}

}  // namespace

std::optional<Action> parse_action(std::string_view text, std::string* error) {
  std::string_view s = drop_action_prefix(strip(text));
  std::size_t open = s.find('[');
  if (open == std::string_view::npos) {
    fail(error, "no '[': expected Search[...], Ask[...], Recommend[...] or Response[...]");
    return std::nullopt;
  }
  std::string_view keyword = s.substr(0, open);
  for (char c : keyword)
    if (!std::isalpha(static_cast<unsigned char>(c))) {
      fail(error, "text before the action keyword (the reply must be one action and nothing else)");
      return std::nullopt;
    }
  auto type = action_type_from_name(keyword);
  if (!type) {
    fail(error, keyword.empty() ? "no action keyword before '['" : "unknown action keyword (use Search, Ask, Recommend or Response)");
    return std::nullopt;
  }
  std::size_t close = s.rfind(']');
  if (close == std::string_view::npos || close < open) {
    fail(error, "no closing ']'");
    return std::nullopt;
  }
  if (close + 1 != s.size()) {
    fail(error, "text after the closing ']' (the reply must be one action and nothing else)");
    return std::nullopt;
  }
  std::string_view arg = s.substr(open + 1, close - open - 1);
  int depth = 0;
  for (char c : arg) {
    if (c == '[') ++depth;
    if (c == ']' && --depth < 0) break;
  }
  if (depth != 0) {
    fail(error, "unbalanced brackets in the argument");
    return std::nullopt;
  }
  std::string_view trimmed = strip(arg);
  if (trimmed.empty()) {
    fail(error, "empty argument");
    return std::nullopt;
  }
  return Action{*type, std::string(trimmed)};
}

std::string format_action(const Action& a) {
  std::string s = action_type_keyword(a.type);
  s += '[';
  s += a.argument;
  s += ']';
  return s;
}

const std::vector<std::string>& action_stop_sequences() {
  static const std::vector<std::string> stops = {"]\n"};
  return stops;
}

std::string complete_action_text(std::string_view generated, std::string_view finish_reason) {
  std::string s(strip(generated));
  if (finish_reason != "stop") return s;
  long depth = 0;
  for (char c : s) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
  }
  if (depth > 0) s += ']';
  return s;
}

}  // namespace ecpo::agent
