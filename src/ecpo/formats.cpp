// Training row shapes and dataset_info.json (see formats.h).
#include "ecpo/formats.h"

#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace ecpo::pref {

namespace fs = std::filesystem;
using nlohmann::json;

AlpacaPrompt alpaca_prompt(const std::vector<llm::Message>& ms, const std::string& where) {
  AlpacaPrompt a;
  std::size_t i = 0;
  if (i < ms.size() && ms[i].role == "system") a.system = ms[i++].content;
  std::vector<const llm::Message*> rest;
  for (; i < ms.size(); ++i) rest.push_back(&ms[i]);
  if (rest.empty() || rest.size() % 2 == 0)
    throw Error("prompt does not end with a user message after alternating user/assistant turns", where,
                "alpaca rows need [system], user, (assistant, user)*; use --format trl for other shapes");
  for (std::size_t k = 0; k < rest.size(); ++k) {
    const char* want = k % 2 == 0 ? "user" : "assistant";
    if (rest[k]->role != want)
      throw Error("message " + std::to_string(k) + " of the prompt is '" + rest[k]->role + "', expected " + want, where,
                  "alpaca rows need [system], user, (assistant, user)*; use --format trl for other shapes");
  }
  for (std::size_t k = 0; k + 1 < rest.size(); k += 2) a.history.emplace_back(rest[k]->content, rest[k + 1]->content);
  a.instruction = rest.back()->content;
  return a;
}

json messages_json(const std::vector<llm::Message>& ms) { return llm::to_json(ms); }

json assistant_list(const std::string& content) {
  return json::array({{{"role", "assistant"}, {"content", content}}});
}

json ecpo_sft_row(const std::vector<llm::Message>& prompt, const std::string& output) {
  json m = messages_json(prompt);
  m.push_back({{"role", "assistant"}, {"content", output}});
  return {{"messages", m}};
}

json trl_sft_row(const std::vector<llm::Message>& prompt, const std::string& output) {
  return {{"prompt", messages_json(prompt)}, {"completion", assistant_list(output)}};
}

namespace {
json alpaca_base(const std::vector<llm::Message>& prompt, const std::string& where) {
  AlpacaPrompt a = alpaca_prompt(prompt, where);
  json r{{"instruction", a.instruction}, {"input", ""}, {"system", a.system}};
  if (!a.history.empty()) {
    json h = json::array();
    for (const auto& [q, ans] : a.history) h.push_back({q, ans});
    r["history"] = h;
  }
  return r;
}
}  // namespace

json alpaca_sft_row(const std::vector<llm::Message>& prompt, const std::string& output, const std::string& where) {
  json r = alpaca_base(prompt, where);
  r["output"] = output;
  return r;
}

json trl_dpo_row(const std::vector<llm::Message>& prompt, const std::string& chosen, const std::string& rejected) {
  return {{"prompt", messages_json(prompt)}, {"chosen", assistant_list(chosen)}, {"rejected", assistant_list(rejected)}};
}

json alpaca_dpo_row(const std::vector<llm::Message>& prompt, const std::string& chosen, const std::string& rejected,
                    const std::string& where) {
  json r = alpaca_base(prompt, where);
  r["chosen"] = chosen;
  r["rejected"] = rejected;
  return r;
}

json trl_kto_row(const std::vector<llm::Message>& prompt, const std::string& completion, bool label) {
  return {{"prompt", messages_json(prompt)}, {"completion", assistant_list(completion)}, {"label", label}};
}

json llamafactory_entry(const std::string& file_name, DatasetKind kind) {
  json cols{{"prompt", "instruction"}, {"query", "input"}, {"system", "system"}, {"history", "history"}};
  json e{{"file_name", file_name}, {"formatting", "alpaca"}};
  if (kind == DatasetKind::preference) {
    e["ranking"] = true;
    cols["chosen"] = "chosen";
    cols["rejected"] = "rejected";
  } else {
    cols["response"] = "output";
  }
  e["columns"] = cols;
  return e;
}

fs::path write_dataset_info(const fs::path& dir, const std::string& name, const json& entry) {
  const fs::path p = dir / "dataset_info.json";
  json info = json::object();
  if (fs::exists(p)) {
    info = read_json_file(p);
    if (!info.is_object())
      throw Error("dataset_info.json is not a JSON object", p.string(), "move it away or fix it");
  }
  info[name] = entry;
  write_json_file(p, info);
  return p;
}

std::string dataset_name_for(const fs::path& file) {
  std::string s = file.stem().string();
  for (char& c : s)
    if (c == '-' || c == '.' || c == ' ') c = '_';
  return s.empty() ? std::string("ecpo") : s;
}

}  // namespace ecpo::pref
