// The "local" llm backend factory: RoleSpec settings → LocalModelOptions → LocalChatModel (see local-backend.h).
#include "model/local-backend.h"

#include <filesystem>
#include <mutex>

#include "llm/roles.h"
#include "model/local-chat-model.h"
#include "util/error.h"

namespace ecpo::model {
namespace {

std::string string_setting(const nlohmann::json& raw, const char* key, const std::string& role) {
  auto it = raw.find(key);
  if (it == raw.end() || it->is_null()) return {};
  if (!it->is_string())
    throw Error(std::string("setting '") + key + "' of local role '" + role + "' must be a string", "roles");
  return it->get<std::string>();
}

std::shared_ptr<llm::ChatModel> make_local(const llm::RoleSpec& spec) {
  const nlohmann::json& raw = spec.raw;
  LocalModelOptions o;
  o.model_dir = string_setting(raw, "model", spec.name);
  if (o.model_dir.empty())
    throw Error("local role '" + spec.name + "' has no model directory", "roles",
                "set roles." + spec.name + ".model to a directory with config.json and model.safetensors");
  if (!std::filesystem::is_directory(o.model_dir))
    throw Error("model directory of local role '" + spec.name + "' not found", o.model_dir.string(),
                "create one with 'ecpo model init --preset tiny --out DIR' or point at a Hugging Face download");
  o.model_name = string_setting(raw, "model_name", spec.name);
  o.adapter_dir = string_setting(raw, "adapter", spec.name);
  if (auto d = string_setting(raw, "dtype", spec.name); !d.empty()) o.dtype = d;
  o.chat_template = string_setting(raw, "chat_template", spec.name);
  if (auto it = raw.find("threads"); it != raw.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int>() < 0)
      throw Error("setting 'threads' of local role '" + spec.name + "' must be an integer >= 0", "roles");
    o.threads = it->get<int>();
  }
  return LocalChatModel::load(o);
}

}  // namespace

void register_local_backend() {
  static std::once_flag once;
  std::call_once(once, [] { llm::register_backend("local", make_local); });
}

}  // namespace ecpo::model
