// config.json parsing and writing for Llama / Qwen2 causal LMs (see hf-config.h).
#include "model/hf-config.h"

#include <algorithm>

#include "util/error.h"
#include "util/jsonl.h"

namespace ecpo::model {

namespace {

template <typename T>
T get_or(const nlohmann::json& j, const char* key, T fallback, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw Error(std::string("config field '") + key + "' has the wrong type (" + it->type_name() + ")", origin);
  }
}

std::int64_t require_int(const nlohmann::json& j, const char* key, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer())
    throw Error(std::string("config field '") + key + "' is missing or not an integer", origin,
                "a Llama/Qwen2 config.json defines " + std::string(key));
  std::int64_t v = it->get<std::int64_t>();
  if (v <= 0) throw Error(std::string("config field '") + key + "' must be positive", origin);
  return v;
}

std::vector<std::int64_t> int_or_list(const nlohmann::json& j, const char* key, const std::string& origin) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (it->is_number_integer()) return {it->get<std::int64_t>()};
  if (it->is_array()) {
    std::vector<std::int64_t> out;
    for (const auto& v : *it) {
      if (!v.is_number_integer()) throw Error(std::string("config field '") + key + "' holds a non-integer", origin);
      out.push_back(v.get<std::int64_t>());
    }
    return out;
  }
  throw Error(std::string("config field '") + key + "' must be an integer or a list of integers", origin);
}

}  // namespace

HfConfig HfConfig::from_json(const nlohmann::json& j, const std::string& origin) {
  if (!j.is_object()) throw Error("config.json is not a JSON object", origin);
  HfConfig c;
  std::string arch_list;
  if (auto a = j.find("architectures"); a != j.end() && a->is_array()) {
    for (const auto& v : *a) {
      if (!v.is_string()) continue;
      std::string s = v.get<std::string>();
      arch_list += (arch_list.empty() ? "" : ", ") + s;
      if (c.architecture.empty() && (s == "LlamaForCausalLM" || s == "Qwen2ForCausalLM")) c.architecture = s;
    }
  }
  c.model_type = get_or<std::string>(j, "model_type", "", origin);
  if (c.architecture.empty()) {
    // Some exported configs carry only model_type.
    if (arch_list.empty() && c.model_type == "llama") c.architecture = "LlamaForCausalLM";
    else if (arch_list.empty() && c.model_type == "qwen2") c.architecture = "Qwen2ForCausalLM";
    else
      throw Error("unsupported architecture: architectures = [" + arch_list + "], model_type = '" + c.model_type + "'",
                  origin, "the engine runs LlamaForCausalLM and Qwen2ForCausalLM checkpoints");
  }
  if (c.model_type.empty()) c.model_type = c.architecture == "Qwen2ForCausalLM" ? "qwen2" : "llama";
  if (c.model_type != "llama" && c.model_type != "qwen2")
    throw Error("unsupported model_type '" + c.model_type + "' for " + c.architecture, origin,
                "the engine runs model_type llama and qwen2");

  c.vocab_size = require_int(j, "vocab_size", origin);
  c.hidden_size = require_int(j, "hidden_size", origin);
  c.intermediate_size = require_int(j, "intermediate_size", origin);
  c.num_hidden_layers = require_int(j, "num_hidden_layers", origin);
  c.num_attention_heads = require_int(j, "num_attention_heads", origin);
  c.num_key_value_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                              ? require_int(j, "num_key_value_heads", origin)
                              : c.num_attention_heads;
  c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? require_int(j, "head_dim", origin)
                                                                   : c.hidden_size / c.num_attention_heads;
  if (!j.contains("head_dim") && c.hidden_size % c.num_attention_heads != 0)
    throw Error("hidden_size is not divisible by num_attention_heads", origin);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw Error("num_attention_heads (" + std::to_string(c.num_attention_heads) +
                    ") is not a multiple of num_key_value_heads (" + std::to_string(c.num_key_value_heads) + ")",
                origin);
  if (c.head_dim % 2 != 0) throw Error("head_dim must be even for RoPE", origin);
  c.rms_norm_eps = get_or<double>(j, "rms_norm_eps", 1e-6, origin);
  c.rope_theta = get_or<double>(j, "rope_theta", 10000.0, origin);
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", false, origin);
  c.attention_bias = get_or<bool>(j, "attention_bias", false, origin);
  c.mlp_bias = get_or<bool>(j, "mlp_bias", false, origin);
  if (c.mlp_bias) throw Error("mlp_bias = true is not supported", origin);
  c.max_position_embeddings = get_or<std::int64_t>(j, "max_position_embeddings", 2048, origin);
  c.hidden_act = get_or<std::string>(j, "hidden_act", "silu", origin);
  if (c.hidden_act != "silu") throw Error("hidden_act '" + c.hidden_act + "' is not supported (only silu)", origin);
  c.torch_dtype = get_or<std::string>(j, "torch_dtype", "float32", origin);
  c.bos_token_ids = int_or_list(j, "bos_token_id", origin);
  c.eos_token_ids = int_or_list(j, "eos_token_id", origin);

  if (auto rs = j.find("rope_scaling"); rs != j.end() && !rs->is_null()) {
    if (!rs->is_object()) throw Error("rope_scaling must be an object or null", origin);
    std::string type = get_or<std::string>(*rs, "rope_type", get_or<std::string>(*rs, "type", "", origin), origin);
    if (type == "default" || type.empty()) {
      // no scaling
    } else if (type == "llama3") {
      c.rope_scaling.type = "llama3";
      c.rope_scaling.factor = get_or<double>(*rs, "factor", 8.0, origin);
      c.rope_scaling.low_freq_factor = get_or<double>(*rs, "low_freq_factor", 1.0, origin);
      c.rope_scaling.high_freq_factor = get_or<double>(*rs, "high_freq_factor", 4.0, origin);
      c.rope_scaling.original_max_position_embeddings =
          get_or<std::int64_t>(*rs, "original_max_position_embeddings", 8192, origin);
      if (c.rope_scaling.high_freq_factor == c.rope_scaling.low_freq_factor)
        throw Error("rope_scaling: high_freq_factor equals low_freq_factor", origin);
    } else {
      throw Error("rope_scaling type '" + type + "' is not supported", origin, "supported: llama3 (or none)");
    }
  }
  return c;
}

HfConfig HfConfig::load(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  if (!std::filesystem::exists(path))
    throw Error("config.json not found", path.string(), "point --model at a Hugging Face model directory");
  HfConfig c = from_json(read_json_file(path), path.string());
  // generation_config.json often lists more end ids (Llama-3 Instruct: <|eot_id|>, <|eom_id|>): take their union.
  const auto gen = model_dir / "generation_config.json";
  if (std::filesystem::exists(gen)) {
    nlohmann::json g = read_json_file(gen);
    if (g.is_object())
      for (std::int64_t id : int_or_list(g, "eos_token_id", gen.string()))
        if (std::find(c.eos_token_ids.begin(), c.eos_token_ids.end(), id) == c.eos_token_ids.end())
          c.eos_token_ids.push_back(id);
  }
  return c;
}

nlohmann::json HfConfig::to_json() const {
  nlohmann::json j;
  j["architectures"] = {architecture};
  j["attention_bias"] = has_qkv_bias();
  j["attention_dropout"] = 0.0;
  auto ids = [](const std::vector<std::int64_t>& v) -> nlohmann::json {
    if (v.empty()) return nullptr;
    if (v.size() == 1) return v[0];
    return v;
  };
  j["bos_token_id"] = ids(bos_token_ids);
  j["eos_token_id"] = ids(eos_token_ids);
  j["head_dim"] = head_dim;
  j["hidden_act"] = hidden_act;
  j["hidden_size"] = hidden_size;
  j["initializer_range"] = 0.02;
  j["intermediate_size"] = intermediate_size;
  j["max_position_embeddings"] = max_position_embeddings;
  j["model_type"] = model_type;
  j["num_attention_heads"] = num_attention_heads;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_key_value_heads"] = num_key_value_heads;
  j["rms_norm_eps"] = rms_norm_eps;
  if (rope_scaling.type == "llama3") {
    j["rope_scaling"] = {{"factor", rope_scaling.factor},
                         {"low_freq_factor", rope_scaling.low_freq_factor},
                         {"high_freq_factor", rope_scaling.high_freq_factor},
                         {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings},
                         {"rope_type", "llama3"}};
  } else {
    j["rope_scaling"] = nullptr;
  }
  j["rope_theta"] = rope_theta;
  j["tie_word_embeddings"] = tie_word_embeddings;
  j["torch_dtype"] = torch_dtype;
  j["transformers_version"] = "4.45.0";
  j["use_cache"] = true;
  j["vocab_size"] = vocab_size;
  if (is_qwen2()) {
    j.erase("attention_bias");
    j.erase("head_dim");
    j["use_sliding_window"] = false;
    j["sliding_window"] = max_position_embeddings;
    j["max_window_layers"] = num_hidden_layers;
  } else {
    j["mlp_bias"] = false;
    j["pretraining_tp"] = 1;
  }
  return j;
}

std::int64_t HfConfig::num_parameters() const {
  const std::int64_t c = hidden_size, q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  std::int64_t attn = c * q + 2 * c * kv + q * c;
  if (has_qkv_bias()) attn += q + 2 * kv;
  if (has_o_bias()) attn += c;
  const std::int64_t mlp = 3 * c * intermediate_size;
  const std::int64_t layer = attn + mlp + 2 * c;
  std::int64_t n = vocab_size * c + num_hidden_layers * layer + c;
  if (!tie_word_embeddings) n += vocab_size * c;
  return n;
}

}  // namespace ecpo::model
