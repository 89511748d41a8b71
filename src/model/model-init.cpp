// Random HF model directories for tests, benches and smoke runs (see model-init.h). Torch-free.
#include "model/model-init.h"

#include <cmath>

#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/rng.h"

namespace fs = std::filesystem;

namespace ecpo::model {

namespace {

const std::vector<std::string> kLlama3Specials = {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                                                  "<|end_header_id|>", "<|eot_id|>"};
const std::vector<std::string> kChatMlSpecials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

const char* kLlama3ChatTemplate =
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}{%- if "
    "add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";
const char* kChatMlTemplate =
    "{%- for message in messages %}{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}";

// The named special tokens are the last ids of the vocabulary: BOS / EOS ids follow the vocabulary size.
void set_special_ids(InitSpec& s) {
  HfConfig& c = s.config;
  const std::int64_t n = c.vocab_size - static_cast<std::int64_t>(s.special_tokens.size());
  if (c.model_type == "llama") {
    c.bos_token_ids = {n};             // <|begin_of_text|>
    c.eos_token_ids = {n + 1, n + 4};  // <|end_of_text|>, <|eot_id|>
  } else {
    c.bos_token_ids = {n};             // <|endoftext|> (Qwen2 has no BOS in prompts; kept for completeness)
    c.eos_token_ids = {n, n + 2};      // <|endoftext|>, <|im_end|>
  }
}

}  // namespace

InitSpec init_spec_preset(const std::string& preset, const std::string& arch) {
  if (arch != "llama" && arch != "qwen2") throw Error("unknown --arch '" + arch + "'", "model init", "use llama or qwen2");
  InitSpec s;
  HfConfig& c = s.config;
  c.model_type = arch;
  c.architecture = arch == "llama" ? "LlamaForCausalLM" : "Qwen2ForCausalLM";
  s.special_tokens = arch == "llama" ? kLlama3Specials : kChatMlSpecials;
  if (preset == "tiny") {
    c.vocab_size = 512;
    c.hidden_size = 64;
    c.intermediate_size = 172;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.max_position_embeddings = 512;
    c.tie_word_embeddings = true;
    s.init_std = 0.15;  // large enough that attention patterns and logits differ visibly between positions
  } else if (preset == "small") {
    c.vocab_size = 8192;
    c.hidden_size = 768;
    c.intermediate_size = 2560;
    c.num_hidden_layers = 12;
    c.num_attention_heads = 12;
    c.num_key_value_heads = 4;
    c.max_position_embeddings = 2048;
    c.tie_word_embeddings = false;
    s.init_std = 0.02;
  } else {
    throw Error("unknown --preset '" + preset + "'", "model init", "use tiny or small");
  }
  c.head_dim = c.hidden_size / c.num_attention_heads;
  c.rms_norm_eps = 1e-5;
  if (arch == "llama") {
    c.rope_theta = 500000.0;  // Llama 3.x: theta 5e5 with llama3 frequency scaling
    c.rope_scaling.type = "llama3";
    c.rope_scaling.factor = 32.0;
    c.rope_scaling.low_freq_factor = 1.0;
    c.rope_scaling.high_freq_factor = 4.0;
    c.rope_scaling.original_max_position_embeddings = 8192;
  } else {
    c.rope_theta = 1000000.0;
    c.attention_bias = true;  // Qwen2: q/k/v biases
  }
  set_special_ids(s);
  c.torch_dtype = "float32";
  return s;
}

void apply_init_sizes(InitSpec& s, const InitSizes& z) {
  HfConfig& c = s.config;
  if (z.vocab > 0) c.vocab_size = z.vocab;
  if (z.hidden > 0) c.hidden_size = z.hidden;
  if (z.layers > 0) c.num_hidden_layers = z.layers;
  if (z.heads > 0) c.num_attention_heads = z.heads;
  if (z.kv_heads > 0) c.num_key_value_heads = z.kv_heads;
  else if (z.heads > 0 && c.num_key_value_heads > c.num_attention_heads) c.num_key_value_heads = c.num_attention_heads;
  if (z.intermediate > 0) c.intermediate_size = z.intermediate;
  if (z.max_positions > 0) c.max_position_embeddings = z.max_positions;
  if (z.tie >= 0) c.tie_word_embeddings = z.tie != 0;
  if (z.init_std > 0) s.init_std = z.init_std;
  if (z.embed_std > 0) s.embed_std = z.embed_std;
  const std::int64_t min_vocab = 256 + static_cast<std::int64_t>(s.special_tokens.size());
  if (c.vocab_size < min_vocab)
    throw Error("vocabulary of " + std::to_string(c.vocab_size) + " tokens is too small", "--vocab",
                "a byte-level BPE needs 256 byte tokens + " + std::to_string(s.special_tokens.size()) +
                    " special tokens: use at least " + std::to_string(min_vocab));
  if (c.hidden_size % c.num_attention_heads != 0)
    throw Error("hidden size " + std::to_string(c.hidden_size) + " is not a multiple of " +
                    std::to_string(c.num_attention_heads) + " heads", "--hidden/--heads", "e.g. --hidden 128 --heads 4");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    throw Error(std::to_string(c.num_attention_heads) + " heads do not split into " +
                    std::to_string(c.num_key_value_heads) + " kv heads", "--kv-heads", "use a divisor of --heads");
  if ((c.hidden_size / c.num_attention_heads) % 2 != 0)
    throw Error("head dimension " + std::to_string(c.hidden_size / c.num_attention_heads) + " is odd (RoPE rotates pairs)",
                "--hidden/--heads", "make hidden / heads even");
  if (c.num_hidden_layers < 1 || c.intermediate_size < 1 || c.max_position_embeddings < 2)
    throw Error("layers, intermediate size and max positions must be positive", "--layers/--intermediate/--max-positions");
  c.head_dim = c.hidden_size / c.num_attention_heads;
  set_special_ids(s);
}

std::vector<TensorData> init_weights(const InitSpec& spec, std::uint64_t seed) {
  const HfConfig& c = spec.config;
  const auto C = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
  const auto QD = c.num_attention_heads * c.head_dim, KD = c.num_key_value_heads * c.head_dim;
  struct Shape {
    std::string name;
    std::vector<std::int64_t> shape;
    int kind;  // 0 matrix/bias: N(0, init_std²); 1 norm: 1 + N(0, 0.1²); 2 embeddings: N(0, embed_std²)
  };
  std::vector<Shape> shapes = {{"model.embed_tokens.weight", {V, C}, 2}, {"model.norm.weight", {C}, 1}};
  if (!c.tie_word_embeddings) shapes.push_back({"lm_head.weight", {V, C}, 2});
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    shapes.push_back({p + "input_layernorm.weight", {C}, 1});
    shapes.push_back({p + "post_attention_layernorm.weight", {C}, 1});
    shapes.push_back({p + "self_attn.q_proj.weight", {QD, C}, 0});
    shapes.push_back({p + "self_attn.k_proj.weight", {KD, C}, 0});
    shapes.push_back({p + "self_attn.v_proj.weight", {KD, C}, 0});
    shapes.push_back({p + "self_attn.o_proj.weight", {C, QD}, 0});
    if (c.has_qkv_bias()) {
      shapes.push_back({p + "self_attn.q_proj.bias", {QD}, 0});
      shapes.push_back({p + "self_attn.k_proj.bias", {KD}, 0});
      shapes.push_back({p + "self_attn.v_proj.bias", {KD}, 0});
    }
    if (c.has_o_bias()) shapes.push_back({p + "self_attn.o_proj.bias", {C}, 0});
    shapes.push_back({p + "mlp.gate_proj.weight", {I, C}, 0});
    shapes.push_back({p + "mlp.up_proj.weight", {I, C}, 0});
    shapes.push_back({p + "mlp.down_proj.weight", {C, I}, 0});
  }
  std::sort(shapes.begin(), shapes.end(), [](const Shape& a, const Shape& b) { return a.name < b.name; });
  Rng normal(seed);  // Box–Muller normals from our own uniform: identical on every platform
  const double embed_std = spec.embed_std > 0 ? spec.embed_std : spec.init_std;
  std::vector<TensorData> out;
  for (const auto& s : shapes) {
    std::int64_t n = 1;
    for (auto d : s.shape) n *= d;
    std::vector<float> v(static_cast<std::size_t>(n));
    const double std = s.kind == 2 ? embed_std : spec.init_std;
    for (auto& x : v) x = s.kind == 1 ? static_cast<float>(1.0 + 0.1 * normal.normal()) : static_cast<float>(std * normal.normal());
    out.push_back({s.name, spec.dtype, s.shape, pack_floats(v, spec.dtype)});
  }
  return out;
}

void model_init(const fs::path& out_dir, const InitSpec& spec0, std::uint64_t seed, const std::string& corpus_in) {
  InitSpec spec = spec0;
  HfConfig& c = spec.config;
  c.torch_dtype = spec.dtype == "BF16" ? "bfloat16" : spec.dtype == "F16" ? "float16" : "float32";
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) throw Error("cannot create directory: " + ec.message(), out_dir.string());

  nlohmann::json cfg = c.to_json();
  cfg["initializer_range"] = spec.init_std;
  if (spec.embed_std > 0 && spec.embed_std != spec.init_std) cfg["embedding_init_std"] = spec.embed_std;
  write_json_file(out_dir / "config.json", cfg);

  nlohmann::json gen;
  gen["_from_model_config"] = true;
  gen["bos_token_id"] = cfg["bos_token_id"];
  gen["eos_token_id"] = c.eos_token_ids;
  gen["transformers_version"] = cfg["transformers_version"];
  write_json_file(out_dir / "generation_config.json", gen);

  const std::string corpus = corpus_in.empty() ? bpe_default_corpus() : corpus_in;
  const int n_bpe = static_cast<int>(c.vocab_size) - static_cast<int>(spec.special_tokens.size());
  BpeVocab vocab = bpe_train(corpus, n_bpe);
  // When the corpus runs out of merges, fill the gap with reserved special tokens (as Llama 3 does).
  std::vector<std::string> specials;
  for (int i = static_cast<int>(vocab.tokens.size()); i < n_bpe; ++i)
    specials.push_back("<|reserved_special_token_" + std::to_string(i - static_cast<int>(vocab.tokens.size())) + "|>");
  // (reserved tokens come first so the named specials keep their ids at the end of the vocabulary)
  specials.insert(specials.end(), spec.special_tokens.begin(), spec.special_tokens.end());
  const bool llama = c.model_type == "llama";
  const std::string bos = llama ? spec.special_tokens[0] : "";
  write_json_file(out_dir / "tokenizer.json", bpe_tokenizer_json(vocab, specials, bos));

  nlohmann::json tc;
  nlohmann::json added = nlohmann::json::object();
  for (std::size_t i = 0; i < specials.size(); ++i)
    added[std::to_string(vocab.tokens.size() + i)] = {{"content", specials[i]}, {"lstrip", false},
                                                      {"normalized", false}, {"rstrip", false},
                                                      {"single_word", false}, {"special", true}};
  tc["added_tokens_decoder"] = added;
  tc["bos_token"] = llama ? nlohmann::json(bos) : nlohmann::json(nullptr);
  tc["chat_template"] = llama ? kLlama3ChatTemplate : kChatMlTemplate;
  tc["clean_up_tokenization_spaces"] = false;
  tc["eos_token"] = llama ? "<|eot_id|>" : "<|im_end|>";
  tc["model_input_names"] = {"input_ids", "attention_mask"};
  tc["model_max_length"] = c.max_position_embeddings;
  tc["pad_token"] = llama ? "<|end_of_text|>" : "<|endoftext|>";
  tc["tokenizer_class"] = "PreTrainedTokenizerFast";
  write_json_file(out_dir / "tokenizer_config.json", tc);

  safetensors_write(out_dir / "model.safetensors", init_weights(spec, seed), {{"format", "pt"}});
}

}  // namespace ecpo::model
