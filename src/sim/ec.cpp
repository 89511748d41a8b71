// EC records, the LLM EC rater and the heuristic rater (see ec.h).
#include "sim/ec.h"

#include <algorithm>
#include <set>

#include "llm/structured-output.h"
#include "sim/catalog.h"
#include "sim/phrase-book.h"
#include "sim/prompt-template.h"
#include "sim/title-match.h"
#include "util/error.h"
#include "util/log.h"
#include "util/text.h"

namespace ecpo::sim {

using nlohmann::json;

json to_json(const EcScore& e) {
  auto part = [](int v) { return v < 0 ? json(nullptr) : json(v); };  // a person may give only the score
  json j{{"flexibility", part(e.flexibility)}, {"coherence", part(e.coherence)}, {"guidance", part(e.guidance)},
         {"score", e.score},                    {"reason", e.reason},             {"rater", e.rater},
         {"consistent", e.consistent}};
  if (!e.extra.empty()) j["extra"] = e.extra;
  return j;
}

EcScore ec_from_json(const json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("score") || !j["score"].is_number_integer())
    throw Error("EC record lacks an integer 'score'", where);
  EcScore e;
  auto part = [&](const char* k) { return j.contains(k) && j[k].is_number_integer() ? j[k].get<int>() : -1; };
  e.flexibility = part("flexibility");
  e.coherence = part("coherence");
  e.guidance = part("guidance");
  e.score = j["score"].get<int>();
  e.reason = j.value("reason", std::string());
  e.rater = j.value("rater", std::string("llm"));
  e.consistent = j.value("consistent", true);
  if (j.contains("extra")) e.extra = j["extra"];
  return e;
}

const json& ec_schema() {
  static const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "reason": {"type": "string", "minLength": 1},
      "flexibility": {"type": "integer", "minimum": 0, "maximum": 2},
      "coherence": {"type": "integer", "minimum": 0, "maximum": 2},
      "guidance": {"type": "integer", "minimum": 0, "maximum": 1},
      "score": {"type": "integer", "minimum": 0, "maximum": 5}
    },
    "required": ["reason", "flexibility", "coherence", "guidance", "score"],
    "additionalProperties": false
  })");
  return schema;
}

EcScore ec_from_reply(const json& reply, const std::string& rater) {
  EcScore e;
  e.flexibility = reply.at("flexibility").get<int>();
  e.coherence = reply.at("coherence").get<int>();
  e.guidance = reply.at("guidance").get<int>();
  e.score = reply.at("score").get<int>();
  e.reason = reply.at("reason").get<std::string>();
  e.rater = rater;
  int parts = e.flexibility + e.coherence + e.guidance;
  e.consistent = parts == e.score;
  if (!e.consistent)
    spdlog::warn("EC rater: score {} != 5 - deductions = {} (flexibility {}, coherence {}, guidance {}); keeping {}",
                 e.score, parts, e.flexibility, e.coherence, e.guidance, e.score);
  return e;
}

std::string ec_prompt(const std::string& domain, const Dialogue& before, const Utterance& reply) {
  return render_domain_prompt("sim", domain, "ec-rater",
                              {{"history", render_dialogue(before)}, {"reply", reply.text}});
}

EcScore rate_ec_llm(llm::ChatModel& model, const llm::ChatParams& params, const std::string& domain,
                    const Dialogue& before, const Utterance& reply) {
  llm::ChatParams p = params;
  p.json_schema = ec_schema();
  p.schema_name = "expectation_confirmation";
  auto r = llm::chat_json(model, {{"user", ec_prompt(domain, before, reply)}}, p);
  return ec_from_reply(r.value, "llm");
}

namespace {

std::set<std::string> content_words(const std::string& text, const std::vector<std::string>& stop) {
  std::set<std::string> out;
  for (auto& w : normalized_words(text))
    if (w.size() >= 4 && std::find(stop.begin(), stop.end(), w) == stop.end()) out.insert(w);
  return out;
}

// The topic kinds (phrase keys "kind.<name>") a question mentions.
std::set<std::string> question_kinds(const PhraseBook& pb, const std::string& text,
                                     const std::vector<std::string>& kinds) {
  std::set<std::string> out;
  auto w = normalized_words(text);
  std::set<std::string> ws(w.begin(), w.end());
  for (const auto& k : kinds)
    for (const auto& kw : pb.words("kind." + k))
      if (ws.count(kw)) out.insert(k);
  return out;
}

}  // namespace

EcScore rate_ec_heuristic(const std::string& domain, const Dialogue& before, const Utterance& reply) {
  const PhraseBook& pb = PhraseBook::load("sim", domain, "ec-heuristic");
  EcScore e;
  e.rater = "heuristic";
  e.flexibility = 2;
  e.coherence = 2;
  e.guidance = 1;
  std::vector<std::string> issues;
  if (reply.act == "error") {
    e.flexibility = e.coherence = e.guidance = e.score = 0;
    e.reason = pb.first("reason.error");
    return e;
  }
  auto stop = pb.words("stopwords");
  auto kinds = pb.words("kinds");
  const bool question = reply.text.find('?') != std::string::npos;
  const bool recommends = reply.act == "recommend";
  // Flexibility: repeating itself.
  std::string norm = normalize_title(reply.text);
  bool repeated = false;
  for (const auto& u : before)
    if (u.speaker == "assistant" && indel_ratio(normalize_title(u.text), norm) >= 0.9) repeated = true;
  if (repeated) {
    e.flexibility = 0;
    issues.push_back(pb.first("reason.repeat"));
  }
  // Asking again about a topic already asked and answered.
  if (!repeated && question && !recommends) {
    auto now = question_kinds(pb, reply.text, kinds);
    std::set<std::string> answered;
    for (std::size_t i = 0; i + 1 < before.size(); ++i)
      if (before[i].speaker == "assistant" && before[i + 1].speaker == "user")
        for (const auto& k : question_kinds(pb, before[i].text, kinds)) answered.insert(k);
    for (const auto& k : now)
      if (answered.count(k)) {
        e.flexibility = std::max(0, e.flexibility - 1);
        e.coherence = std::max(0, e.coherence - 1);
        issues.push_back(fill_phrase(pb.first("reason.reask"), {{"topic", k}}));
        break;
      }
  }
  // Coherence: ignoring what the user just said.
  std::string last_user = last_utterance(before, "user");
  if (!recommends && !last_user.empty()) {
    auto a = content_words(last_user, stop), b = content_words(reply.text, stop);
    bool shared = false;
    for (const auto& w : a)
      if (b.count(w)) shared = true;
    if (!shared && !a.empty()) {
      e.coherence = std::max(0, e.coherence - 1);
      issues.push_back(pb.first("reason.ignore"));
    }
  }
  // Guidance: no question and no recommendation.
  if (!question && !recommends) {
    e.guidance = 0;
    issues.push_back(pb.first("reason.no_guidance"));
  }
  e.score = e.flexibility + e.coherence + e.guidance;
  e.reason = issues.empty() ? pb.first("reason.ok") : join(issues, " ");
  return e;
}

}  // namespace ecpo::sim
