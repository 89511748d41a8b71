// A BERT sentence encoder in the sentence-transformers/all-MiniLM-L6-v2 layout, as a retrieval::Encoder:
// WordPiece → [CLS] ids [SEP] (cut to max_seq_length) → BERT (post-LN, erf GELU, batched without padding,
// fp32 CPU on the hand-written kernels) → mean pooling over non-pad tokens → L2 normalisation, so inner product = cosine similarity.
// Reads config.json, model.safetensors (HF BertModel names, optional "bert." prefix; pooler ignored),
// vocab.txt and sentence_bert_config.json. Torch-free header (PIMPL). Not here: the pooler/CLS pooling,
// token-type segments (all 0), GPU, bf16.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "retrieval/retriever.h"

namespace ecpo::model {

// The config.json fields the encoder uses (HF BertConfig names).
struct BertConfig {
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t max_position_embeddings = 512;
  std::int64_t type_vocab_size = 2;
  double layer_norm_eps = 1e-12;
};

// Parses and validates config.json (hidden_act must be "gelu", hidden % heads == 0). Throws ecpo::Error.
BertConfig bert_config_load(const std::filesystem::path& config_json);

struct BertEncoderOptions {
  int threads = 0;              // threads of the encoder's work pool; <= 0 = hardware threads
  std::size_t batch_size = 32;  // texts per forward pass (sorted by length)
  int max_seq_length = 0;       // tokens incl. [CLS]/[SEP]; 0 = sentence_bert_config.json, else 256
};

class BertEncoder : public retrieval::Encoder {
 public:
  // Loads a model directory; throws ecpo::Error naming the file and tensor on any problem.
  static std::unique_ptr<BertEncoder> load(const std::filesystem::path& dir, const BertEncoderOptions& options = {});
  ~BertEncoder() override;

  std::size_t dim() const override;
  // [N, dim] row-major, each row unit-norm (an empty text encodes "[CLS] [SEP]"). Thread-safe.
  std::vector<float> encode(const std::vector<std::string>& texts) const override;
  // "bert:<directory name>".
  std::string name() const override;

  // [CLS] wordpiece-ids [SEP], truncated to max_seq_length().
  std::vector<std::int32_t> tokenize(const std::string& text) const;
  // Pooled, normalised vectors for already-tokenised inputs (each row must fit max_position_embeddings).
  std::vector<float> encode_ids(const std::vector<std::vector<std::int32_t>>& ids) const;

  const BertConfig& config() const;
  int max_seq_length() const;

 private:
  BertEncoder();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The entry point other modules use (the dense retriever takes any retrieval::Encoder).
std::unique_ptr<retrieval::Encoder> load_bert_encoder(const std::filesystem::path& dir,
                                                      const BertEncoderOptions& options = {});

}  // namespace ecpo::model
