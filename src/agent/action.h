// The agent action grammar (docs/protocol.md §6 [D]): exactly one of Search[...], Ask[...], Recommend[...],
// Response[...], optionally prefixed "Action n:". The argument runs from the first '[' to the LAST ']' of the
// text, must be non-empty after trimming and may contain balanced brackets ("Recommend[Dune [Book 1]]").
// Used by every grammar agent, the ECPO rewriter's validity check and the trainer's invalid-action metric.
// Not here: how an agent decides, or what a Search returns.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ecpo::agent {

enum class ActionType { search, ask, recommend, response };

struct Action {
  ActionType type = ActionType::response;
  std::string argument;
  bool operator==(const Action&) const = default;
};

// "search" | "ask" | "recommend" | "response" (the lower-case names stored in trajectories).
const char* action_type_name(ActionType t);
// "Search" | "Ask" | "Recommend" | "Response" (as written in the grammar).
const char* action_type_keyword(ActionType t);
// Case-insensitive: "Search", "search", "SEARCH" → search. nullopt for anything else.
std::optional<ActionType> action_type_from_name(std::string_view name);

// Whether the action's argument is shown to the user (Ask, Recommend, Response) rather than to the retriever.
inline bool action_reaches_user(ActionType t) { return t != ActionType::search; }

// Parses `text` as exactly one action. Leading/trailing whitespace and an "Action <n>:" prefix are ignored;
// the keyword is case-insensitive; the argument may span lines. On failure returns nullopt and, when
// `error` is given, says why (no keyword, unknown keyword, no closing ']', text after the last ']',
// empty argument, unbalanced brackets).
std::optional<Action> parse_action(std::string_view text, std::string* error = nullptr);

// "Recommend[The Hobbit]": the canonical text of an action (keyword, '[', argument, ']').
std::string format_action(const Action& a);

// The stop sequences an action generation uses: "]\n" — generation ends on a ']' that closes a line (or
// at EOS), never on a ']' inside a title (defect D14).
const std::vector<std::string>& action_stop_sequences();

// Restores the text of a generated action: a server drops the matched stop sequence "]\n", so a reply that
// stopped there lacks its closing ']'. It is re-appended when the reply ended on a stop (finish_reason
// "stop") and its brackets are unbalanced (more '[' than ']'); a reply that ended at EOS is kept as it is.
std::string complete_action_text(std::string_view generated, std::string_view finish_reason);

}  // namespace ecpo::agent
