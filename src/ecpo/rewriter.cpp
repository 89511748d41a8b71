// The LLM and heuristic rewriters (see rewriter.h).
#include "ecpo/rewriter.h"

#include <algorithm>
#include <set>

#include "llm/call-context.h"
#include "llm/structured-output.h"
#include "sim/phrase-book.h"
#include "sim/prompt-template.h"
#include "sim/title-match.h"
#include "util/error.h"
#include "util/text.h"

namespace ecpo::pref {

using nlohmann::json;

const json& rewriter_schema() {
  static const json s = {{"type", "object"},
                         {"properties", {{"reason", {{"type", "string"}}}, {"refinement", {{"type", "string"}, {"minLength", 1}}}}},
                         {"required", {"reason", "refinement"}},
                         {"additionalProperties", false}};
  return s;
}

Deductions ec_deductions(const sim::EcScore& ec) {
  Deductions d;
  if (ec.consistent && ec.flexibility + ec.coherence + ec.guidance == ec.score) {
    d.flexibility = std::clamp(2 - ec.flexibility, 0, 2);
    d.coherence = std::clamp(2 - ec.coherence, 0, 2);
    d.guidance = std::clamp(1 - ec.guidance, 0, 1);
    return d;
  }
  const std::string r = to_lower_ascii(ec.reason);
  auto has = [&](const char* w) { return r.find(w) != std::string::npos; };
  if (has("flexib") || has("rigid") || has("repeat") || has("again") || has("adapt")) d.flexibility = 1;
  if (has("coheren") || has("context") || has("off-topic") || has("does not pick up") || has("disjoint")) d.coherence = 1;
  if (has("guidance") || has("guide") || has("follow-up") || has("forward") || has("clarif")) d.guidance = 1;
  if (d.flexibility + d.coherence + d.guidance == 0 && ec.score < 5) d.guidance = 1;
  return d;
}

std::vector<llm::Message> rewriter_messages(const Candidate& c, const std::string& domain) {
  std::vector<llm::Message> m;
  m.push_back({"system", sim::domain_prompt("ecpo", domain, "rewriter-system")});
  sim::TemplateVars v{{"state", candidate_state_text(c, domain)},
                      {"original", candidate_action_text(c)},
                      {"score", std::to_string(c.ec.score)},
                      {"feedback", c.ec.reason.empty() ? std::string("(no reason given)") : c.ec.reason}};
  if (c.action) {
    v["action_type"] = agent::action_type_keyword(c.action->type);
    m.push_back({"user", sim::render_domain_prompt("ecpo", domain, "rewriter", v)});
  } else {
    m.push_back({"user", sim::render_domain_prompt("ecpo", domain, "rewriter-reply", v)});
  }
  return m;
}

namespace {

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char ch : s) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  return h;
}

class LlmRewriter : public Rewriter {
 public:
  LlmRewriter(std::shared_ptr<llm::ChatModel> model, llm::ChatParams params, std::string domain)
      : model_(std::move(model)), params_(std::move(params)), domain_(std::move(domain)) {
    params_.json_schema = rewriter_schema();
    params_.schema_name = "rewrite";
  }
  RewriteOutcome rewrite(const Candidate& c) override {
    RewriteOutcome out;
    llm::ChatParams p = params_;
    if (!p.seed) p.seed = fnv1a(c.pair_id) & 0x7fffffffULL;
    llm::CallContextScope scope({c.episode_id, c.turn, c.pair_id, false});
    try {
      llm::JsonReply r = llm::chat_json(*model_, rewriter_messages(c, domain_), p);
      out.produced = true;
      out.refinement = r.value["refinement"].get<std::string>();
      out.thinking = r.value["reason"].get<std::string>();
    } catch (const std::exception& ex) {
      out.error = ex.what();
    }
    return out;
  }
  std::string label() const override { return "llm:" + model_->model_name(); }
  bool heuristic() const override { return false; }

 private:
  std::shared_ptr<llm::ChatModel> model_;
  llm::ChatParams params_;
  std::string domain_;
};

// The last sentence of `s` that holds a word longer than three letters, without its final punctuation,
// first letter lower-cased, at most 14 words.
std::string constraint_of(const std::string& s) {
  std::vector<std::string> sentences;
  std::string cur;
  for (char ch : s) {
    cur += ch;
    if (ch == '.' || ch == '!' || ch == '?') {
      sentences.push_back(trim(cur));
      cur.clear();
    }
  }
  if (!trim(cur).empty()) sentences.push_back(trim(cur));
  for (auto it = sentences.rbegin(); it != sentences.rend(); ++it) {
    std::vector<std::string> w = split(collapse_whitespace(*it), ' ');
    bool content = std::any_of(w.begin(), w.end(), [](const std::string& x) { return x.size() > 4; });
    if (!content || it->back() == '?') continue;
    if (w.size() > 14) w.resize(14);
    std::string out = join(w, " ");
    while (!out.empty() && (out.back() == '.' || out.back() == '!' || out.back() == ',')) out.pop_back();
    // Lower-case the first letter unless the first word is "I", "I'm", … or an acronym.
    const bool keep_case = out.size() > 1 && (out[1] == ' ' || out[1] == '\'' || (out[1] >= 'A' && out[1] <= 'Z'));
    if (!out.empty() && out[0] >= 'A' && out[0] <= 'Z' && !keep_case) out[0] = static_cast<char>(out[0] - 'A' + 'a');
    // Brackets would unbalance the action; quotes would read as a title.
    for (char& ch : out)
      if (ch == '[' || ch == ']' || ch == '"') ch = ' ';
    return collapse_whitespace(out);
  }
  return {};
}

class HeuristicRewriter : public Rewriter {
 public:
  HeuristicRewriter(std::string domain, const sim::ItemCatalog* catalog)
      : domain_(std::move(domain)), catalog_(catalog), pb_(sim::PhraseBook::load("ecpo", domain_, "rewriter-heuristic")) {
    for (const auto& w : pb_.words("stopwords")) stop_.insert(w);
  }

  RewriteOutcome rewrite(const Candidate& c) override {
    RewriteOutcome out;
    const Deductions d = ec_deductions(c.ec);
    std::vector<std::string> did;
    std::string text;
    if (c.action && c.action->type == agent::ActionType::search) {
      text = "Search[" + narrow_query(c) + "]";
      did.push_back("narrowed the search to the user's latest constraints (coherence)");
    } else {
      std::string arg = c.action ? c.action->argument : c.original;
      const std::string last_user = sim::last_utterance(c.dialogue, "user");
      bool edited = false;
      if (d.coherence > 0) {
        std::string con = constraint_of(last_user);
        if (!con.empty()) {
          arg = sim::fill_phrase(pb_.first("restate"), {{"constraint", con}}) + " " + arg;
          did.push_back("restated the user's constraint (coherence)");
          edited = true;
        }
      }
      const bool asks = c.action && c.action->type == agent::ActionType::ask;
      const bool recommends = c.action && c.action->type == agent::ActionType::recommend;
      if (d.flexibility > 0 || (d.guidance > 0 && arg.find('?') != std::string::npos)) {
        std::vector<std::string> titles = recommends ? other_titles(c) : std::vector<std::string>{};
        if (titles.size() == 2) {
          arg += " " + sim::fill_phrase(pb_.first("name_titles"),
                                        {{"titles", titles[0] + " " + pb_.first("and") + " " + titles[1]}});
          did.push_back("named two more retrieved titles (flexibility)");
        } else {
          arg += " " + sim::fill_phrase(pb_.first(asks ? "ask_options" : "name_options"), {{"options", options(c)}});
          did.push_back("named concrete options (flexibility)");
        }
        edited = true;
      }
      if (d.guidance > 0 && arg.find('?') == std::string::npos) {
        arg += " " + pb_.first("add_question");
        did.push_back("added a clarifying question (guidance)");
        edited = true;
      }
      if (!edited) {
        if (asks) {
          arg += " " + sim::fill_phrase(pb_.first("ask_options"), {{"options", options(c)}});
          did.push_back("named concrete options");
        } else {
          arg += " " + pb_.first("add_question");
          did.push_back("added a clarifying question");
        }
      }
      text = c.action ? std::string(agent::action_type_keyword(c.action->type)) + "[" + arg + "]" : arg;
    }
    out.produced = true;
    out.refinement = text;
    out.thinking = "heuristic: " + join(did, "; ");
    return out;
  }
  std::string label() const override { return "heuristic"; }
  bool heuristic() const override { return true; }

 private:
  bool content_word(const std::string& w) const {
    std::string low;
    for (char ch : to_lower_ascii(w))
      if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '\'' || (ch & 0x80)) low += ch;
    return low.size() > 3 && !stop_.count(low);
  }

  // A limited edit of a Search: the sentences of its keywords that hold no content word ("Thanks, but that
  // isn't the one.") and repeated sentences are dropped, so the query keeps the user's constraints; a
  // keyword query without such sentences keeps the words of the user's two latest messages.
  std::string narrow_query(const Candidate& c) const {
    std::vector<std::string> kept;
    std::set<std::string> seen;
    std::string cur;
    auto flush = [&] {
      std::string t = trim(cur);
      cur.clear();
      if (t.empty()) return;
      std::vector<std::string> w = split(collapse_whitespace(t), ' ');
      if (!std::any_of(w.begin(), w.end(), [&](const std::string& x) { return content_word(x); })) return;
      if (!seen.insert(to_lower_ascii(t)).second) return;
      kept.push_back(t);
    };
    for (char ch : c.action->argument) {
      cur += ch;
      if (ch == '.' || ch == '!' || ch == '?') flush();
    }
    flush();
    std::string narrowed = kept.empty() ? c.action->argument : join(kept, " ");
    if (collapse_whitespace(narrowed) != collapse_whitespace(c.action->argument)) return narrowed;
    // A keyword query (no filler sentences): keep the words of the user's two latest messages.
    std::set<std::string> recent;
    int n = 0;
    for (auto it = c.dialogue.rbegin(); it != c.dialogue.rend() && n < 2; ++it)
      if (it->speaker == "user") {
        for (auto& w : sim::normalized_words(it->text)) recent.insert(w);
        n++;
      }
    std::vector<std::string> focus;
    for (const auto& w : split(collapse_whitespace(c.action->argument), ' '))
      if (recent.count(normalize_title(w))) focus.push_back(w);
    return focus.empty() ? c.action->argument : join(focus, " ");
  }

  // Up to two retrieved titles the dialogue has not named yet (this turn's results first), quoted.
  std::vector<std::string> other_titles(const Candidate& c) const {
    std::vector<std::string> out;
    std::set<std::string> seen;
    std::string said;
    for (const auto& u : c.dialogue) said += u.text + "\n";
    said += c.action ? c.action->argument : c.original;
    auto add_from = [&](const std::vector<std::string>& ids) {
      for (const auto& id : ids) {
        const data::Item* it = catalog_ ? catalog_->find(id) : nullptr;
        if (!it || out.size() == 2 || !seen.insert(id).second) continue;
        if (it->title.find_first_of("[]\"") != std::string::npos) continue;
        if (sim::text_names_title(said, it->title)) continue;
        out.push_back("\"" + it->title + "\"");
      }
    };
    add_from(c.retrieved);
    add_from(c.earlier_retrieved);
    return out;
  }

  // Up to three distinct category leaves of the items retrieved so far (this turn first), else the fallback.
  std::string options(const Candidate& c) const {
    std::vector<std::string> opts;
    std::set<std::string> seen;
    auto add_from = [&](const std::vector<std::string>& ids) {
      for (const auto& id : ids) {
        const data::Item* it = catalog_ ? catalog_->find(id) : nullptr;
        if (!it || it->categories.empty()) continue;
        std::string leaf = it->categories.back();
        for (char& ch : leaf)
          if (ch == '[' || ch == ']' || ch == '"') ch = ' ';
        leaf = collapse_whitespace(leaf);
        if (leaf.empty() || !seen.insert(to_lower_ascii(leaf)).second) continue;
        opts.push_back(to_lower_ascii(leaf));
        if (opts.size() == 3) return;
      }
    };
    add_from(c.retrieved);
    if (opts.size() < 3) add_from(c.earlier_retrieved);
    if (opts.size() < 2) return pb_.first("options_fallback");
    std::string last = opts.back();
    opts.pop_back();
    return join(opts, ", ") + " " + pb_.first("or") + " " + last;
  }

  std::string domain_;
  const sim::ItemCatalog* catalog_;
  const sim::PhraseBook& pb_;
  std::set<std::string> stop_;
};

}  // namespace

std::unique_ptr<Rewriter> make_llm_rewriter(std::shared_ptr<llm::ChatModel> model, llm::ChatParams params,
                                            std::string domain) {
  if (!model) throw Error("the LLM rewriter needs a model", "roles.rewriter", "add a rewriter role or pass --offline");
  return std::make_unique<LlmRewriter>(std::move(model), std::move(params), std::move(domain));
}

std::unique_ptr<Rewriter> make_heuristic_rewriter(std::string domain, const sim::ItemCatalog* catalog) {
  return std::make_unique<HeuristicRewriter>(std::move(domain), catalog);
}

}  // namespace ecpo::pref
