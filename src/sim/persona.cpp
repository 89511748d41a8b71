// Persona records, the offline rule builder and the persona LLM role (see persona.h).
#include "sim/persona.h"

#include <algorithm>
#include <cmath>

#include "llm/structured-output.h"
#include "sim/phrase-book.h"
#include "sim/prompt-template.h"
#include "util/error.h"
#include "util/jsonl.h"
#include "util/text.h"

namespace ecpo::sim {

using nlohmann::json;

json to_json(const Persona& p) {
  return json{{"user_id", p.user_id},
              {"activities", p.activities},
              {"interests", p.interests},
              {"language",
               {{"information_density", p.language.information_density},
                {"expression_style", p.language.expression_style},
                {"tone", p.language.tone}}},
              {"orientations", p.orientations},
              {"interaction_type", p.interaction_type},
              {"raw", p.raw},
              {"source", p.source}};
}

std::string normalize_interaction_type(const std::string& s, const std::string& where) {
  std::string l = to_lower_ascii(s);
  if (l.find("effic") != std::string::npos) return "efficiency";
  if (l.find("detail") != std::string::npos) return "detail";
  if (l.find("explor") != std::string::npos) return "exploration";
  throw Error("unknown interaction_type '" + s + "'", where, "use efficiency, detail or exploration");
}

namespace {
std::string str_field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || !j[key].is_string())
    throw Error(std::string("persona lacks the text field '") + key + "'", where,
                "records need user_id, activities, interests, language{...}, orientations, interaction_type");
  return j[key].get<std::string>();
}
}  // namespace

Persona persona_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) throw Error("persona record is not a JSON object", where);
  Persona p;
  p.user_id = str_field(j, "user_id", where);
  p.activities = str_field(j, "activities", where);
  p.interests = str_field(j, "interests", where);
  if (!j.contains("language") || !j["language"].is_object())
    throw Error("persona lacks 'language' {information_density, expression_style, tone}", where);
  p.language.information_density = str_field(j["language"], "information_density", where);
  p.language.expression_style = str_field(j["language"], "expression_style", where);
  p.language.tone = str_field(j["language"], "tone", where);
  p.orientations = str_field(j, "orientations", where);
  p.interaction_type = normalize_interaction_type(str_field(j, "interaction_type", where), where);
  if (j.contains("raw")) p.raw = j["raw"];
  p.source = j.value("source", std::string("llm"));
  return p;
}

std::string persona_text(const Persona& p) {
  return p.activities + " " + p.interests + " " + p.language.information_density + " " +
         p.language.expression_style + " " + p.language.tone + " " + p.orientations;
}

namespace {

std::string attribute_text(const data::Item& item, const std::string& key) {
  if (key.empty() || !item.attributes.is_object() || !item.attributes.contains(key)) return {};
  const auto& v = item.attributes[key];
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  // "Clara Novak (Author), Samuel Hart (Illustrator)" → "Clara Novak".
  auto cut = s.find_first_of("(,;");
  return trim(cut == std::string::npos ? s : s.substr(0, cut));
}

std::vector<std::string> top_keys(const std::map<std::string, int>& counts, std::size_t n) {
  std::vector<std::pair<std::string, int>> v(counts.begin(), counts.end());
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size() && i < n; ++i) out.push_back(v[i].first);
  return out;
}

std::string list_text(const std::vector<std::string>& v) {
  if (v.empty()) return {};
  if (v.size() == 1) return v[0];
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += i + 1 == v.size() ? " and " : ", ";
    out += v[i];
  }
  return out;
}

}  // namespace

Persona build_persona_offline(const data::User& user, const ItemCatalog& catalog, const std::string& domain) {
  const PhraseBook& pb = PhraseBook::load("sim", domain, "persona-rules");
  Persona p;
  p.user_id = user.user_id;
  p.source = "heuristic";
  const std::size_t n = user.reviews.size();
  double rating_sum = 0, words = 0, exclaim = 0;
  std::map<std::string, int> liked_cats, all_cats, creators, aspects;
  std::string creator_key = pb.has("creator_attribute") ? pb.first("creator_attribute") : "";
  auto aspect_words = pb.words("aspects");
  auto generic = pb.has("generic_categories") ? comma_list(pb.first("generic_categories")) : std::vector<std::string>{};
  for (const auto& r : user.reviews) {
    rating_sum += r.rating;
    auto w = split(r.text, ' ');
    words += static_cast<double>(w.size());
    if (r.text.find('!') != std::string::npos) exclaim += 1;
    for (const auto& t : normalized_words(r.text))
      if (std::find(aspect_words.begin(), aspect_words.end(), t) != aspect_words.end()) aspects[t]++;
    const data::Item* item = catalog.find(r.item_id);
    if (!item) continue;
    std::string leaf = main_category(*item, generic);
    if (!leaf.empty()) all_cats[leaf]++;
    if (r.rating >= 4) {
      if (!leaf.empty()) liked_cats[leaf]++;
      std::string c = attribute_text(*item, creator_key);
      if (!c.empty()) creators[c]++;
    }
  }
  double mean_rating = n ? rating_sum / static_cast<double>(n) : 0;
  double avg_words = n ? words / static_cast<double>(n) : 0;
  double exclaim_rate = n ? exclaim / static_cast<double>(n) : 0;
  std::size_t distinct = all_cats.size();

  // Interaction type: long reviews → detail; wide category spread → exploration; otherwise efficiency.
  if (avg_words >= 22) p.interaction_type = "detail";
  else if (distinct >= 7) p.interaction_type = "exploration";
  else p.interaction_type = "efficiency";

  std::map<std::string, std::string> vars = {{"categories", list_text(top_keys(liked_cats, 3))},
                                             {"creators", list_text(top_keys(creators, 2))},
                                             {"aspects", list_text(top_keys(aspects, 2))}};
  p.activities = fill_phrase(pb.first("activities." + p.interaction_type), vars);
  p.interests = fill_phrase(pb.first(creators.empty() ? "interests" : "interests.creators"), vars);
  if (liked_cats.empty()) p.interests = pb.first("interests.none");
  p.language.information_density = pb.first(avg_words < 14 ? "density.low" : avg_words < 22 ? "density.medium" : "density.high");
  p.language.expression_style = pb.first(exclaim_rate >= 0.25 ? "style.exclaiming" : "style.plain");
  p.language.tone = pb.first(mean_rating >= 4.3 ? "tone.warm" : mean_rating < 3.6 ? "tone.critical" : "tone.measured");
  std::string orient = fill_phrase(pb.first(aspects.empty() ? "orientations.none" : "orientations"), vars);
  orient += " " + pb.first(mean_rating >= 4.3 ? "orientations.generous" : mean_rating < 3.6 ? "orientations.demanding" : "orientations.balanced");
  p.orientations = orient;
  auto round2 = [](double v) { return std::round(v * 100) / 100; };
  p.raw = json{{"reviews", n},
               {"mean_rating", round2(mean_rating)},
               {"avg_review_words", round2(avg_words)},
               {"exclamation_rate", round2(exclaim_rate)},
               {"distinct_categories", distinct},
               {"top_categories", top_keys(liked_cats, 3)},
               {"top_creators", top_keys(creators, 2)},
               {"top_aspects", top_keys(aspects, 2)}};
  return p;
}

std::string render_review_history(const data::User& user, const ItemCatalog& catalog, std::size_t token_budget) {
  const std::size_t budget_chars = token_budget * 4;
  std::string out;
  for (auto it = user.reviews.rbegin(); it != user.reviews.rend(); ++it) {
    const data::Item* item = catalog.find(it->item_id);
    std::string line = "- " + std::to_string(static_cast<int>(std::lround(it->rating))) + "/5 ";
    if (item) {
      line += "\"" + item->title + "\"";
      std::string cats;
      for (const auto& c : item->categories) cats += (cats.empty() ? "" : " > ") + c;
      if (!cats.empty()) line += " (" + cats + ")";
    } else {
      line += "(item " + it->item_id + ")";
    }
    line += ": " + collapse_whitespace(it->title);
    if (!it->text.empty()) line += " — " + collapse_whitespace(it->text);
    if (!out.empty() && out.size() + line.size() + 1 > budget_chars) break;
    if (line.size() > budget_chars) line = line.substr(0, budget_chars);
    if (!out.empty()) out += '\n';
    out += line;
  }
  return utf8_sanitize(out);
}

const json& persona_schema() {
  static const json schema = json::parse(R"({
    "type": "object",
    "properties": {
      "activities": {"type": "string", "minLength": 1},
      "interests": {"type": "string", "minLength": 1},
      "language": {"type": "object",
        "properties": {"information_density": {"type": "string"}, "expression_style": {"type": "string"},
                       "tone": {"type": "string"}},
        "required": ["information_density", "expression_style", "tone"], "additionalProperties": false},
      "orientations": {"type": "string", "minLength": 1},
      "interaction_type": {"type": "string", "enum": ["efficiency", "detail", "exploration"]}
    },
    "required": ["activities", "interests", "language", "orientations", "interaction_type"],
    "additionalProperties": false
  })");
  return schema;
}

Persona build_persona_llm(llm::ChatModel& model, const llm::ChatParams& params, const data::User& user,
                          const ItemCatalog& catalog, const std::string& domain, std::size_t token_budget) {
  std::string prompt = render_domain_prompt("sim", domain, "persona-build",
                                            {{"reviews", render_review_history(user, catalog, token_budget)}});
  llm::ChatParams p = params;
  p.json_schema = persona_schema();
  p.schema_name = "persona";
  auto reply = llm::chat_json(model, {{"user", prompt}}, p);
  json j = reply.value;
  j["user_id"] = user.user_id;
  Persona out = persona_from_json(j, "persona role reply for user " + user.user_id);
  out.raw = reply.value;
  out.source = "llm";
  return out;
}

std::map<std::string, Persona> read_personas(const std::filesystem::path& path) {
  std::map<std::string, Persona> out;
  JsonlReader r(path);
  json j;
  while (r.next(j)) {
    Persona p = persona_from_json(j, r.where());
    out[p.user_id] = std::move(p);
  }
  return out;
}

}  // namespace ecpo::sim
