// The LLM and heuristic judges (see judge.h).
#include "eval/judge.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "llm/call-context.h"
#include "llm/structured-output.h"
#include "sim/catalog.h"
#include "sim/ec.h"
#include "sim/prompt-template.h"
#include "util/error.h"

namespace ecpo::eval {

using nlohmann::json;

const std::vector<std::string>& wr_criteria() {
  static const std::vector<std::string> v = {"flexibility", "coherence", "guidance", "overall"};
  return v;
}
const std::vector<std::string>& pair_criteria() {
  static const std::vector<std::string> v = {"better", "information_fidelity", "coherence"};
  return v;
}

namespace {
json schema_for(const std::vector<std::string>& criteria) {
  json props = {{"reason", {{"type", "string"}}}};
  json req = json::array({"reason"});
  for (const auto& c : criteria) {
    props[c] = {{"type", "string"}, {"enum", {"1", "2", "tie"}}};
    req.push_back(c);
  }
  return {{"type", "object"}, {"properties", props}, {"required", req}, {"additionalProperties", false}};
}
}  // namespace

const json& judge_schema() {
  static const json s = schema_for(wr_criteria());
  return s;
}
const json& judge_pair_schema() {
  static const json s = schema_for(pair_criteria());
  return s;
}

std::vector<llm::Message> judge_messages(const std::string& domain, const sim::Dialogue& a, const sim::Dialogue& b) {
  return {{"system", sim::domain_prompt("eval", domain, "judge-system")},
          {"user", sim::render_domain_prompt("eval", domain, "judge",
                                             {{"dialogue_1", sim::render_dialogue(a)}, {"dialogue_2", sim::render_dialogue(b)}})}};
}

std::vector<llm::Message> judge_pair_messages(const std::string& domain, const StepView& v) {
  return {{"system", sim::domain_prompt("eval", domain, "judge-system")},
          {"user", sim::render_domain_prompt("eval", domain, "judge-pair",
                                             {{"dialogue", sim::render_dialogue(v.dialogue)},
                                              {"state", v.state.empty() ? std::string("(not recorded)") : v.state},
                                              {"response_1", v.first},
                                              {"response_2", v.second}})}};
}

namespace {

class LlmJudge : public Judge {
 public:
  LlmJudge(std::shared_ptr<llm::ChatModel> m, llm::ChatParams p, std::string domain)
      : model_(std::move(m)), params_(std::move(p)), domain_(std::move(domain)) {}

  std::optional<Comparison> compare_dialogues(const sim::Dialogue& a, const sim::Dialogue& b, const JudgeCall& call,
                                              std::string* error) override {
    return ask(judge_messages(domain_, a, b), judge_schema(), "judgement", wr_criteria(), call, error);
  }
  std::optional<Comparison> compare_steps(const StepView& v, const JudgeCall& call, std::string* error) override {
    return ask(judge_pair_messages(domain_, v), judge_pair_schema(), "pair_judgement", pair_criteria(), call, error);
  }
  std::string label() const override { return "llm:" + model_->model_name(); }
  bool heuristic() const override { return false; }

 private:
  std::optional<Comparison> ask(const std::vector<llm::Message>& msgs, const json& schema, const char* name,
                                const std::vector<std::string>& criteria, const JudgeCall& call, std::string* error) {
    llm::ChatParams p = params_;
    p.json_schema = schema;
    p.schema_name = name;
    if (call.attempt > 0) p.seed = static_cast<std::uint64_t>(call.attempt);  // a retry is a new request
    llm::CallContextScope scope({"", -1, call.id, false});
    try {
      llm::JsonReply r = llm::chat_json(*model_, msgs, p);
      Comparison c;
      for (const auto& k : criteria) c.pick[k] = r.value[k].get<std::string>();
      c.reason = r.value["reason"].get<std::string>();
      return c;
    } catch (const std::exception& ex) {
      if (error) *error = ex.what();
      return std::nullopt;
    }
  }
  std::shared_ptr<llm::ChatModel> model_;
  llm::ChatParams params_;
  std::string domain_;
};

std::string pick_of(double first, double second, double eps) {
  if (first > second + eps) return "1";
  if (second > first + eps) return "2";
  return "tie";
}

std::vector<std::string> content_words(const std::string& text) {
  std::vector<std::string> out;
  for (auto& w : sim::normalized_words(text))
    if (w.size() > 3) out.push_back(w);
  return out;
}

class HeuristicJudge : public Judge {
 public:
  explicit HeuristicJudge(std::string domain) : domain_(std::move(domain)) {}

  std::optional<Comparison> compare_dialogues(const sim::Dialogue& a, const sim::Dialogue& b, const JudgeCall&,
                                              std::string*) override {
    Means ma = means(a), mb = means(b);
    Comparison c;
    c.pick["flexibility"] = pick_of(ma.f, mb.f, 0.05);
    c.pick["coherence"] = pick_of(ma.c, mb.c, 0.05);
    c.pick["guidance"] = pick_of(ma.g, mb.g, 0.05);
    c.pick["overall"] = pick_of(ma.f + ma.c + ma.g, mb.f + mb.c + mb.g, 0.05);
    char buf[200];
    std::snprintf(buf, sizeof buf, "heuristic: mean EC points (flexibility/coherence/guidance) %.2f/%.2f/%.2f vs %.2f/%.2f/%.2f",
                  ma.f, ma.c, ma.g, mb.f, mb.c, mb.g);
    c.reason = buf;
    return c;
  }

  std::optional<Comparison> compare_steps(const StepView& v, const JudgeCall&, std::string*) override {
    Comparison c;
    const bool user_facing = v.first_act != "search" && v.second_act != "search";
    double s1 = 0, s2 = 0;
    if (user_facing) {
      s1 = sim::rate_ec_heuristic(domain_, v.dialogue, {"assistant", v.first, v.first_act}).score;
      s2 = sim::rate_ec_heuristic(domain_, v.dialogue, {"assistant", v.second, v.second_act}).score;
    }
    // Fidelity: the share of a response's content words found in the log or the conversation.
    std::set<std::string> known;
    for (auto& w : content_words(v.state)) known.insert(w);
    for (const auto& u : v.dialogue)
      for (auto& w : content_words(u.text)) known.insert(w);
    auto support = [&](const std::string& r) {
      auto w = content_words(r);
      if (w.empty()) return 1.0;
      std::size_t k = 0;
      for (const auto& x : w) k += known.count(x);
      return static_cast<double>(k) / static_cast<double>(w.size());
    };
    // Coherence: words shared with the user's last message.
    std::set<std::string> last;
    for (auto& w : content_words(sim::last_utterance(v.dialogue, "user"))) last.insert(w);
    auto overlap = [&](const std::string& r) {
      std::set<std::string> seen;
      for (auto& w : content_words(r))
        if (last.count(w)) seen.insert(w);
      return static_cast<double>(seen.size());
    };
    const double f1 = support(v.first), f2 = support(v.second), o1 = overlap(v.first), o2 = overlap(v.second);
    c.pick["better"] = pick_of(s1, s2, 0.5);
    c.pick["information_fidelity"] = pick_of(f1, f2, 0.02);
    c.pick["coherence"] = pick_of(o1, o2, 0.5);
    char buf[200];
    std::snprintf(buf, sizeof buf, "heuristic: EC %.0f vs %.0f, supported words %.2f vs %.2f, shared with the user %.0f vs %.0f",
                  s1, s2, f1, f2, o1, o2);
    c.reason = buf;
    return c;
  }
  std::string label() const override { return "heuristic"; }
  bool heuristic() const override { return true; }

 private:
  struct Means {
    double f = 0, c = 0, g = 0;
  };
  Means means(const sim::Dialogue& d) const {
    Means m;
    std::size_t n = 0;
    sim::Dialogue before;
    for (const auto& u : d) {
      if (u.speaker == "assistant") {
        sim::EcScore e = sim::rate_ec_heuristic(domain_, before, u);
        m.f += e.flexibility;
        m.c += e.coherence;
        m.g += e.guidance;
        n++;
      }
      before.push_back(u);
    }
    if (n) {
      m.f /= static_cast<double>(n);
      m.c /= static_cast<double>(n);
      m.g /= static_cast<double>(n);
    }
    return m;
  }
  std::string domain_;
};

}  // namespace

std::unique_ptr<Judge> make_llm_judge(std::shared_ptr<llm::ChatModel> model, llm::ChatParams params, std::string domain) {
  if (!model) throw Error("the LLM judge needs a model", "roles.judge", "add a judge role or pass --offline");
  return std::make_unique<LlmJudge>(std::move(model), std::move(params), std::move(domain));
}

std::unique_ptr<Judge> make_heuristic_judge(std::string domain) { return std::make_unique<HeuristicJudge>(std::move(domain)); }

}  // namespace ecpo::eval
