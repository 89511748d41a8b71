// BERT sentence encoder (see bert-encoder.h): config and weight loading with shape checks, the fp32 forward
// pass written with plain torch ops, mean pooling and L2 normalisation. Shapes: B batch, T tokens,
// H hidden, nH heads, D = H / nH head dim, I intermediate. Only this file and tests include torch for it.
#include "model/bert-encoder.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <limits>

#include "tokenizer/tokenizer.h"
#include "model/torch-util-impl.h"  // <torch/types.h>: tensors and ops, no nn modules
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

namespace ecpo::model {

using tok::TokenId;

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------------------------------
// config

BertConfig bert_config_load(const fs::path& config_json) {
  require_exists(config_json, "BERT config.json", "a sentence-transformers model directory holds config.json");
  json j = read_json_file(config_json);
  const std::string where = error_location(config_json.string());
  BertConfig c;
  auto get_int = [&](const char* key, std::int64_t& out, bool required) {
    if (!j.contains(key)) {
      if (required) throw Error(std::string("config.json lacks '") + key + "'", where, "is this a BERT config?");
      return;
    }
    if (!j[key].is_number_integer() || j[key].get<std::int64_t>() <= 0)
      throw Error(std::string("config.json '") + key + "' must be a positive integer", where);
    out = j[key].get<std::int64_t>();
  };
  get_int("vocab_size", c.vocab_size, true);
  get_int("hidden_size", c.hidden_size, true);
  get_int("num_hidden_layers", c.num_hidden_layers, true);
  get_int("num_attention_heads", c.num_attention_heads, true);
  get_int("intermediate_size", c.intermediate_size, true);
  get_int("max_position_embeddings", c.max_position_embeddings, false);
  get_int("type_vocab_size", c.type_vocab_size, false);
  if (j.contains("layer_norm_eps")) {
    if (!j["layer_norm_eps"].is_number()) throw Error("config.json 'layer_norm_eps' must be a number", where);
    c.layer_norm_eps = j["layer_norm_eps"].get<double>();
  }
  if (j.contains("hidden_act") && j["hidden_act"] != "gelu")
    throw Error("hidden_act " + j["hidden_act"].dump() + " is not supported", where,
                "the encoder implements BERT's erf GELU ('gelu') only");
  if (j.contains("position_embedding_type") && j["position_embedding_type"] != "absolute")
    throw Error("position_embedding_type " + j["position_embedding_type"].dump() + " is not supported", where,
                "only absolute position embeddings (BERT, MiniLM) are implemented");
  if (c.hidden_size % c.num_attention_heads != 0)
    throw Error("hidden_size " + std::to_string(c.hidden_size) + " is not a multiple of num_attention_heads " +
                    std::to_string(c.num_attention_heads),
                where);
  return c;
}

// ---------------------------------------------------------------------------------------------------
// weights

namespace {

struct Linear {
  torch::Tensor weight, bias;  // [out, in], [out]
  torch::Tensor operator()(const torch::Tensor& x) const { return torch::addmm(bias, x.reshape({-1, x.size(-1)}), weight.t()).view(out_shape(x)); }
  std::vector<std::int64_t> out_shape(const torch::Tensor& x) const {
    std::vector<std::int64_t> s(x.sizes().begin(), x.sizes().end());
    s.back() = weight.size(0);
    return s;
  }
};

struct Norm {
  torch::Tensor weight, bias;  // [H]
};

struct Layer {
  Linear query, key, value, attn_out, inter, out;
  Norm attn_norm, out_norm;
};

struct Weights {
  torch::Tensor word, position, token_type;  // [V, H], [P, H], [Tv, H]
  Norm emb_norm;
  std::vector<Layer> layers;
};

class WeightTaker {
 public:
  WeightTaker(std::map<std::string, torch::Tensor> all, fs::path file) : all_(std::move(all)), file_(std::move(file)) {
    // all-MiniLM-L6-v2 stores bare BertModel names; BertForX checkpoints prefix them with "bert.".
    if (!all_.count("embeddings.word_embeddings.weight") && all_.count("bert.embeddings.word_embeddings.weight"))
      prefix_ = "bert.";
  }
  torch::Tensor take(const std::string& name, std::vector<std::int64_t> shape) {
    auto it = all_.find(prefix_ + name);
    if (it == all_.end())
      throw Error("tensor '" + prefix_ + name + "' is missing", error_location(file_.string()),
                  "expected HF BertModel weight names (optionally prefixed 'bert.'), as in all-MiniLM-L6-v2");
    if (it->second.sizes().vec() != shape) {
      std::string want, got;
      for (auto d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : it->second.sizes()) got += (got.empty() ? "" : ", ") + std::to_string(d);
      throw Error("tensor '" + prefix_ + name + "' has shape [" + got + "], expected [" + want + "]",
                  error_location(file_.string()), "does config.json match the weights?");
    }
    return it->second.contiguous();
  }

 private:
  std::map<std::string, torch::Tensor> all_;
  fs::path file_;
  std::string prefix_;
};

Weights load_weights(const fs::path& dir, const BertConfig& c) {
  fs::path file = dir / "model.safetensors";
  if (!fs::exists(file) && !fs::exists(dir / "model.safetensors.index.json"))
    throw Error("model.safetensors not found", error_location(dir.string()),
                "the encoder reads safetensors weights (convert pytorch_model.bin first)");
  WeightTaker t(load_safetensors(dir, torch::kFloat), file);
  const std::int64_t H = c.hidden_size, I = c.intermediate_size;
  Weights w;
  w.word = t.take("embeddings.word_embeddings.weight", {c.vocab_size, H});
  w.position = t.take("embeddings.position_embeddings.weight", {c.max_position_embeddings, H});
  w.token_type = t.take("embeddings.token_type_embeddings.weight", {c.type_vocab_size, H});
  w.emb_norm = {t.take("embeddings.LayerNorm.weight", {H}), t.take("embeddings.LayerNorm.bias", {H})};
  for (std::int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "encoder.layer." + std::to_string(l) + ".";
    auto lin = [&](const std::string& n, std::int64_t out, std::int64_t in) {
      return Linear{t.take(p + n + ".weight", {out, in}), t.take(p + n + ".bias", {out})};
    };
    auto norm = [&](const std::string& n) { return Norm{t.take(p + n + ".weight", {H}), t.take(p + n + ".bias", {H})}; };
    Layer L;
    L.query = lin("attention.self.query", H, H);
    L.key = lin("attention.self.key", H, H);
    L.value = lin("attention.self.value", H, H);
    L.attn_out = lin("attention.output.dense", H, H);
    L.attn_norm = norm("attention.output.LayerNorm");
    L.inter = lin("intermediate.dense", I, H);
    L.out = lin("output.dense", H, I);
    L.out_norm = norm("output.LayerNorm");
    w.layers.push_back(std::move(L));
  }
  return w;
}

torch::Tensor layer_norm(const torch::Tensor& x, const Norm& n, double eps) {
  return torch::layer_norm(x, {x.size(-1)}, n.weight, n.bias, eps);
}

torch::Tensor gelu_erf(const torch::Tensor& x) { return x * 0.5 * (1.0 + torch::erf(x * M_SQRT1_2)); }

}  // namespace

// ---------------------------------------------------------------------------------------------------
// encoder

struct BertEncoder::Impl {
  BertConfig config;
  Weights w;
  std::unique_ptr<tok::Tokenizer> tokenizer;
  TokenId cls = 0, sep = 0, pad = 0;
  int max_seq_length = 256;
  std::size_t batch_size = 32;
  std::string name;

  // ids [B, T] (padded), mask [B, T] 1 = token → unit vectors [B, H].
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask) const {
    const std::int64_t B = ids.size(0), T = ids.size(1), H = config.hidden_size;
    const std::int64_t nH = config.num_attention_heads, D = H / nH;
    const double eps = config.layer_norm_eps;
    torch::Tensor h = w.word.index_select(0, ids.reshape({-1})).view({B, T, H}) +
                      w.position.slice(0, 0, T).unsqueeze(0) + w.token_type[0].view({1, 1, H});
    h = layer_norm(h, w.emb_norm, eps);
    // Additive key mask [B, 1, 1, T]: 0 keeps, -inf drops padding keys (every row keeps [CLS]).
    torch::Tensor add_mask =
        torch::zeros({B, 1, 1, T}).masked_fill(mask.view({B, 1, 1, T}) == 0, -std::numeric_limits<float>::infinity());
    auto heads = [&](const torch::Tensor& x) { return x.view({B, T, nH, D}).transpose(1, 2); };  // [B, nH, T, D]
    for (const Layer& L : w.layers) {
      torch::Tensor ctx = attention(heads(L.query(h)), heads(L.key(h)), heads(L.value(h)), add_mask);
      ctx = ctx.transpose(1, 2).reshape({B, T, H});
      h = layer_norm(L.attn_out(ctx) + h, L.attn_norm, eps);
      h = layer_norm(L.out(gelu_erf(L.inter(h))) + h, L.out_norm, eps);
    }
    torch::Tensor m = mask.unsqueeze(-1);                                   // [B, T, 1]
    torch::Tensor pooled = (h * m).sum(1) / m.sum(1).clamp_min(1e-9);       // [B, H]
    return pooled / pooled.norm(2, 1, /*keepdim=*/true).clamp_min(1e-12);   // [B, H]
  }

  // Rows of `ids` selected by `order[begin, end)`, padded into one batch; writes vectors into out.
  void run_batch(const std::vector<std::vector<TokenId>>& ids, const std::vector<std::size_t>& order,
                 std::size_t begin, std::size_t end, float* out) const {
    const std::int64_t B = static_cast<std::int64_t>(end - begin);
    std::int64_t T = 1;
    for (std::size_t i = begin; i < end; ++i) T = std::max<std::int64_t>(T, ids[order[i]].size());
    torch::Tensor tid = torch::full({B, T}, static_cast<std::int64_t>(pad), torch::kLong);
    torch::Tensor mask = torch::zeros({B, T}, torch::kFloat);
    auto ta = tid.accessor<std::int64_t, 2>();
    auto ma = mask.accessor<float, 2>();
    for (std::int64_t b = 0; b < B; ++b) {
      const auto& row = ids[order[begin + b]];
      for (std::size_t t = 0; t < row.size(); ++t) {
        ta[b][t] = row[t];
        ma[b][t] = 1.0f;
      }
    }
    torch::Tensor v = forward(tid, mask).contiguous();
    const std::size_t H = static_cast<std::size_t>(config.hidden_size);
    const float* src = v.data_ptr<float>();
    for (std::int64_t b = 0; b < B; ++b) std::copy(src + b * H, src + (b + 1) * H, out + order[begin + b] * H);
  }

  std::vector<float> encode_ids(const std::vector<std::vector<TokenId>>& ids, bool sort_by_length) const {
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i].empty()) throw Error("input " + std::to_string(i) + " has no tokens", "bert encoder",
                                      "tokenize() adds [CLS] and [SEP]; pass at least those");
      if (static_cast<std::int64_t>(ids[i].size()) > config.max_position_embeddings)
        throw Error("input " + std::to_string(i) + " has " + std::to_string(ids[i].size()) +
                        " tokens, more than max_position_embeddings " + std::to_string(config.max_position_embeddings),
                    "bert encoder", "truncate it (tokenize() does)");
      for (TokenId t : ids[i])
        if (t < 0 || t >= config.vocab_size)
          throw Error("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                          std::to_string(config.vocab_size) + ")",
                      "bert encoder", "does vocab.txt match config.json vocab_size?");
    }
    std::vector<float> out(ids.size() * static_cast<std::size_t>(config.hidden_size));
    std::vector<std::size_t> order(ids.size());
    std::iota(order.begin(), order.end(), 0);
    if (sort_by_length)  // similar lengths share a batch → less padding
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return ids[a].size() < ids[b].size(); });
    at::NoGradGuard no_grad;
    for (std::size_t begin = 0; begin < order.size(); begin += batch_size)
      run_batch(ids, order, begin, std::min(order.size(), begin + batch_size), out.data());
    return out;
  }

  std::vector<TokenId> tokenize(const std::string& text) const {
    std::vector<TokenId> body = tokenizer->encode(text);
    const std::size_t room = static_cast<std::size_t>(max_seq_length - 2);
    if (body.size() > room) body.resize(room);
    std::vector<TokenId> ids;
    ids.reserve(body.size() + 2);
    ids.push_back(cls);
    ids.insert(ids.end(), body.begin(), body.end());
    ids.push_back(sep);
    return ids;
  }
};

BertEncoder::BertEncoder() : impl_(std::make_unique<Impl>()) {}
BertEncoder::~BertEncoder() = default;

std::unique_ptr<BertEncoder> BertEncoder::load(const fs::path& dir, const BertEncoderOptions& options) {
  require_exists(dir, "encoder model directory", "pass a sentence-transformers directory (all-MiniLM-L6-v2 layout)");
  std::unique_ptr<BertEncoder> enc(new BertEncoder());
  Impl& m = *enc->impl_;
  m.config = bert_config_load(dir / "config.json");
  if (options.threads >= 0) set_threads(options.threads);
  m.batch_size = std::max<std::size_t>(1, options.batch_size);

  // Tokenizer: vocab.txt (WordPiece) when present, else whatever load_tokenizer finds in the directory.
  fs::path vocab = dir / "vocab.txt";
  m.tokenizer = tok::load_tokenizer(fs::exists(vocab) ? vocab : dir);
  auto special = [&](const char* tok) {
    auto id = m.tokenizer->token_to_id(tok);
    if (!id) throw Error(std::string("the vocabulary has no ") + tok + " token", error_location(vocab.string()),
                         "a BERT WordPiece vocab.txt holds [PAD], [UNK], [CLS], [SEP]");
    return *id;
  };
  m.cls = special("[CLS]");
  m.sep = special("[SEP]");
  m.pad = m.tokenizer->token_to_id("[PAD]").value_or(0);
  if (static_cast<std::int64_t>(m.tokenizer->vocab_size()) > m.config.vocab_size)
    throw Error("vocabulary has " + std::to_string(m.tokenizer->vocab_size()) + " tokens but config.json vocab_size is " +
                    std::to_string(m.config.vocab_size),
                error_location(vocab.string()), "vocab.txt and config.json come from different models?");

  // max_seq_length: option, else sentence_bert_config.json, else 256; never beyond the position table.
  int msl = 256;
  if (fs::path sb = dir / "sentence_bert_config.json"; fs::exists(sb)) {
    json j = read_json_file(sb);
    if (j.contains("max_seq_length")) {
      if (!j["max_seq_length"].is_number_integer() || j["max_seq_length"].get<int>() < 2)
        throw Error("max_seq_length must be an integer >= 2", error_location(sb.string()));
      msl = j["max_seq_length"].get<int>();
    }
  }
  if (options.max_seq_length > 0) msl = options.max_seq_length;
  if (msl < 2) throw Error("max_seq_length must be >= 2 (room for [CLS] and [SEP])", "bert encoder");
  m.max_seq_length = static_cast<int>(std::min<std::int64_t>(msl, m.config.max_position_embeddings));

  m.w = load_weights(dir, m.config);
  fs::path named = dir;
  if (named.filename().empty()) named = named.parent_path();
  m.name = "bert:" + named.filename().string();
  return enc;
}

std::size_t BertEncoder::dim() const { return static_cast<std::size_t>(impl_->config.hidden_size); }

std::vector<float> BertEncoder::encode(const std::vector<std::string>& texts) const {
  std::vector<std::vector<TokenId>> ids;
  ids.reserve(texts.size());
  for (const auto& t : texts) ids.push_back(impl_->tokenize(t));
  return impl_->encode_ids(ids, /*sort_by_length=*/true);
}

std::string BertEncoder::name() const { return impl_->name; }

std::vector<std::int32_t> BertEncoder::tokenize(const std::string& text) const { return impl_->tokenize(text); }

std::vector<float> BertEncoder::encode_ids(const std::vector<std::vector<std::int32_t>>& ids) const {
  return impl_->encode_ids(ids, /*sort_by_length=*/false);
}

const BertConfig& BertEncoder::config() const { return impl_->config; }
int BertEncoder::max_seq_length() const { return impl_->max_seq_length; }

std::unique_ptr<retrieval::Encoder> load_bert_encoder(const fs::path& dir, const BertEncoderOptions& options) {
  return BertEncoder::load(dir, options);
}

}  // namespace ecpo::model
