// The dialogue as both sides see it: an ordered list of utterances (user / assistant) with the kind of act
// each agent utterance was (ask, recommend, response, chat), and how it is rendered into prompts.
// Shared by user simulators and agents; it carries no agent internals (scratchpads, searches) and no
// simulator internals (policies, ratings).
#pragma once
#include <string>
#include <vector>

namespace ecpo::sim {

struct Utterance {
  std::string speaker;  // "user" | "assistant"
  std::string text;
  std::string act;      // agent utterances: "ask" | "recommend" | "response" | "chat" | "error"; user: policy
};

using Dialogue = std::vector<Utterance>;

// "User: ...\nAssistant: ..." lines (labels configurable); "(no conversation yet)" when empty.
std::string render_dialogue(const Dialogue& d, const std::string& user_label = "User",
                            const std::string& agent_label = "Assistant");

// The last utterance of `speaker`, or "" when there is none.
std::string last_utterance(const Dialogue& d, const std::string& speaker);

}  // namespace ecpo::sim
