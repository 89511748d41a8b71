// The rule agent (no LLM): asks about preferences on its first turn; afterwards it searches with what the
// user has said (the content words of the user's utterances, newest first, each once) and recommends the best hit it has not recommended
// yet (asks for more when every hit was already tried). AgentOptions::choose (offline tree sampling) may pick
// another of its candidate actions: any ask variant on the first turn, later any hit not recommended yet or
// asking for more. It keeps the ActCRS scratchpad and records, for
// each step, exactly the zero-shot ActCRS messages an LLM agent would have seen in that state and its
// action as grammar text — so its successful turns are SFT rows for a student served as actcrs (D13).
// Wording: prompts/agent/<domain>/rule.txt.
#include <cctype>
#include <set>

#include "agent/actcrs-prompt.h"
#include "agent/agents.h"
#include "sim/phrase-book.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::agent {

namespace {

class RuleAgent : public Agent {
 public:
  explicit RuleAgent(const AgentDeps& deps) : deps_(deps), pb_(sim::PhraseBook::load("agent", deps.domain, "rule")) {
    for (auto& w : sim::normalized_words(pb_.first("stopwords"))) stop_.insert(w);
    prompt_.domain = deps_.domain;
    prompt_.variant = deps_.options.prompt;
    prompt_.description_chars = deps_.options.description_chars;
  }

  std::string kind() const override { return "rule"; }

  AgentTurn act(const sim::Dialogue& dialogue) override {
    pad_.add_user(sim::last_utterance(dialogue, "user"));
    AgentTurn turn;
    const int turn_index = turns_++;
    if (turn_index == 0) {
      std::vector<Action> asks;
      for (const auto& a : pb_.all("ask")) asks.push_back({ActionType::ask, a});
      return emit(turn, asks[pick(turn_index, asks)]);
    }
    // Search with the user's words, newest first (the latest answer matters most).
    std::vector<std::string> said;
    for (auto it = dialogue.rbegin(); it != dialogue.rend(); ++it)
      if (it->speaker == "user") said.push_back(it->text);
    // The content words, each once (by their normalised form, first occurrence), at most 48: the terms BM25 ranks
    // by, without the filler ("I'm in the mood for", "would be great"). Written as the user spelled them (case
    // kept, surrounding punctuation dropped): BM25 normalises them anyway, and a student trained on these turns
    // can then copy the user's tokens as they are instead of re-spelling them in lower case.
    std::vector<std::string> words;
    std::set<std::string> seen;
    for (const auto& tok : split_whitespace(join(said, " "))) {
      if (words.size() >= 48) break;
      const std::string surface = trim_punct(tok);
      bool content = false;
      for (const auto& w : sim::normalized_words(surface)) content = content || (w.size() > 2 && !stop_.count(w));
      if (content && seen.insert(join(sim::normalized_words(surface), " ")).second) words.push_back(surface);
    }
    std::string query = words.empty() ? collapse_whitespace(join(said, " ")) : join(words, " ");
    emit(turn, {ActionType::search, query});
    std::vector<const data::Item*> hits = retrieve_items(deps_, query, turn.steps.back());
    pad_.add_results(hits);
    // Candidates: every hit not recommended yet (best first), then asking for more; the rule takes the first.
    std::vector<Action> cands;
    std::vector<const data::Item*> items;
    for (const auto* it : hits) {
      if (recommended_.count(it->item_id)) continue;
      std::string summary = first_sentence(it->description);
      std::string text = sim::fill_phrase(pb_.first(summary.empty() ? "recommend.bare" : "recommend"),
                                          {{"title", it->title}, {"summary", summary}});
      cands.push_back({ActionType::recommend, text});
      items.push_back(it);
    }
    cands.push_back({ActionType::ask, pb_.first("ask_more")});
    items.push_back(nullptr);
    const std::size_t k = pick(turn_index, cands);
    if (items[k]) recommended_.insert(items[k]->item_id);
    return emit(turn, cands[k]);
  }

 private:
  static std::string first_sentence(const std::string& d) {
    std::string s = collapse_whitespace(d);
    auto p = s.find(". ");
    if (p != std::string::npos) s = s.substr(0, p);
    if (!s.empty() && s.back() == '.') s.pop_back();
    if (s.size() > 140) s = s.substr(0, s.rfind(' ', 140));
    // Brackets would make the Recommend[...] argument unbalanced; a rule never emits an invalid action.
    for (char& c : s) {
      if (c == '[') c = '(';
      if (c == ']') c = ')';
    }
    return s;
  }

  static std::vector<std::string> split_whitespace(const std::string& t) {
    std::vector<std::string> out;
    std::string cur;
    for (char c : t) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (!cur.empty()) out.push_back(std::move(cur)), cur.clear();
      } else {
        cur += c;
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
  }
  // "Fiction." → "Fiction", "(Book" → "Book"; inner punctuation ("plain-spoken", "Samuel's") stays. Brackets never
  // survive (they would unbalance the Search[...] argument).
  static std::string trim_punct(const std::string& w) {
    auto keep = [](unsigned char c) { return std::isalnum(c) || c >= 0x80; };
    std::size_t b = 0, e = w.size();
    while (b < e && !keep(static_cast<unsigned char>(w[b]))) ++b;
    while (e > b && !keep(static_cast<unsigned char>(w[e - 1]))) --e;
    std::string s = w.substr(b, e - b);
    for (char& c : s)
      if (c == '[' || c == ']') c = ' ';
    return s;
  }

  // The candidate to emit: the first, unless options.choose (offline tree sampling) picks another.
  std::size_t pick(int turn_index, const std::vector<Action>& cands) const {
    if (!deps_.options.choose) return 0;
    const std::size_t k = deps_.options.choose(turn_index, cands);
    return k < cands.size() ? k : 0;
  }

  AgentTurn& emit(AgentTurn& turn, Action a) {
    AgentStep step;
    step.kind = "rule";
    step.messages = render_actcrs_messages(pad_, prompt_);
    step.output = format_action(a);
    step.action = a;
    step.valid = parse_action(step.output).has_value();  // false only for a title with unbalanced brackets
    if (!step.valid) parse_action(step.output, &step.parse_error);
    turn.steps.push_back(step);
    pad_.add_action(step.output);
    if (a.type != ActionType::search) {
      turn.reply = a.argument;
      turn.act = action_type_name(a.type);
    }
    return turn;
  }

  AgentDeps deps_;
  const sim::PhraseBook& pb_;
  ActPromptOptions prompt_;
  Scratchpad pad_;
  int turns_ = 0;
  std::set<std::string> recommended_, stop_;
};

}  // namespace

std::unique_ptr<Agent> make_rule_agent(const AgentDeps& deps) { return std::make_unique<RuleAgent>(deps); }

}  // namespace ecpo::agent
