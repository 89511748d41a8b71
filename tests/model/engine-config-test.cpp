// HF config.json parsing (Llama, Qwen2, errors) and RoPE tables: default frequencies and the llama3 scaling
// rule checked against values computed by hand from the transformers formula.
#include "model/hf-config.h"

#include <cmath>

#include "model/rope.h"
#include "test-support.h"
#include "util/error.h"

using namespace ecpo::model;
using nlohmann::json;

namespace {
json llama_json() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 2048,
    "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
    "head_dim": 64, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "tie_word_embeddings": true,
    "max_position_embeddings": 131072, "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009],
    "torch_dtype": "bfloat16", "hidden_act": "silu",
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"}})");
}
}  // namespace

TEST(HfConfig, ParsesLlama32Config) {
  HfConfig c = HfConfig::from_json(llama_json(), "config.json");
  EXPECT_EQ(c.architecture, "LlamaForCausalLM");
  EXPECT_EQ(c.num_key_value_heads, 8);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.has_qkv_bias());
  EXPECT_EQ(c.bos_token_ids, (std::vector<std::int64_t>{128000}));
  EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.rope_scaling.type, "llama3");
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 32.0);
  EXPECT_EQ(c.torch_dtype, "bfloat16");
  // Llama-3.2-1B has 1,235,814,400 parameters (tied embeddings).
  EXPECT_EQ(c.num_parameters(), 1235814400);
  // round trip through to_json keeps the fields
  HfConfig d = HfConfig::from_json(c.to_json(), "rt");
  EXPECT_EQ(d.eos_token_ids, c.eos_token_ids);
  EXPECT_EQ(d.rope_scaling.original_max_position_embeddings, 8192);
}

TEST(HfConfig, Qwen2HasQkvBiasAndDefaults) {
  json j = json::parse(R"({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936,
    "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": true,
    "bos_token_id": 151643, "eos_token_id": 151645, "use_sliding_window": false, "sliding_window": 32768})");
  HfConfig c = HfConfig::from_json(j, "config.json");
  EXPECT_TRUE(c.is_qwen2());
  EXPECT_TRUE(c.has_qkv_bias());
  EXPECT_FALSE(c.has_o_bias());
  EXPECT_EQ(c.head_dim, 64);  // hidden_size / heads
  EXPECT_EQ(c.eos_token_ids, (std::vector<std::int64_t>{151645}));
  EXPECT_EQ(c.rope_scaling.type, "");
  // Qwen2-0.5B: 494,032,768 parameters.
  EXPECT_EQ(c.num_parameters(), 494032768);
}

TEST(HfConfig, UnsupportedArchitectureNamesConfigAndField) {
  json j = llama_json();
  j["architectures"] = {"MistralForCausalLM"};
  j["model_type"] = "mistral";
  try {
    HfConfig::from_json(j, "/m/config.json");
    FAIL();
  } catch (const ecpo::Error& e) {
    std::string w = e.what();
    EXPECT_NE(w.find("/m/config.json"), std::string::npos) << w;
    EXPECT_NE(w.find("architectures"), std::string::npos) << w;
    EXPECT_NE(w.find("MistralForCausalLM"), std::string::npos) << w;
  }
  json k = llama_json();
  k["num_key_value_heads"] = 5;  // 32 % 5 != 0
  EXPECT_THROW(HfConfig::from_json(k, "c"), ecpo::Error);
  json m = llama_json();
  m.erase("hidden_size");
  EXPECT_THROW(HfConfig::from_json(m, "c"), ecpo::Error);
  json r = llama_json();
  r["rope_scaling"]["rope_type"] = "yarn";
  EXPECT_THROW(HfConfig::from_json(r, "c"), ecpo::Error);
}

TEST(Rope, DefaultFrequenciesByHand) {
  auto f = rope_default_inv_freq(4, 10000.0);  // 1/10000^(0/4), 1/10000^(2/4)
  ASSERT_EQ(f.size(), 2u);
  EXPECT_FLOAT_EQ(f[0], 1.0f);
  EXPECT_FLOAT_EQ(f[1], 0.01f);
}

TEST(Rope, Llama3ScalingByHand) {
  RopeScaling s;
  s.type = "llama3";
  s.factor = 8;
  s.low_freq_factor = 1;
  s.high_freq_factor = 4;
  s.original_max_position_embeddings = 8192;
  // wavelengths 2π/f: high-frequency (< 8192/4 = 2048) kept, low-frequency (> 8192) divided by 8, between:
  // smooth = (8192/wavelen - 1) / (4 - 1); f' = (1 - smooth) f/8 + smooth f.
  const float hi = 1e-2f;          // wavelen 628 → kept
  const float lo = 1e-4f;          // wavelen 62832 → /8
  const float mid = 1.5e-3f;       // wavelen 4188.79 → smoothed
  auto out = rope_llama3_scale({hi, lo, mid}, s);
  EXPECT_FLOAT_EQ(out[0], 1e-2f);
  EXPECT_FLOAT_EQ(out[1], 1.25e-5f);
  const double wl = 2 * M_PI / 1.5e-3, smooth = (8192 / wl - 1) / 3.0;  // smooth = (1.95569 - 1) / 3 = 0.318565
  EXPECT_NEAR(smooth, 0.318565, 1e-5);
  EXPECT_NEAR(out[2], (1 - smooth) * 1.5e-3 / 8 + smooth * 1.5e-3, 1e-9);
}
