// The agenda user (no LLM): reveals the target's attributes — leaf category, creator, distinctive words
// of its description — in an order set by the persona's interaction type, answers the topic an agent
// asks about first, accepts a recommendation that names the target (title match) and rejects others with
// the next attribute as its reason. EC comes from the heuristic rater. Wording and orders:
// prompts/sim/<domain>/agenda.txt. Deterministic for a task seed.
#include <algorithm>
#include <random>
#include <set>

#include "sim/leak.h"
#include "sim/phrase-book.h"
#include "sim/simulators.h"
#include "sim/title-match.h"
#include "util/text.h"

namespace ecpo::sim {

namespace {

struct Fact {
  std::string kind;   // category | creator | keywords
  std::string value;
  bool revealed = false;
};

class AgendaUser : public UserSimulator {
 public:
  AgendaUser(TaskView task, SimOptions options)
      : task_(std::move(task)), options_(options), pb_(PhraseBook::load("sim", task_.domain, "agenda")),
        rng_(task_.seed ^ 0x61676e6461ULL) {
    type_ = task_.persona ? task_.persona->interaction_type : "efficiency";
    build_facts();
  }

  std::string kind() const override { return "agenda"; }

  UserStep open() override {
    UserStep s;
    s.policy = kPolicyAskForRecommendation;
    s.utterance = pb_.pick("opener", rng_);
    s.reason = "opening request; reveals nothing yet";
    return s;
  }

  UserStep respond(const Dialogue& dialogue, int turn) override {
    UserStep s;
    Dialogue before(dialogue.begin(), dialogue.end() - 1);
    const Utterance& reply = dialogue.back();
    s.ec = rate_ec_heuristic(task_.domain, before, reply);
    if (reply.act == "recommend" && text_names_title(reply.text, task_.target.title, options_.leak_threshold)) {
      s.policy = kPolicyEnd;
      s.end = true;
      s.utterance = fill_phrase(pb_.pick("accept", rng_), {{"title", task_.target.title}});
      s.reason = "the recommendation names the target";
      return s;
    }
    std::vector<std::string> parts;
    std::set<std::string> asked;
    if (reply.act == "recommend") {
      s.policy = kPolicyFeedback;
      parts.push_back(pb_.pick("reject", rng_));
      s.reason = "the recommendation is not the target";
    } else if (reply.act == "ask" || reply.text.find('?') != std::string::npos) {
      s.policy = kPolicyClarify;
      asked = asked_kinds(reply.text);
      s.reason = asked.empty() ? "answers with the next attribute" : "answers the attribute asked about";
    } else {
      s.policy = kPolicyAskForRecommendation;
      s.reason = "no question and no recommendation: asks for one, with the next attribute";
    }
    auto reveal = next_facts(asked);
    for (auto* f : reveal) parts.push_back(fill_phrase(pb_.pick("reveal." + f->kind, rng_), {{"value", f->value}}));
    if (reveal.empty()) parts.push_back(pb_.pick("reveal.none", rng_));
    if (s.policy == kPolicyAskForRecommendation) parts.push_back(pb_.pick("ask_for_recommendation", rng_));
    s.utterance = join(parts, " ");
    // Facts never contain title words, but guard anyway (D3): redact rather than leak.
    s.utterance = guard_leak(s.utterance, task_.target.title, options_.leak_threshold, nullptr,
                             pb_.first("reveal.none"), s.events);
    return s;
  }

  std::optional<EcScore> rate(const Dialogue& dialogue, int turn) override {
    Dialogue before(dialogue.begin(), dialogue.end() - 1);
    return rate_ec_heuristic(task_.domain, before, dialogue.back());
  }

 private:
  void build_facts() {
    const data::Item& t = task_.target;
    std::vector<Fact> cats, creators, keywords;
    std::string cat = main_category(t, pb_.has("generic_categories") ? comma_list(pb_.first("generic_categories"))
                                                                      : std::vector<std::string>{});
    if (!cat.empty()) cats.push_back({"category", cat});
    std::string creator_key = pb_.has("creator_attribute") ? pb_.first("creator_attribute") : "";
    if (!creator_key.empty() && t.attributes.is_object() && t.attributes.contains(creator_key)) {
      const auto& v = t.attributes[creator_key];
      std::string s = v.is_string() ? v.get<std::string>() : v.dump();
      auto cut = s.find_first_of("(,;");
      s = trim(cut == std::string::npos ? s : s.substr(0, cut));
      if (!s.empty() && !text_names_title(s, t.title, options_.leak_threshold)) creators.push_back({"creator", s});
    }
    // Distinctive description words: not in the title or the creator's name, not stop words, rarest first
    // (then by position).
    auto stop = pb_.words("stopwords");
    auto title_words = normalized_words(t.title);
    for (const auto& c : creators)  // the creator is a fact of its own
      for (auto& w : normalized_words(c.value)) title_words.push_back(w);
    std::vector<std::pair<std::size_t, std::string>> ranked;
    std::set<std::string> seen;
    std::size_t pos = 0;
    for (const auto& w : normalized_words(t.description)) {
      ++pos;
      if (w.size() < 4 || !seen.insert(w).second) continue;
      if (std::find(stop.begin(), stop.end(), w) != stop.end()) continue;
      if (std::find(title_words.begin(), title_words.end(), w) != title_words.end()) continue;
      if (std::all_of(w.begin(), w.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
      std::size_t df = task_.catalog ? task_.catalog->document_frequency(w) : 1;
      ranked.push_back({df * 1000 + pos, w});
    }
    std::sort(ranked.begin(), ranked.end());
    const std::size_t per = 2;
    for (std::size_t i = 0; i < ranked.size(); i += per) {
      std::vector<std::string> ws;
      for (std::size_t j = i; j < ranked.size() && j < i + per; ++j) ws.push_back(ranked[j].second);
      keywords.push_back({"keywords", join(ws, " and ")});
    }
    // Order by persona type: "order.<type>: category keywords creator ..." (each name takes the next fact of its kind).
    std::size_t ci = 0, ri = 0, ki = 0;
    for (const auto& k : pb_.words("order." + type_)) {
      if (k == "category" && ci < cats.size()) facts_.push_back(cats[ci++]);
      else if (k == "creator" && ri < creators.size()) facts_.push_back(creators[ri++]);
      else if (k == "keywords" && ki < keywords.size()) facts_.push_back(keywords[ki++]);
    }
    for (; ci < cats.size(); ++ci) facts_.push_back(cats[ci]);
    for (; ri < creators.size(); ++ri) facts_.push_back(creators[ri]);
    for (; ki < keywords.size(); ++ki) facts_.push_back(keywords[ki]);
    per_turn_ = pb_.has("per_turn." + type_) ? std::max(1, std::atoi(pb_.first("per_turn." + type_).c_str())) : 1;
  }

  std::set<std::string> asked_kinds(const std::string& question) const {
    std::set<std::string> out;
    auto w = normalized_words(question);
    std::set<std::string> ws(w.begin(), w.end());
    for (const char* k : {"category", "creator", "keywords"})
      for (const auto& kw : pb_.words(std::string("ask.") + k))
        if (ws.count(kw)) out.insert(k);
    return out;
  }

  // The facts to say now, per_turn_ of them: first those of the kinds asked about (in agenda order;
  // restated when already revealed), then unrevealed ones in agenda order.
  std::vector<Fact*> next_facts(const std::set<std::string>& asked) {
    std::vector<Fact*> out;
    std::vector<std::string> asked_in_order;
    for (const auto& f : facts_)
      if (asked.count(f.kind) && std::find(asked_in_order.begin(), asked_in_order.end(), f.kind) == asked_in_order.end())
        asked_in_order.push_back(f.kind);
    for (const auto& k : asked_in_order) {
      if (static_cast<int>(out.size()) >= per_turn_) break;
      Fact* pick = nullptr;
      for (auto& f : facts_)
        if (f.kind == k && !f.revealed) { pick = &f; break; }
      if (!pick)
        for (auto& f : facts_)
          if (f.kind == k) { pick = &f; break; }
      if (pick && std::find(out.begin(), out.end(), pick) == out.end()) out.push_back(pick);
    }
    for (auto& f : facts_) {
      if (static_cast<int>(out.size()) >= per_turn_) break;
      if (!f.revealed && std::find(out.begin(), out.end(), &f) == out.end()) out.push_back(&f);
    }
    for (auto* f : out) f->revealed = true;
    return out;
  }

  TaskView task_;
  SimOptions options_;
  const PhraseBook& pb_;
  std::mt19937_64 rng_;
  std::string type_;
  std::vector<Fact> facts_;
  int per_turn_ = 1;
};

}  // namespace

std::unique_ptr<UserSimulator> make_agenda_user(TaskView task, SimOptions options) {
  return std::make_unique<AgendaUser>(std::move(task), options);
}

}  // namespace ecpo::sim
