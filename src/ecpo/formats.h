// Row shapes of the training files this module writes (docs/training-reference.md §15), one function per
// shape, and LLaMA-Factory's dataset_info.json registration:
//   ecpo SFT       {"messages": [prompt…, {"role":"assistant","content": output}]}  (+ provenance fields)
//   TRL SFT        {"prompt": [messages], "completion": [{"role":"assistant","content"}]}
//   alpaca SFT     {"instruction", "input": "", "output", "system", "history"?: [[q, a], …]}
//   TRL DPO        {"prompt": [messages], "chosen": [assistant msg], "rejected": [assistant msg]}
//   alpaca DPO     {"instruction", "input": "", "chosen", "rejected", "system", "history"?}   (ranking: true)
//   TRL KTO        {"prompt": [messages], "completion": [assistant msg], "label": bool}
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "llm/chat-model.h"

namespace ecpo::pref {

// A prompt in alpaca terms: optional leading system message; then user/assistant turns ending with a
// user turn — the last user turn is the instruction, earlier (user, assistant) pairs the history.
struct AlpacaPrompt {
  std::string system, instruction;
  std::vector<std::pair<std::string, std::string>> history;
};
// Throws ecpo::Error naming `where` when the messages do not have that shape.
AlpacaPrompt alpaca_prompt(const std::vector<llm::Message>& prompt, const std::string& where);

nlohmann::json messages_json(const std::vector<llm::Message>& ms);
nlohmann::json assistant_list(const std::string& content);  // [{"role":"assistant","content": content}]

nlohmann::json ecpo_sft_row(const std::vector<llm::Message>& prompt, const std::string& output);
nlohmann::json trl_sft_row(const std::vector<llm::Message>& prompt, const std::string& output);
nlohmann::json alpaca_sft_row(const std::vector<llm::Message>& prompt, const std::string& output, const std::string& where);
nlohmann::json trl_dpo_row(const std::vector<llm::Message>& prompt, const std::string& chosen, const std::string& rejected);
nlohmann::json alpaca_dpo_row(const std::vector<llm::Message>& prompt, const std::string& chosen,
                              const std::string& rejected, const std::string& where);
nlohmann::json trl_kto_row(const std::vector<llm::Message>& prompt, const std::string& completion, bool label);

enum class DatasetKind { sft, preference };
// The dataset_info.json entry of an alpaca file (columns named as LLaMA-Factory's data/README.md says).
nlohmann::json llamafactory_entry(const std::string& file_name, DatasetKind kind);
// Adds (or replaces) `name` in DIR/dataset_info.json, keeping other entries; atomic. Returns the path.
std::filesystem::path write_dataset_info(const std::filesystem::path& dir, const std::string& name,
                                         const nlohmann::json& entry);

// The dataset name registered for an output file: its stem with '-' and '.' as '_' ("dpo-l5.jsonl" → dpo_l5).
std::string dataset_name_for(const std::filesystem::path& file);

}  // namespace ecpo::pref
