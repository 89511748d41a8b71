// Hugging Face config.json for decoder-only causal LMs: LlamaForCausalLM and Qwen2ForCausalLM. Torch-free.
// Reads the fields the engine needs (GQA, head_dim, RoPE theta + llama3 rope_scaling, tied embeddings,
// bos/eos as int or list, torch_dtype) and writes them back with the exact HF keys. Qwen2 always has q/k/v
// biases; its sliding window (use_sliding_window) is ignored — we attend over the full context.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ecpo::model {

struct RopeScaling {
  std::string type;  // "" (none) or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position_embeddings = 8192;
};

struct HfConfig {
  std::string architecture;  // "LlamaForCausalLM" | "Qwen2ForCausalLM"
  std::string model_type;    // "llama" | "qwen2"
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;  // defaults to num_attention_heads
  std::int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v (and o for Llama's attention_bias) biases; always q/k/v for Qwen2
  bool mlp_bias = false;
  std::int64_t max_position_embeddings = 2048;
  std::vector<std::int64_t> bos_token_ids;
  std::vector<std::int64_t> eos_token_ids;
  std::string hidden_act = "silu";
  std::string torch_dtype = "float32";

  // Parses a config.json object; `origin` names the file in errors. Unsupported architectures throw ecpo::Error
  // naming config.json and the architectures field.
  static HfConfig from_json(const nlohmann::json& j, const std::string& origin);
  // <dir>/config.json; eos ids also from <dir>/generation_config.json when present (union, config first).
  static HfConfig load(const std::filesystem::path& model_dir);
  // The HF config.json object (architectures, model_type, torch_dtype, transformers_version, ...).
  nlohmann::json to_json() const;

  bool is_qwen2() const { return model_type == "qwen2"; }
  bool has_qkv_bias() const { return attention_bias || is_qwen2(); }
  bool has_o_bias() const { return attention_bias && !is_qwen2(); }
  std::int64_t num_parameters() const;  // including lm_head when untied
};

}  // namespace ecpo::model
