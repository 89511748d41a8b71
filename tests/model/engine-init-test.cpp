// `model init` output against the specs: config.json keys, safetensors layout (8-byte aligned data, spaces as
// padding, tensors sorted by name, contiguous offsets, the exact tensor set of the config), determinism in the
// seed, tokenizer.json structure (256 GPT-2 byte tokens, merges, added tokens), loading it back.
#include "model/model-init.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "model/llama.h"
#include "model/safetensors.h"
#include "tokenizer/tokenizer.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

using namespace ecpo::model;

namespace {
std::set<std::string> expected_names(const HfConfig& c) {
  std::set<std::string> s = {"model.embed_tokens.weight", "model.norm.weight"};
  if (!c.tie_word_embeddings) s.insert("lm_head.weight");
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    for (const char* n : {"input_layernorm.weight", "post_attention_layernorm.weight", "self_attn.q_proj.weight",
                          "self_attn.k_proj.weight", "self_attn.v_proj.weight", "self_attn.o_proj.weight",
                          "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"})
      s.insert(p + n);
    if (c.is_qwen2())
      for (const char* n : {"self_attn.q_proj.bias", "self_attn.k_proj.bias", "self_attn.v_proj.bias"}) s.insert(p + n);
  }
  return s;
}

// Logits of a one-token sequence computed straight from the checkpoint with plain loops: with a single position
// causal attention's softmax is [1], so each layer's attention output is o_proj(v_proj(x)) (each query head
// reads its key/value group's v; RoPE does not touch v). Llama layout: RMSNorm (x / sqrt(mean(x²) + eps) · w),
// SiLU-gated MLP, tied or separate lm_head. Double precision throughout.
std::vector<double> reference_one_token(const std::filesystem::path& dir, const HfConfig& c, int token) {
  auto ws = WeightStore::open(dir);
  auto W = [&](const std::string& name) {
    std::vector<float> f = view_to_f32(ws.get(name));
    return std::vector<double>(f.begin(), f.end());
  };
  const std::size_t C = c.hidden_size, I = c.intermediate_size, H = c.num_attention_heads, KV = c.num_key_value_heads,
                    D = c.head_dim, V = c.vocab_size;
  auto matvec = [](const std::vector<double>& w, const std::vector<double>& x, std::size_t rows) {
    std::vector<double> y(rows, 0.0);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t k = 0; k < x.size(); ++k) y[r] += w[r * x.size() + k] * x[k];
    return y;
  };
  auto rmsnorm = [&](const std::vector<double>& x, const std::vector<double>& w) {
    double ms = 0;
    for (double v : x) ms += v * v / x.size();
    std::vector<double> y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] / std::sqrt(ms + c.rms_norm_eps) * w[i];
    return y;
  };
  const auto embed = W("model.embed_tokens.weight");
  std::vector<double> h(embed.begin() + token * C, embed.begin() + (token + 1) * C);
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    auto x = rmsnorm(h, W(p + "input_layernorm.weight"));
    auto v = matvec(W(p + "self_attn.v_proj.weight"), x, KV * D);
    if (ws.has(p + "self_attn.v_proj.bias")) {
      auto b = W(p + "self_attn.v_proj.bias");
      for (std::size_t i = 0; i < v.size(); ++i) v[i] += b[i];
    }
    std::vector<double> heads(H * D);
    for (std::size_t q = 0; q < H; ++q)
      for (std::size_t d = 0; d < D; ++d) heads[q * D + d] = v[(q / (H / KV)) * D + d];
    auto a = matvec(W(p + "self_attn.o_proj.weight"), heads, C);
    for (std::size_t i = 0; i < C; ++i) h[i] += a[i];
    x = rmsnorm(h, W(p + "post_attention_layernorm.weight"));
    auto g = matvec(W(p + "mlp.gate_proj.weight"), x, I), u = matvec(W(p + "mlp.up_proj.weight"), x, I);
    for (std::size_t i = 0; i < I; ++i) g[i] = g[i] / (1 + std::exp(-g[i])) * u[i];
    auto m = matvec(W(p + "mlp.down_proj.weight"), g, C);
    for (std::size_t i = 0; i < C; ++i) h[i] += m[i];
  }
  h = rmsnorm(h, W("model.norm.weight"));
  return matvec(c.tie_word_embeddings ? embed : W("lm_head.weight"), h, V);
}

}  // namespace

TEST(ModelInit, TinyLlamaDirectoryFollowsTheSpecs) {
  ecpo::test::TempDir dir;
  InitSpec spec = init_spec_preset("tiny", "llama");
  model_init(dir.path(), spec, 5);
  for (const char* f : {"config.json", "model.safetensors", "generation_config.json", "tokenizer.json", "tokenizer_config.json"})
    EXPECT_TRUE(std::filesystem::exists(dir / f)) << f;

  auto cfg = ecpo::read_json_file(dir / "config.json");
  EXPECT_EQ(cfg["architectures"], nlohmann::json::array({"LlamaForCausalLM"}));
  EXPECT_EQ(cfg["model_type"], "llama");
  EXPECT_EQ(cfg["torch_dtype"], "float32");
  EXPECT_TRUE(cfg.contains("transformers_version"));
  EXPECT_EQ(cfg["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(cfg["num_key_value_heads"], 2);
  EXPECT_EQ(cfg["vocab_size"], 512);
  EXPECT_EQ(cfg["bos_token_id"], 507);
  EXPECT_EQ(cfg["eos_token_id"], nlohmann::json::array({508, 511}));
  HfConfig c = HfConfig::load(dir.path());

  // safetensors layout, read as raw bytes
  const std::string raw = ecpo::read_file(dir / "model.safetensors");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(raw[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
  const std::string header = raw.substr(8, n);
  const std::size_t close = header.find_last_of('}');
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos);  // only spaces after the JSON
  EXPECT_LT(n - (close + 1), 8u);
  auto h = safetensors_parse(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size(), "init");
  std::vector<std::string> names;
  std::uint64_t pos = 0;
  for (const auto& t : h.tensors) {  // header order = name order = data order
    names.push_back(t.name);
    EXPECT_EQ(t.begin, pos) << t.name;
    EXPECT_EQ(t.dtype, "F32");
    pos = t.end;
  }
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), expected_names(c));
  std::int64_t params = 0;
  for (const auto& t : h.tensors) params += static_cast<std::int64_t>((t.end - t.begin) / 4);
  EXPECT_EQ(params, c.num_parameters());
  EXPECT_EQ(h.metadata.at("format"), "pt");

  // same seed → same bytes; another seed → other weights
  ecpo::test::TempDir again, other;
  model_init(again.path(), spec, 5);
  model_init(other.path(), spec, 6);
  EXPECT_EQ(ecpo::read_file(again / "model.safetensors"), raw);
  EXPECT_NE(ecpo::read_file(other / "model.safetensors"), raw);
  EXPECT_EQ(ecpo::read_file(again / "tokenizer.json"), ecpo::read_file(dir / "tokenizer.json"));

  // The initialised model runs, and computes what its weights say: for a one-token input attention weighs
  // that one position by 1, so the forward pass is closed-form (reference_one_token, plain loops over the
  // safetensors values, no engine code) and the engine's logits must match it.
  auto lm = CausalLM::load(dir.path(), {"float32", 1, {}});
  for (int token : {507, 3, 300}) {
    const std::vector<float> got = lm->logits_last({token});
    const std::vector<double> want = reference_one_token(dir.path(), c, token);
    ASSERT_EQ(got.size(), want.size());
    double max_diff = 0, max_abs = 0;
    for (std::size_t v = 0; v < want.size(); ++v) {
      max_diff = std::max(max_diff, std::abs(got[v] - want[v]));
      max_abs = std::max(max_abs, std::abs(want[v]));
    }
    EXPECT_LT(max_diff, 1e-4 * std::max(1.0, max_abs)) << "token " << token;
    // The scale the initialisation implies, by hand: each logit is a dot product of the final hidden state
    // (RMS ≈ 1 after the final norm, whose weights are 1 + 0.1·N) with a row of N(0, init_std²) entries, so
    // over the vocabulary its standard deviation is ≈ init_std·√C (0.15·8 = 1.2 for the tiny preset).
    double mean = 0, var = 0;
    for (double x : want) mean += x / want.size();
    for (double x : want) var += (x - mean) * (x - mean) / want.size();
    const double expected_sd = spec.init_std * std::sqrt(static_cast<double>(c.hidden_size));
    EXPECT_GT(std::sqrt(var), 0.75 * expected_sd) << token;
    EXPECT_LT(std::sqrt(var), 1.33 * expected_sd) << token;
  }
  // A longer prompt: finite logits that depend on the context.
  auto l3 = lm->logits_last({507, 1, 2});
  ASSERT_EQ(l3.size(), 512u);
  EXPECT_TRUE(std::all_of(l3.begin(), l3.end(), [](float x) { return std::isfinite(x); }));
  EXPECT_NE(l3, lm->logits_last({2}));
}

TEST(ModelInit, TokenizerJsonIsByteLevelBpe) {
  ecpo::test::TempDir dir;
  model_init(dir.path(), init_spec_preset("tiny", "llama"), 1);
  auto j = ecpo::read_json_file(dir / "tokenizer.json");
  const auto& m = j["model"];
  EXPECT_EQ(m["type"], "BPE");
  EXPECT_EQ(m["vocab"].size() + j["added_tokens"].size(), 512u);
  EXPECT_EQ(m["vocab"]["\xC4\xA0"], 32);  // 'Ġ' (U+0120) stands for the space byte
  EXPECT_EQ(m["vocab"]["A"], 65);
  EXPECT_EQ(m["vocab"]["\xC4\x80"], 0);   // 'Ā' (U+0100) stands for byte 0
  EXPECT_EQ(m["merges"].size(), 251u);
  for (const auto& mg : m["merges"]) {
    std::string s = mg.get<std::string>();
    auto sp = s.find(' ');
    ASSERT_NE(sp, std::string::npos);
    EXPECT_TRUE(m["vocab"].contains(s.substr(0, sp)) && m["vocab"].contains(s.substr(sp + 1)) &&
                m["vocab"].contains(s.substr(0, sp) + s.substr(sp + 1)))
        << s;
  }
  std::vector<std::string> added;
  for (const auto& a : j["added_tokens"]) {
    added.push_back(a["content"]);
    EXPECT_TRUE(a["special"].get<bool>());
  }
  EXPECT_EQ(added, (std::vector<std::string>{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                             "<|end_header_id|>", "<|eot_id|>"}));
  EXPECT_EQ(j["added_tokens"][0]["id"], 507);
  EXPECT_EQ(j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"], llama3_split_regex());

  // the project's tokenizer reads it back: text round-trips and BOS is prepended
  auto tok = ecpo::tok::load_tokenizer(dir.path());
  const std::string text = "The librarian recommended three books, and 42 readers agreed!";
  ecpo::tok::EncodeOptions eo;
  eo.add_special = true;
  auto ids = tok->encode(text, eo);
  ASSERT_FALSE(ids.empty());
  EXPECT_EQ(ids[0], 507);
  EXPECT_LT(ids.size(), text.size());  // merges actually compress
  EXPECT_EQ(tok->decode(ids, /*skip_special=*/true), text);
}

TEST(ModelInit, PresetsAndErrors) {
  InitSpec small = init_spec_preset("small", "llama");
  EXPECT_EQ(small.config.num_parameters(), 102255360);  // documented in model-init.h
  InitSpec q = init_spec_preset("tiny", "qwen2");
  EXPECT_TRUE(q.config.has_qkv_bias());
  EXPECT_EQ(q.special_tokens.front(), "<|endoftext|>");
  EXPECT_THROW(init_spec_preset("huge", "llama"), ecpo::Error);
  EXPECT_THROW(init_spec_preset("tiny", "gpt2"), ecpo::Error);
  // bf16 weights: half the bytes, and they load
  ecpo::test::TempDir dir;
  q.dtype = "BF16";
  model_init(dir.path(), q, 3);
  auto lm = CausalLM::load(dir.path(), {"float32", 1, {}});
  EXPECT_EQ(lm->config().torch_dtype, "bfloat16");
  EXPECT_EQ(lm->weight_bytes(), q.config.num_parameters() * 4);  // converted to float32 on load
}
