// AILO personas (paper §2.3, docs/protocol.md §3): all four dimensions — Activities (interaction style,
// one of efficiency | detail | exploration), Interests, Language {information_density, expression_style,
// tone}, Orientations — plus the raw inference and where it came from ("llm" or "heuristic").
// Built from a user's review history either by the `persona` LLM role (structured output) or by rules
// (offline). Not here: the batch builder with resume (persona-build.h).
#pragma once
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/types.h"
#include "llm/chat-model.h"
#include "sim/catalog.h"

namespace ecpo::sim {

struct Language {
  std::string information_density;
  std::string expression_style;
  std::string tone;
};

struct Persona {
  std::string user_id;
  std::string activities;
  std::string interests;
  Language language;
  std::string orientations;
  std::string interaction_type = "efficiency";  // efficiency | detail | exploration
  nlohmann::json raw = nlohmann::json::object();
  std::string source = "heuristic";             // llm | heuristic
};

nlohmann::json to_json(const Persona& p);
Persona persona_from_json(const nlohmann::json& j, const std::string& where);  // throws ecpo::Error
// "efficiency" | "detail" | "exploration"; accepts the paper's names ("Efficiency-Seeking", ...).
std::string normalize_interaction_type(const std::string& s, const std::string& where);

// Persona text used for diversity (ROUGE-L): the four dimensions joined.
std::string persona_text(const Persona& p);

// Rules over the reviews (no LLM): interests from the categories and authors of well-rated items;
// interaction type from review length and category spread; language from length, exclamations and mean
// rating; orientations from the aspects the reviews praise or criticise. Wording: prompts/sim/<domain>/persona-rules.txt.
Persona build_persona_offline(const data::User& user, const ItemCatalog& catalog, const std::string& domain);

// The review history shown to the persona role: one line per review (rating, item title, categories,
// review title and text), newest first, cut to about `token_budget` tokens (4 characters a token).
std::string render_review_history(const data::User& user, const ItemCatalog& catalog, std::size_t token_budget);

// The JSON schema of the persona role's reply.
const nlohmann::json& persona_schema();

// One persona role call (prompts/sim/<domain>/persona-build.txt) with structured output and one repair.
// Throws llm::ChatError when the role fails for good.
Persona build_persona_llm(llm::ChatModel& model, const llm::ChatParams& params, const data::User& user,
                          const ItemCatalog& catalog, const std::string& domain, std::size_t token_budget = 3000);

// personas.jsonl → user_id → persona. Throws ecpo::Error (file:line) on a bad record.
std::map<std::string, Persona> read_personas(const std::filesystem::path& path);

}  // namespace ecpo::sim
