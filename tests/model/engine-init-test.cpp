// `model init` output against the specs: config.json keys, safetensors layout (8-byte aligned data, spaces as
// padding, tensors sorted by name, contiguous offsets, the exact tensor set of the config), determinism in the
// seed, tokenizer.json structure (256 GPT-2 byte tokens, merges, added tokens), loading it back.
#include "model/model-init.h"

#include <algorithm>
#include <set>

#include "model/llama.h"
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

  auto lm = CausalLM::load(dir.path(), {"float32", 1, {}});
  EXPECT_EQ(lm->logits_last({507, 1, 2}).size(), 512u);
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
