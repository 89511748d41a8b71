// `ecpo model init`: writes a randomly initialised Hugging Face model directory, torch-free:
// config.json (exact HF keys), model.safetensors (spec-exact, tensors sorted by name), generation_config.json,
// tokenizer.json (byte-level BPE trained on resources/model/bpe-corpus.txt) and tokenizer_config.json.
// Presets: tiny (vocab 512, hidden 64, 2 layers, 4 heads / 2 kv heads, intermediate 172, tied embeddings)
// and small (vocab 8192, hidden 768, 12 layers, 12 / 4 heads, intermediate 2560, untied: 102,255,360 params);
// any size can be overridden (InitSizes). The BPE corpus may be plain text or JSONL rows (chat rows, pairs):
// then the message texts are the corpus, so a student's vocabulary fits the prompts it will be trained on.
// Weights: N(0, init_std²) for matrices, N(0, embed_std²) for embeddings / lm_head; norm weights 1 + N(0, 0.1²)
// and biases N(0, init_std²) (not HF's ones/zeros) so tests notice a norm or bias that is dropped.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/hf-config.h"
#include "model/safetensors.h"

namespace ecpo::model {

struct InitSpec {
  HfConfig config;
  double init_std = 0.02;
  double embed_std = -1;      // embeddings and lm_head; < 0: init_std
  std::string dtype = "F32";  // safetensors dtype of the weights: F32 | BF16 | F16
  std::vector<std::string> special_tokens;  // appended after the BPE tokens, last ids of the vocabulary
};

// preset: "tiny" | "small"; arch: "llama" | "qwen2". Throws ecpo::Error for unknown names.
InitSpec init_spec_preset(const std::string& preset, const std::string& arch);

// Size overrides on top of a preset (0 / negative: keep the preset's value).
struct InitSizes {
  std::int64_t vocab = 0, hidden = 0, layers = 0, heads = 0, kv_heads = 0, intermediate = 0, max_positions = 0;
  int tie = -1;  // 0 untied, 1 tied embeddings, -1 keep
  double init_std = -1, embed_std = -1;
};
// Applies `sizes` to `spec` and recomputes head_dim and the special token ids (the last ids of the vocabulary).
// Throws ecpo::Error naming the flag for sizes that cannot form a model (hidden not divisible by heads, ...).
void apply_init_sizes(InitSpec& spec, const InitSizes& sizes);

// Random weights with HF names for `spec.config` (deterministic in `seed`).
std::vector<TensorData> init_weights(const InitSpec& spec, std::uint64_t seed);

// Writes the whole directory (created if missing; existing files replaced). `corpus` is the BPE training text;
// empty → resources/model/bpe-corpus.txt found next to the source tree or the binary.
void model_init(const std::filesystem::path& out_dir, const InitSpec& spec, std::uint64_t seed,
                const std::string& corpus = {});

// --- byte-level BPE vocabulary (model-init-bpe.cpp) ------------------------------------------------------

struct BpeVocab {
  std::vector<std::string> tokens;  // id → token in GPT-2 byte-to-unicode form (first 256: single bytes)
  std::vector<std::pair<std::string, std::string>> merges;  // in rank order
};

// GPT-2 bytes_to_unicode: byte → the UTF-8 string of its printable stand-in code point.
const std::vector<std::string>& byte_to_unicode();
// Trains `n_tokens - 256` merges (or fewer when the corpus runs out of pairs) over `corpus`, pre-split into
// words the way the Llama-3 regex splits ASCII text. Deterministic: ties broken by the smaller pair.
BpeVocab bpe_train(const std::string& corpus, int n_tokens);
// HF tokenizer.json for `vocab` + special tokens at ids [vocab.tokens.size(), ...); llama3 pre-tokenizer regex.
// bos_token (may be empty) is prepended by the post-processor like Llama 3.
nlohmann::json bpe_tokenizer_json(const BpeVocab& vocab, const std::vector<std::string>& special_tokens,
                                  const std::string& bos_token);
// The Llama-3 pre-tokenizer regex.
const std::string& llama3_split_regex();
// The BPE corpus in `file`: plain text as is; a JSONL file (every non-empty line a JSON object) contributes the
// strings under content / text / prompt / chosen / rejected / completion / instruction / input / output keys,
// one per line (chat rows, DPO pairs, alpaca rows). Throws ecpo::Error naming the file when it is missing/empty.
std::string bpe_corpus_from_file(const std::filesystem::path& file);
// Reads resources/model/bpe-corpus.txt (searching ECPO_RESOURCES, the source tree and next to the binary).
std::string bpe_default_corpus();

}  // namespace ecpo::model
