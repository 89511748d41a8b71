// Pair rows and λ subsets (see pairs.h).
#include "ecpo/pairs.h"

#include <algorithm>

#include "util/error.h"
#include "util/jsonl.h"
#include "util/text.h"

namespace ecpo::pref {

using nlohmann::json;

json to_json(const Pair& p) {
  json d = json::array();
  for (const auto& u : p.dialogue) d.push_back({{"speaker", u.speaker}, {"text", u.text}, {"act", u.act}});
  json j{{"pair_id", p.pair_id},
         {"episode_id", p.episode_id},
         {"task_id", p.task_id},
         {"turn", p.turn},
         {"step", p.step},
         {"prompt", {{"messages", llm::to_json(p.prompt)}}},
         {"chosen", p.chosen},
         {"rejected", p.rejected},
         {"score", p.score},
         {"reason", p.reason},
         {"lambda_max", p.lambda_max},
         {"method", p.method},
         {"kind", p.kind},
         {"action_type", p.action_type},
         {"rewriter", p.rewriter},
         {"rewrite_reason", p.rewrite_reason},
         {"edit_ratio", p.edit_ratio},
         {"dialogue", d}};
  if (!p.extra.empty()) j["extra"] = p.extra;
  return j;
}

Pair pair_from_json(const json& j, const std::string& where) {
  auto req = [&](const char* k) -> const json& {
    if (!j.is_object() || !j.contains(k))
      throw Error(std::string("pair row lacks '") + k + "'", where,
                  "pairs files are written by `ecpo rewrite` or `ecpo mtpo --method tree-*`");
    return j[k];
  };
  Pair p;
  try {
    p.pair_id = req("pair_id").get<std::string>();
    p.episode_id = req("episode_id").get<std::string>();
    p.task_id = req("task_id").get<std::string>();
    p.turn = req("turn").get<int>();
    p.step = req("step").get<int>();
    const json& pr = req("prompt");
    if (!pr.is_object() || !pr.contains("messages"))
      throw Error("pair row's prompt is not {messages: [...]}", where, "the prompt holds the agent's messages");
    p.prompt = llm::messages_from_json(pr["messages"]);
    p.chosen = req("chosen").get<std::string>();
    p.rejected = req("rejected").get<std::string>();
    p.score = req("score").get<int>();
    p.reason = req("reason").get<std::string>();
    p.lambda_max = req("lambda_max").get<int>();
  } catch (const json::exception& ex) {
    throw Error(std::string("pair row has a field of the wrong type: ") + ex.what(), where,
                "pairs files are written by `ecpo rewrite`");
  }
  p.method = j.value("method", std::string("ecpo"));
  p.kind = j.value("kind", std::string());
  p.action_type = j.value("action_type", std::string());
  p.rewriter = j.value("rewriter", std::string());
  p.rewrite_reason = j.value("rewrite_reason", std::string());
  p.edit_ratio = j.value("edit_ratio", 0.0);
  if (j.contains("dialogue") && j["dialogue"].is_array())
    for (const auto& u : j["dialogue"])
      p.dialogue.push_back({u.value("speaker", std::string()), u.value("text", std::string()), u.value("act", std::string())});
  if (j.contains("extra") && j["extra"].is_object()) p.extra = j["extra"];
  return p;
}

std::vector<Pair> read_pairs(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw Error("pairs file not found", path.string(), "run `ecpo rewrite --out DIR` first (it writes DIR/pairs.jsonl)");
  std::vector<Pair> out;
  JsonlReader r(path);
  json j;
  while (r.next(j)) out.push_back(pair_from_json(j, r.where()));
  return out;
}

void check_lambda(int l, const std::string& where) {
  if (l < 1 || l > 5)
    throw Error("λ " + std::to_string(l) + " is outside 1–5", where,
                "EC scores are 0–5 and a turn is rewritten when its score < λ: use λ in 1..5 (5 = every imperfect turn)");
}

std::vector<int> parse_lambdas(const std::string& text, const std::string& where) {
  std::vector<int> out;
  for (const auto& part : split(text, ',')) {
    std::string t = trim(part);
    if (t.empty()) continue;
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(t, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != t.size())
      throw Error("λ '" + t + "' is not an integer", where, "give λ values as integers 1..5, e.g. --lambda 1,2,3,4,5");
    check_lambda(v, where);
    out.push_back(v);
  }
  if (out.empty()) throw Error("no λ given", where, "e.g. --lambda 1,2,3,4,5");
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

json pairs_per_lambda(const std::vector<Pair>& pairs, const std::vector<int>& lambdas) {
  json o = json::object();
  for (int l : lambdas) {
    std::size_t n = 0;
    for (const auto& p : pairs)
      if (pair_in_lambda(p.score, l)) n++;
    o[std::to_string(l)] = n;
  }
  return o;
}

}  // namespace ecpo::pref
