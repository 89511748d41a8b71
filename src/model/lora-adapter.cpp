// PEFT LoRA adapter reading (see lora-adapter.h): config validation and A/B pairing, torch-free. The merge into
// the base weights lives in llama.cpp, which knows the module shapes.
#include "model/lora-adapter.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <regex>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/fs.h"
#include "util/json-read.h"

namespace fs = std::filesystem;

namespace ecpo::model {

namespace {

const std::string kPrefix = "base_model.model.";

std::string fmt_shape(const std::vector<std::int64_t>& s) {
  std::string o = "[";
  for (std::size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
  return o + "]";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A target_modules regex is compiled by std::regex, whose compiler recurses on nesting: a pattern from a
// file is bounded before it gets there (PEFT's real patterns are short and shallow).
void check_target_regex(const JsonAt& at, const std::string& re) {
  if (re.size() > 4096) at.fail("target_modules regex is " + std::to_string(re.size()) + " characters long (limit 4096)");
  int depth = 0, max_depth = 0;
  for (char ch : re) {
    if (ch == '(' || ch == '[') max_depth = std::max(max_depth, ++depth);
    else if ((ch == ')' || ch == ']') && depth > 0) --depth;
  }
  if (max_depth > 32) at.fail("target_modules regex nests groups " + std::to_string(max_depth) + " deep (limit 32)");
}

}  // namespace

LoraConfig parse_lora_config(std::string_view text, const std::string& source) {
  const JsonSource src{source, "compare with the adapter_config.json PEFT writes (save_pretrained)"};
  const nlohmann::json json = parse_json_text(text, source, src.hint);
  const JsonAt j(json, src);
  if (!json.is_object()) j.fail("adapter_config.json is not a JSON object");
  const std::string peft_type = j.str_or("peft_type", "");
  if (peft_type != "LORA")
    throw Error("peft_type is '" + peft_type + "', only LORA adapters are supported", source,
                "this is not a PEFT LoRA adapter (adapter_config.json needs \"peft_type\": \"LORA\")");
  LoraConfig c;
  if (!j.has("r")) j.fail("'r' (the LoRA rank) is missing", "PEFT writes r, the rank of every A/B pair");
  c.r = j.get("r").integer(1, 1 << 16);
  if (!j.has("lora_alpha")) j.fail("'lora_alpha' is missing", "PEFT writes lora_alpha next to r");
  c.lora_alpha = j.get("lora_alpha").number(-1e6, 1e6);
  c.use_rslora = j.bool_or("use_rslora", false);
  if (j.bool_or("fan_in_fan_out", false))
    throw Error("fan_in_fan_out is true; Llama/Qwen2 linear weights are [out, in]", source,
                "fan_in_fan_out is for GPT-2 style Conv1D layers; this adapter was not made for this model");
  if (j.bool_or("use_dora", false)) throw Error("DoRA adapters (use_dora: true) are not supported", source);
  const std::string bias = j.str_or("bias", "none");
  if (bias != "none")
    throw Error("bias is '" + bias + "'; only bias \"none\" is supported", source,
                "retrain with bias=\"none\" (PEFT's default)");
  for (const char* key : {"rank_pattern", "alpha_pattern"})
    if (auto v = j.find(key); v && !(v->is_object() && v->size() == 0))
      v->fail("not supported (every module must use r and lora_alpha)");
  if (auto v = j.find("modules_to_save"); v && !(v->is_array() && v->size() == 0))
    v->fail("not supported (the adapter replaces whole modules)");
  if (!j.has("target_modules"))
    j.fail("'target_modules' is missing", "PEFT writes a list such as [\"q_proj\", \"v_proj\"]");
  JsonAt tm = j.get("target_modules");
  if (tm.is_string()) {
    if (tm.str() == "all-linear") {
      c.all_linear = true;
    } else {
      check_target_regex(tm, tm.str());
      c.target_regex = tm.str();
    }
  } else if (tm.is_array()) {
    tm.each([&](const JsonAt& m) { c.target_modules.push_back(m.str()); });
  } else {
    tm.fail("must be a list of module names or the string \"all-linear\"");
  }
  c.base_model_name_or_path = j.str_or("base_model_name_or_path", "");
  return c;
}

namespace {

bool targeted(const LoraConfig& c, const std::string& module) {
  if (c.all_linear) return true;
  if (!c.target_regex.empty()) {
    try {
      return std::regex_match(module, std::regex(c.target_regex));
    } catch (const std::regex_error&) {
      return true;  // a Python-only regex: let the shape checks decide
    }
  }
  const std::string last = module.substr(module.rfind('.') + 1);
  for (const auto& t : c.target_modules)
    if (t == last || t == module || ends_with(module, "." + t)) return true;
  return false;
}

}  // namespace

double LoraConfig::scale() const {
  return use_rslora ? lora_alpha / std::sqrt(static_cast<double>(r)) : lora_alpha / static_cast<double>(r);
}

const LoraModule* LoraAdapter::find(const std::string& module) const {
  auto it = modules_.find(module);
  return it == modules_.end() ? nullptr : &it->second;
}

std::unique_ptr<LoraAdapter> LoraAdapter::load(const fs::path& dir) {
  require_exists(dir, "adapter directory", "pass a PEFT adapter directory (adapter_config.json + adapter_model.safetensors)");
  const fs::path cfg_path = dir / "adapter_config.json";
  if (!fs::exists(cfg_path))
    throw Error("adapter_config.json is missing", dir.string(),
                "a PEFT LoRA adapter directory holds adapter_config.json and adapter_model.safetensors");
  auto a = std::unique_ptr<LoraAdapter>(new LoraAdapter());
  a->config_ = parse_lora_config(read_file(cfg_path), cfg_path.string());
  a->weights_path_ = dir / "adapter_model.safetensors";
  if (!fs::exists(a->weights_path_))
    throw Error("adapter_model.safetensors is missing", dir.string(),
                fs::exists(dir / "adapter_model.bin")
                    ? "adapter_model.bin (pickle) is not read: re-save with safe_serialization=True"
                    : "a PEFT LoRA adapter directory holds adapter_model.safetensors");
  a->file_ = std::make_unique<SafetensorsFile>(a->weights_path_);
  const std::string where = a->weights_path_.string();
  for (const TensorInfo& t : a->file_->header().tensors) {
    const std::string& key = t.name;
    if (key.rfind(kPrefix, 0) != 0)
      throw Error("adapter key '" + key + "' lacks the base_model.model. prefix", where,
                  "PEFT saves keys as base_model.model.<module>.lora_A.weight; this file was not written by PEFT");
    std::string rest = key.substr(kPrefix.size());
    bool is_a = false;
    std::string module;
    for (const char* suf : {".lora_A.weight", ".lora_A.default.weight", ".lora_B.weight", ".lora_B.default.weight"}) {
      if (ends_with(rest, suf)) {
        module = rest.substr(0, rest.size() - std::string(suf).size());
        is_a = std::string(suf).find("lora_A") != std::string::npos;
        break;
      }
    }
    if (module.empty())
      throw Error("adapter key '" + key + "' is not a LoRA A/B weight", where,
                  "only .lora_A.weight / .lora_B.weight tensors are supported (no lora biases, embeddings or "
                  "modules_to_save)");
    if (!targeted(a->config_, module))
      throw Error("adapter key '" + key + "' adapts '" + module + "', which target_modules does not list", where,
                  "adapter_config.json and adapter_model.safetensors disagree");
    if (t.shape.size() != 2)
      throw Error("adapter key '" + key + "' has shape " + fmt_shape(t.shape) + ", expected a matrix", where);
    const std::int64_t rank = is_a ? t.shape[0] : t.shape[1];
    if (rank != a->config_.r)
      throw Error("adapter key '" + key + "' has shape " + fmt_shape(t.shape) + " (rank " + std::to_string(rank) +
                      ") but adapter_config.json says r = " + std::to_string(a->config_.r),
                  where, is_a ? "lora_A is [r, in]" : "lora_B is [out, r]");
    LoraModule& m = a->modules_[module];
    std::string& slot = is_a ? m.key_a : m.key_b;
    if (!slot.empty())
      throw Error("adapter keys '" + slot + "' and '" + key + "' name the same weight", where);
    slot = key;
    (is_a ? m.a : m.b) = a->file_->get(key);
  }
  if (a->modules_.empty()) throw Error("the adapter holds no LoRA weights", where);
  for (const auto& [module, m] : a->modules_)
    if (m.key_a.empty() || m.key_b.empty())
      throw Error("module '" + module + "' has " + (m.key_a.empty() ? "lora_B but no lora_A" : "lora_A but no lora_B"),
                  where, "every adapted module needs both lora_A and lora_B");
  return a;
}

bool base_model_matches(const std::string& base_model_name_or_path, const std::filesystem::path& model_dir) {
  auto last = [](std::string x) {
    while (!x.empty() && (x.back() == '/' || x.back() == '\\')) x.pop_back();
    const auto cut = x.find_last_of("/\\");
    x = cut == std::string::npos ? x : x.substr(cut + 1);
    std::transform(x.begin(), x.end(), x.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return x;
  };
  if (base_model_name_or_path.empty()) return true;
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::weakly_canonical(model_dir, ec);
  if (ec) dir = model_dir;
  return last(base_model_name_or_path) == last(dir.string());
}

}  // namespace ecpo::model
