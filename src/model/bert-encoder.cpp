// BERT sentence encoder (see bert-encoder.h): config and weight loading with shape checks, the fp32 forward pass on
// the hand-written kernels (model/kernels.h, torch-free) — all tokens of a batch of texts as rows of one activation
// matrix, no padding, attention per text — mean pooling and L2 normalisation. Shapes: T tokens, H hidden, nH heads,
// D = H / nH head dim, I intermediate.
#include "model/bert-encoder.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <limits>
#include <mutex>
#include <thread>

#include "model/kernels.h"
#include "model/pool-ops.h"
#include "model/safetensors.h"
#include "model/work-pool.h"
#include "tokenizer/tokenizer.h"
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

using i64 = std::int64_t;

struct Linear {
  std::vector<float> weight, bias;  // [out, in], [out]
};

struct Norm {
  std::vector<float> weight, bias;  // [H]
};

struct Layer {
  Linear query, key, value, attn_out, inter, out;
  Norm attn_norm, out_norm;
};

struct Weights {
  std::vector<float> word, position, token_type;  // [V, H], [P, H], [Tv, H]
  Norm emb_norm;
  std::vector<Layer> layers;
};

class WeightTaker {
 public:
  WeightTaker(const WeightStore& ws, fs::path file) : ws_(ws), file_(std::move(file)) {
    // all-MiniLM-L6-v2 stores bare BertModel names; BertForX checkpoints prefix them with "bert.".
    if (!ws_.has("embeddings.word_embeddings.weight") && ws_.has("bert.embeddings.word_embeddings.weight"))
      prefix_ = "bert.";
  }
  std::vector<float> take(const std::string& name, std::vector<std::int64_t> shape) {
    if (!ws_.has(prefix_ + name))
      throw Error("tensor '" + prefix_ + name + "' is missing", error_location(file_.string()),
                  "expected HF BertModel weight names (optionally prefixed 'bert.'), as in all-MiniLM-L6-v2");
    TensorView v = ws_.get(prefix_ + name);
    if (v.info->shape != shape) {
      std::string want, got;
      for (auto d : shape) want += (want.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : v.info->shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
      throw Error("tensor '" + prefix_ + name + "' has shape [" + got + "], expected [" + want + "]",
                  error_location(file_.string()), "does config.json match the weights?");
    }
    return view_to_f32(v);
  }

 private:
  const WeightStore& ws_;
  fs::path file_;
  std::string prefix_;
};

Weights load_weights(const fs::path& dir, const BertConfig& c) {
  fs::path file = dir / "model.safetensors";
  if (!fs::exists(file) && !fs::exists(dir / "model.safetensors.index.json"))
    throw Error("model.safetensors not found", error_location(dir.string()),
                "the encoder reads safetensors weights (convert pytorch_model.bin first)");
  const WeightStore ws = WeightStore::open(dir);
  WeightTaker t(ws, file);
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

// LayerNorm of one row in place: (x − mean) / sqrt(var + eps) · weight + bias, statistics in float64.
void layer_norm_row(float* x, const Norm& n, i64 h, double eps) {
  double mean = 0, var = 0;
  for (i64 i = 0; i < h; ++i) mean += x[i];
  mean /= static_cast<double>(h);
  for (i64 i = 0; i < h; ++i) var += (x[i] - mean) * (x[i] - mean);
  const double r = 1.0 / std::sqrt(var / static_cast<double>(h) + eps);
  for (i64 i = 0; i < h; ++i) x[i] = static_cast<float>((x[i] - mean) * r) * n.weight[i] + n.bias[i];
}

// BERT's exact GELU: x · Φ(x) = x/2 · (1 + erf(x/√2)).
void gelu_erf_row(float* x, i64 n) {
  for (i64 i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * static_cast<float>(M_SQRT1_2)));
}

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
  std::unique_ptr<WorkPool> pool;
  mutable std::mutex mu;  // encode() is const and thread-safe; the pool runs one job at a time

  // The texts `order[begin, end)` (token ids, no padding: all their tokens are rows of one activation matrix, each
  // attending only to its own text) → unit vectors written to out rows order[i].
  void run_batch(const std::vector<std::vector<TokenId>>& ids, const std::vector<std::size_t>& order,
                 std::size_t begin, std::size_t end, float* out) const {
    const i64 H = config.hidden_size, nH = config.num_attention_heads, D = H / nH, I = config.intermediate_size;
    const double eps = config.layer_norm_eps;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    const kernels::WType f32 = kernels::WType::f32;
    std::vector<i64> row0;  // first row of each text
    i64 M = 0;
    for (std::size_t i = begin; i < end; ++i) {
      row0.push_back(M);
      M += static_cast<i64>(ids[order[i]].size());
    }
    std::vector<float> h(M * H), qkv(M * 3 * H), ctx(M * H), inter(M * I);
    WorkPool& wp = *pool;
    for (std::size_t b = 0; b < row0.size(); ++b) {
      const auto& row = ids[order[begin + b]];
      for (std::size_t t = 0; t < row.size(); ++t) {
        float* x = h.data() + (row0[b] + static_cast<i64>(t)) * H;
        const float* we = w.word.data() + static_cast<i64>(row[t]) * H;
        const float* pe = w.position.data() + static_cast<i64>(t) * H;
        for (i64 c = 0; c < H; ++c) x[c] = we[c] + pe[c] + w.token_type[c];
      }
    }
    for_rows(wp, M, 8 * H, [&](i64 r) { layer_norm_row(h.data() + r * H, w.emb_norm, H, eps); });
    for (const Layer& L : w.layers) {
      linear(wp, f32, M, H, h.data(),
             {{L.query.weight.data(), H, qkv.data(), 3 * H, L.query.bias.data(), false},
              {L.key.weight.data(), H, qkv.data() + H, 3 * H, L.key.bias.data(), false},
              {L.value.weight.data(), H, qkv.data() + 2 * H, 3 * H, L.value.bias.data(), false}});
      // self-attention per (text, head): scores = q·kᵀ/√D over the text's tokens, softmax, · v
      const i64 tasks = static_cast<i64>(row0.size()) * nH;
      auto attend = [&](i64 task) {
        thread_local std::vector<float> sc;
        const std::size_t b = static_cast<std::size_t>(task / nH);
        const i64 head = task % nH, T = static_cast<i64>(ids[order[begin + b]].size());
        const float* base = qkv.data() + row0[b] * 3 * H + head * D;
        sc.resize(static_cast<std::size_t>(T * T));
        kernels::gemm_nt(T, 0, T, D, base, 3 * H, base + H, f32, 3 * H, sc.data(), T, nullptr, false);
        for (i64 i = 0; i < T; ++i) {
          float* p = sc.data() + i * T;
          kernels::scale(p, T, scale);
          const float sum = kernels::exp_sum(p, T, kernels::max_of(p, T));
          kernels::scale(p, T, 1.0f / sum);
        }
        float* o = ctx.data() + row0[b] * H + head * D;
        for (i64 i = 0; i < T; ++i) std::fill(o + i * H, o + i * H + D, 0.0f);
        kernels::gemm_nn(T, D, T, sc.data(), T, base + 2 * H, f32, 3 * H, o, H);
      };
      wp.run(tasks, 1, [&](i64 b, i64 e) {
        for (i64 t = b; t < e; ++t) attend(t);
      });
      // h = LayerNorm(ctx·Woᵀ + bo + h); h = LayerNorm(gelu(h·Wiᵀ + bi)·Wo2ᵀ + bo2 + h)
      for_rows(wp, M, H, [&](i64 r) {
        for (i64 c = 0; c < H; ++c) h[r * H + c] += L.attn_out.bias[c];
      });
      linear(wp, f32, M, H, ctx.data(), {{L.attn_out.weight.data(), H, h.data(), H, nullptr, true}});
      for_rows(wp, M, 8 * H, [&](i64 r) { layer_norm_row(h.data() + r * H, L.attn_norm, H, eps); });
      linear(wp, f32, M, H, h.data(), {{L.inter.weight.data(), I, inter.data(), I, L.inter.bias.data(), false}});
      for_rows(wp, M, 30 * I, [&](i64 r) { gelu_erf_row(inter.data() + r * I, I); });
      for_rows(wp, M, H, [&](i64 r) {
        for (i64 c = 0; c < H; ++c) h[r * H + c] += L.out.bias[c];
      });
      linear(wp, f32, M, I, inter.data(), {{L.out.weight.data(), H, h.data(), H, nullptr, true}});
      for_rows(wp, M, 8 * H, [&](i64 r) { layer_norm_row(h.data() + r * H, L.out_norm, H, eps); });
    }
    // mean pooling over each text's tokens, then L2 normalisation
    for (std::size_t b = 0; b < row0.size(); ++b) {
      const i64 T = static_cast<i64>(ids[order[begin + b]].size());
      std::vector<double> acc(H, 0.0);
      for (i64 t = 0; t < T; ++t)
        for (i64 c = 0; c < H; ++c) acc[c] += h[(row0[b] + t) * H + c];
      double norm = 0;
      for (i64 c = 0; c < H; ++c) {
        acc[c] /= static_cast<double>(T);
        norm += acc[c] * acc[c];
      }
      norm = std::max(std::sqrt(norm), 1e-12);
      float* dst = out + order[begin + b] * H;
      for (i64 c = 0; c < H; ++c) dst[c] = static_cast<float>(acc[c] / norm);
    }
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
    if (sort_by_length)  // similar lengths share a batch (kept from the padded version: no effect on results)
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return ids[a].size() < ids[b].size(); });
    std::lock_guard lock(mu);
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
  m.pool = std::make_unique<WorkPool>(options.threads > 0 ? options.threads
                                                         : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
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
