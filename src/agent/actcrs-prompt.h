// The ActCRS prompt (protocol §6): a per-domain instruction describing the four actions, then a scratchpad
// of numbered "Observation n:" / "Action n:" lines (every observation labelled: user turns, search results,
// system notes — D5), ending with the "Action n:" the model completes. Variants: zero-shot (the SGPT and
// fine-tuned agent's prompt), few-shot (+ one domain example) and compact (short instruction, older search
// results reduced to titles: fits a 1–2k-token student). The rule agent records exactly these messages, so
// SFT rows and a student's serving prompt are byte-identical (protocol §9, D13).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "data/types.h"
#include "llm/chat-model.h"

namespace ecpo::agent {

class Scratchpad {
 public:
  enum class Kind { user, results, note, thought, action };
  struct Entry {
    Kind kind;
    std::string text;                       // user / note / thought / action text
    std::vector<const data::Item*> items;   // results: the retrieved items, in rank order
  };

  void add_user(const std::string& utterance) { entries_.push_back({Kind::user, utterance, {}}); }
  void add_results(std::vector<const data::Item*> items) { entries_.push_back({Kind::results, {}, std::move(items)}); }
  void add_note(const std::string& note) { entries_.push_back({Kind::note, note, {}}); }
  void add_thought(const std::string& thought) { entries_.push_back({Kind::thought, thought, {}}); }
  void add_action(const std::string& action_text) { entries_.push_back({Kind::action, action_text, {}}); }
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

struct ActPromptOptions {
  std::string domain = "book";
  std::string variant = "zero-shot";    // zero-shot | few-shot | compact
  std::size_t description_chars = 240;  // item description cut (compact: min(this, 120))
  bool react = false;                   // ReAct: Thought lines, the prompt ends with "Thought n:"
};

// Observation and action numbering: every observation (user turn, results, note) takes the next n; an action
// or thought takes the n of the observation before it. Renders the lines and the trailing "Action n:" (or
// "Thought n:" for ReAct).
std::string render_scratchpad(const Scratchpad& pad, const ActPromptOptions& options);

// [system: prompts/agent/<domain>/actcrs-system.txt, user: actcrs-<variant>.txt with {{scratchpad}}].
// ReAct: react-system.txt and react-<variant>.txt. Throws ecpo::Error for an unknown variant or domain.
std::vector<llm::Message> render_actcrs_messages(const Scratchpad& pad, const ActPromptOptions& options);

// "zero-shot", "few-shot", "compact".
const std::vector<std::string>& actcrs_prompt_variants();

}  // namespace ecpo::agent
