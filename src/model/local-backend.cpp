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
  if (auto it = raw.find("max_batch"); it != raw.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<int>() < 1)
      throw Error("setting 'max_batch' of local role '" + spec.name + "' must be an integer >= 1", "roles");
    o.max_batch = it->get<int>();
  }
  if (auto it = raw.find("kv_cache_mb"); it != raw.end() && !it->is_null()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 1)
      throw Error("setting 'kv_cache_mb' of local role '" + spec.name + "' must be an integer >= 1 (MiB)", "roles");
    o.kv_cache_mb = it->get<std::int64_t>();
  }
  if (auto it = raw.find("prefix_cache"); it != raw.end() && !it->is_null()) {
    if (!it->is_boolean())
      throw Error("setting 'prefix_cache' of local role '" + spec.name + "' must be true or false", "roles");
    o.prefix_cache = it->get<bool>();
  }
  return LocalChatModel::load(o);
}

}  // namespace

void register_local_backend() {
  static std::once_flag once;
  std::call_once(once, [] { llm::register_backend("local", make_local); });
}

}  // namespace ecpo::model
