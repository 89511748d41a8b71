// Hugging Face PEFT LoRA adapter directories, read for inference (torch-free): adapter_config.json
// (peft_type LORA, r, lora_alpha, target_modules, use_rslora, fan_in_fan_out, bias) and adapter_model.safetensors
// (base_model.model.<module>.lora_A[.default].weight [r, in], .lora_B[.default].weight [out, r]).
// load() validates the config and pairs every A with its B; the engine (llama.cpp) checks each module exists with
// matching shapes and merges W' = W + scale·(B @ A) in float32 before fusing. Not here: writing adapters, DoRA.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/safetensors.h"

namespace ecpo::model {

struct LoraConfig {
  std::int64_t r = 0;
  double lora_alpha = 0;
  bool use_rslora = false;                  // scale α/√r instead of α/r
  std::vector<std::string> target_modules;  // module names (last path component), e.g. q_proj
  std::string target_regex;                 // target_modules given as a string other than "all-linear" (fullmatch)
  bool all_linear = false;                  // target_modules == "all-linear"
  std::string base_model_name_or_path;      // informational (see base_model_matches)
  double scale() const;                     // α/r, or α/√r with use_rslora
};

// Parses adapter_config.json text (`source` names it in errors): types, ranges (1 <= r <= 65536, finite
// lora_alpha) and the unsupported options are checked; errors name the key and a hint. Torch-free.
LoraConfig parse_lora_config(std::string_view text, const std::string& source);

// One adapted module: "model.layers.0.self_attn.q_proj" → its A [r, in] and B [out, r].
struct LoraModule {
  std::string key_a, key_b;  // tensor names in adapter_model.safetensors
  TensorView a, b;           // valid while the LoraAdapter lives
};

// Whether a model directory looks like the adapter's recorded base model: the last path component of
// base_model_name_or_path ("meta-llama/Meta-Llama-3-8B-Instruct" → "Meta-Llama-3-8B-Instruct") equals the
// directory's name, case-insensitively. True when nothing is recorded. Shapes are what really decide whether an
// adapter loads; this only backs a warning for an adapter trained on a look-alike model.
bool base_model_matches(const std::string& base_model_name_or_path, const std::filesystem::path& model_dir);

class LoraAdapter {
 public:
  // Reads <dir>/adapter_config.json and <dir>/adapter_model.safetensors; throws ecpo::Error naming the file,
  // the key and a hint for a missing file, an unsupported config (fan_in_fan_out, bias, DoRA, rank patterns),
  // a key that is not a PEFT LoRA weight, an unpaired A/B, a rank that disagrees with r, or a module outside
  // target_modules.
  static std::unique_ptr<LoraAdapter> load(const std::filesystem::path& dir);

  const LoraConfig& config() const { return config_; }
  const std::map<std::string, LoraModule>& modules() const { return modules_; }
  const std::filesystem::path& weights_path() const { return weights_path_; }
  // The adapted module at an HF module path, or nullptr.
  const LoraModule* find(const std::string& module) const;

 private:
  LoraConfig config_;
  std::filesystem::path weights_path_;
  std::unique_ptr<SafetensorsFile> file_;
  std::map<std::string, LoraModule> modules_;
};

}  // namespace ecpo::model
