// config.json parsing and writing for Llama / Qwen2 causal LMs (see hf-config.h).
#include "model/hf-config.h"

#include <algorithm>

#include "util/error.h"
#include "util/json-read.h"
#include "util/jsonl.h"

namespace ecpo::model {

namespace {

// Upper bounds far above any real checkpoint, low enough that products of them cannot overflow int64 and a
// corrupt config fails here rather than in an allocation.
constexpr std::int64_t kMaxVocab = 1 << 24;
constexpr std::int64_t kMaxWidth = 1 << 18;
constexpr std::int64_t kMaxLayers = 4096;
constexpr std::int64_t kMaxHeads = 4096;
constexpr std::int64_t kMaxPositions = std::int64_t{1} << 26;

std::int64_t require_int(const JsonAt& j, const char* key, std::int64_t hi) {
  if (!j.has(key)) j.fail(std::string("'") + key + "' is missing", "a Llama/Qwen2 config.json defines " + std::string(key));
  return j.get(key).integer(1, hi);
}

std::vector<std::int64_t> int_or_list(const JsonAt& j, const char* key) {
  std::vector<std::int64_t> out;
  auto v = j.find(key);
  if (!v) return out;
  if (v->is_array()) v->each([&](const JsonAt& x) { out.push_back(x.integer(0, kMaxVocab)); });
  else out.push_back(v->integer(0, kMaxVocab));
  return out;
}

}  // namespace

HfConfig HfConfig::from_json(const nlohmann::json& json, const std::string& origin) {
  const JsonSource src{origin, "compare with the config.json of a Hugging Face Llama or Qwen2 checkpoint"};
  const JsonAt j(json, src);
  if (!json.is_object()) j.fail("config.json is not a JSON object");
  HfConfig c;
  std::string arch_list;
  if (auto a = j.find("architectures"); a && a->is_array()) {
    a->each([&](const JsonAt& v) {
      if (!v.is_string()) return;
      const std::string& s = v.str();
      arch_list += (arch_list.empty() ? "" : ", ") + s;
      if (c.architecture.empty() && (s == "LlamaForCausalLM" || s == "Qwen2ForCausalLM")) c.architecture = s;
    });
  }
  c.model_type = j.str_or("model_type", "");
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

  c.vocab_size = require_int(j, "vocab_size", kMaxVocab);
  c.hidden_size = require_int(j, "hidden_size", kMaxWidth);
  c.intermediate_size = require_int(j, "intermediate_size", kMaxWidth);
  c.num_hidden_layers = require_int(j, "num_hidden_layers", kMaxLayers);
  c.num_attention_heads = require_int(j, "num_attention_heads", kMaxHeads);
  c.num_key_value_heads = j.has("num_key_value_heads") ? require_int(j, "num_key_value_heads", kMaxHeads)
                                                       : c.num_attention_heads;
  c.head_dim = j.has("head_dim") ? require_int(j, "head_dim", kMaxWidth) : c.hidden_size / c.num_attention_heads;
  if (!j.has("head_dim") && c.hidden_size % c.num_attention_heads != 0)
    throw Error("hidden_size is not divisible by num_attention_heads", origin);
  if (c.head_dim < 1) throw Error("head_dim must be positive", origin);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw Error("num_attention_heads (" + std::to_string(c.num_attention_heads) +
                    ") is not a multiple of num_key_value_heads (" + std::to_string(c.num_key_value_heads) + ")",
                origin);
  if (c.head_dim % 2 != 0) throw Error("head_dim must be even for RoPE", origin);
  if (c.num_attention_heads * c.head_dim > kMaxWidth)
    throw Error("num_attention_heads × head_dim = " + std::to_string(c.num_attention_heads * c.head_dim) +
                    " is beyond any supported model width",
                origin);
  c.rms_norm_eps = j.number_or("rms_norm_eps", 1e-6, 0.0, 1.0);
  c.rope_theta = j.number_or("rope_theta", 10000.0, 1e-6, 1e12);
  c.tie_word_embeddings = j.bool_or("tie_word_embeddings", false);
  c.attention_bias = j.bool_or("attention_bias", false);
  c.mlp_bias = j.bool_or("mlp_bias", false);
  if (c.mlp_bias) throw Error("mlp_bias = true is not supported", origin);
  c.max_position_embeddings = j.integer_or("max_position_embeddings", 2048, 1, kMaxPositions);
  c.hidden_act = j.str_or("hidden_act", "silu");
  if (c.hidden_act != "silu") throw Error("hidden_act '" + c.hidden_act + "' is not supported (only silu)", origin);
  c.torch_dtype = j.str_or("torch_dtype", "float32");
  c.bos_token_ids = int_or_list(j, "bos_token_id");
  c.eos_token_ids = int_or_list(j, "eos_token_id");

  if (auto rs = j.find("rope_scaling")) {
    if (!rs->is_object()) rs->fail("rope_scaling must be an object or null");
    std::string type = rs->str_or("rope_type", rs->str_or("type", ""));
    if (type == "default" || type.empty()) {
      // no scaling
    } else if (type == "llama3") {
      c.rope_scaling.type = "llama3";
      c.rope_scaling.factor = rs->number_or("factor", 8.0, 1e-6, 1e6);
      c.rope_scaling.low_freq_factor = rs->number_or("low_freq_factor", 1.0, 1e-6, 1e6);
      c.rope_scaling.high_freq_factor = rs->number_or("high_freq_factor", 4.0, 1e-6, 1e6);
      c.rope_scaling.original_max_position_embeddings =
          rs->integer_or("original_max_position_embeddings", 8192, 1, kMaxPositions);
      if (c.rope_scaling.high_freq_factor == c.rope_scaling.low_freq_factor)
        rs->fail("high_freq_factor equals low_freq_factor");
    } else {
      rs->fail("rope_scaling type '" + type + "' is not supported", "supported: llama3 (or none)");
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
    const JsonSource gen_src{gen.string(), "eos_token_id is an integer or a list of integers"};
    if (g.is_object())
      for (std::int64_t id : int_or_list(JsonAt(g, gen_src), "eos_token_id"))
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
