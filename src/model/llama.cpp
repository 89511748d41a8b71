// The Llama / Qwen2 decoder forward in libtorch, written out like a textbook (llm.c style): load HF-named
// weights → embed → N × (RMSNorm → attention with RoPE, GQA and a KV cache → residual → RMSNorm → SwiGLU MLP
// → residual) → RMSNorm → lm_head. fp32 is the reference path; bf16/fp16 run the same code in that dtype
// (norms, softmax and RoPE tables in fp32). Shapes: B batch, T new tokens, S keys (cache + new), C hidden,
// H heads, Hkv kv heads, D head dim, V vocab.
#include "model/llama.h"

#include <set>

#include <c10/core/InferenceMode.h>

#include "model/lora-adapter.h"
#include "model/rope.h"
#include "model/torch-util-impl.h"
#include "util/error.h"
#include "util/log.h"

namespace fs = std::filesystem;

namespace ecpo::model {

namespace {

struct Layer {
  torch::Tensor ln_in, ln_post;             // [C]
  torch::Tensor wq, wk, wv, wo;             // [H*D, C], [Hkv*D, C], [Hkv*D, C], [C, H*D]
  torch::Tensor bq, bk, bv, bo;             // biases or undefined
  torch::Tensor w_gate, w_up, w_down;       // [I, C], [I, C], [C, I]
  // Decode is memory-bound and op-count-bound: q/k/v and gate/up are fused at load into one matrix each
  // (rows stacked), so a token does 4 matrix-vector products per layer instead of 7. Same math.
  torch::Tensor w_qkv, b_qkv;               // [H*D + 2*Hkv*D, C], [H*D + 2*Hkv*D] or undefined
  torch::Tensor w_gate_up;                  // [2I, C]
};

// Per-layer key/value cache: [B, Hkv, capacity, D]; `len` slots filled.
struct KvCache {
  std::vector<torch::Tensor> k, v;
  std::int64_t len = 0, capacity = 0;
};

torch::Tensor rotate_half(const torch::Tensor& x) {
  auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

// y = x W^T + b. A single float32 row (decode) goes through BLAS gemv (torch::mv): measured ~1.8× the bandwidth
// of the gemm path torch::linear takes for M = 1 with OpenBLAS; bf16 keeps torch::linear (its mv is slower).
torch::Tensor linear_rows(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = torch::Tensor()) {
  if (x.scalar_type() == torch::kFloat && x.numel() == x.size(-1)) {
    std::vector<std::int64_t> sizes = x.sizes().vec();
    sizes.back() = w.size(0);
    torch::Tensor row = x.reshape({-1});
    return (b.defined() ? torch::addmv(b, w, row) : torch::mv(w, row)).view(sizes);
  }
  return torch::linear(x, w, b);
}

std::vector<float> to_vector(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

struct CausalLM::Impl {
  HfConfig cfg;
  torch::ScalarType dt = torch::kFloat;
  torch::Tensor embed, norm, lm_head;  // [V, C], [C], [V, C]
  std::vector<Layer> layers;
  torch::Tensor inv_freq;              // [D/2] float32
  std::int64_t weight_bytes = 0;
  const LoraAdapter* adapter = nullptr;  // set only during load_weights
  std::set<std::string> adapter_merged;  // module paths merged so far

  // --- loading ------------------------------------------------------------------------------------------

  torch::Tensor take(const WeightStore& ws, const std::string& name, std::vector<std::int64_t> shape) {
    TensorView v = ws.get(name);
    if (v.info->shape != shape) {
      auto fmt = [](const std::vector<std::int64_t>& s) {
        std::string o = "[";
        for (std::size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
        return o + "]";
      };
      throw Error("tensor '" + name + "' has shape " + fmt(v.info->shape) + ", config.json implies " + fmt(shape),
                  ws.origin().string(), "config.json and the weights disagree");
    }
    torch::Tensor t = tensor_from_view(v, dt);
    if (adapter && adaptable(name)) t = merge_lora(name.substr(0, name.size() - 7), v, t);
    weight_bytes += t.numel() * t.element_size();
    return t;
  }

  // Linear weights a LoRA A/B pair may adapt (embeddings use lora_embedding_A/B in PEFT; norms are vectors).
  static bool adaptable(const std::string& name) {
    const bool weight = name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    return weight && (name.find("_proj.") != std::string::npos || name == "lm_head.weight");
  }

  // W' = W + scale·(B @ A), in float32 from the file's values, cast to the compute dtype. `module` is the HF
  // module path ("model.layers.0.self_attn.q_proj"); merged before q/k/v and gate/up are fused.
  torch::Tensor merge_lora(const std::string& module, const TensorView& base, const torch::Tensor& w) {
    const LoraModule* m = adapter->find(module);
    if (!m) return w;
    const auto& ws = base.info->shape;  // [out, in]
    const auto &as = m->a.info->shape, &bs = m->b.info->shape;
    if (ws.size() != 2 || as[1] != ws[1] || bs[0] != ws[0]) {
      auto fmt = [](const std::vector<std::int64_t>& s) {
        std::string o = "[";
        for (std::size_t i = 0; i < s.size(); ++i) o += (i ? "," : "") + std::to_string(s[i]);
        return o + "]";
      };
      const bool a_bad = ws.size() != 2 || as[1] != ws[1];
      const std::string short_name = module.substr(module.rfind('.') + 1);
      throw Error("adapter key '" + (a_bad ? m->key_a : m->key_b) + "' has shape " + fmt(a_bad ? as : bs) +
                      " but " + module + ".weight is " + fmt(ws) + " (lora_A must be [r, " +
                      std::to_string(ws.back()) + "], lora_B [" + std::to_string(ws.front()) + ", r])",
                  adapter->weights_path().string(),
                  "adapter was trained for a different base model: " + short_name + " is " + fmt(ws) + ", " +
                      (a_bad ? "lora_A is " + fmt(as) : "lora_B is " + fmt(bs)));
    }
    torch::Tensor a = tensor_from_view(m->a, torch::kFloat), b = tensor_from_view(m->b, torch::kFloat);
    torch::Tensor w32 = tensor_from_view(base, torch::kFloat);
    w32.add_(torch::mm(b, a), adapter->config().scale());
    adapter_merged.insert(module);
    return w32.to(dt);
  }

  void load_weights(const WeightStore& ws) {
    const auto C = cfg.hidden_size, V = cfg.vocab_size, I = cfg.intermediate_size;
    const auto QD = cfg.num_attention_heads * cfg.head_dim, KD = cfg.num_key_value_heads * cfg.head_dim;
    embed = take(ws, "model.embed_tokens.weight", {V, C});
    norm = take(ws, "model.norm.weight", {C});
    if (cfg.tie_word_embeddings || !ws.has("lm_head.weight")) {
      if (!cfg.tie_word_embeddings)
        throw Error("lm_head.weight is missing and tie_word_embeddings is false", ws.origin().string(),
                    "set tie_word_embeddings: true in config.json if the head shares the embedding");
      lm_head = embed;
    } else {
      lm_head = take(ws, "lm_head.weight", {V, C});
    }
    for (std::int64_t l = 0; l < cfg.num_hidden_layers; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      Layer L;
      L.ln_in = take(ws, p + "input_layernorm.weight", {C});
      L.ln_post = take(ws, p + "post_attention_layernorm.weight", {C});
      L.wq = take(ws, p + "self_attn.q_proj.weight", {QD, C});
      L.wk = take(ws, p + "self_attn.k_proj.weight", {KD, C});
      L.wv = take(ws, p + "self_attn.v_proj.weight", {KD, C});
      L.wo = take(ws, p + "self_attn.o_proj.weight", {C, QD});
      if (cfg.has_qkv_bias()) {
        L.bq = take(ws, p + "self_attn.q_proj.bias", {QD});
        L.bk = take(ws, p + "self_attn.k_proj.bias", {KD});
        L.bv = take(ws, p + "self_attn.v_proj.bias", {KD});
      }
      if (cfg.has_o_bias()) L.bo = take(ws, p + "self_attn.o_proj.bias", {C});
      L.w_gate = take(ws, p + "mlp.gate_proj.weight", {I, C});
      L.w_up = take(ws, p + "mlp.up_proj.weight", {I, C});
      L.w_down = take(ws, p + "mlp.down_proj.weight", {C, I});
      L.w_qkv = torch::cat({L.wq, L.wk, L.wv}, 0);
      if (L.bq.defined()) L.b_qkv = torch::cat({L.bq, L.bk, L.bv}, 0);
      L.w_gate_up = torch::cat({L.w_gate, L.w_up}, 0);
      L.wq = L.wk = L.wv = L.bq = L.bk = L.bv = L.w_gate = L.w_up = torch::Tensor();  // keep only the fused copies
      layers.push_back(std::move(L));
    }
    std::vector<float> f = rope_inv_freq(cfg);
    inv_freq = torch::from_blob(f.data(), {static_cast<std::int64_t>(f.size())}, torch::kFloat).clone();
  }

  // --- forward ------------------------------------------------------------------------------------------

  // cos/sin [B, 1, T, D] in the compute dtype, from positions [B, T] (HF: emb = cat(freqs, freqs)).
  std::pair<torch::Tensor, torch::Tensor> rope_tables(const torch::Tensor& pos) const {
    torch::Tensor freqs = pos.to(torch::kFloat).unsqueeze(-1) * inv_freq;  // [B, T, D/2]
    torch::Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);        // [B, 1, T, D]
    return {emb.cos().to(dt), emb.sin().to(dt)};
  }

  // ids [B, T] (long), pos [B, T] (long), mask additive [B or 1, 1, T, S] or undefined, cache or null.
  // Returns float32 logits [B, T, V] (or [B, 1, V] when last_only).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& pos, const torch::Tensor& mask, KvCache* cache,
                        bool last_only) {
    const std::int64_t B = ids.size(0), T = ids.size(1);
    const std::int64_t H = cfg.num_attention_heads, Hkv = cfg.num_key_value_heads, D = cfg.head_dim;
    const double eps = cfg.rms_norm_eps;
    auto [cos, sin] = rope_tables(pos);
    torch::Tensor h = torch::embedding(embed, ids);  // [B, T, C]
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const Layer& L = layers[l];
      // attention block
      torch::Tensor x = rms_norm(h, L.ln_in, eps);
      torch::Tensor qkv = linear_rows(x, L.w_qkv, L.b_qkv);                              // [B, T, (H+2Hkv)D]
      torch::Tensor q = qkv.narrow(-1, 0, H * D).view({B, T, H, D}).transpose(1, 2);        // [B, H, T, D]
      torch::Tensor k = qkv.narrow(-1, H * D, Hkv * D).view({B, T, Hkv, D}).transpose(1, 2);  // [B, Hkv, T, D]
      torch::Tensor v = qkv.narrow(-1, (H + Hkv) * D, Hkv * D).view({B, T, Hkv, D}).transpose(1, 2);
      q = q * cos + rotate_half(q) * sin;
      k = k * cos + rotate_half(k) * sin;
      if (cache) {
        cache->k[l].narrow(2, cache->len, T).copy_(k);
        cache->v[l].narrow(2, cache->len, T).copy_(v);
        k = cache->k[l].narrow(2, 0, cache->len + T);
        v = cache->v[l].narrow(2, 0, cache->len + T);
      }
      torch::Tensor a = attention(q, k, v, mask);                 // [B, H, T, D]
      a = a.transpose(1, 2).reshape({B, T, H * D});
      h = h + linear_rows(a, L.wo, L.bo);
      // MLP block (SwiGLU)
      x = rms_norm(h, L.ln_post, eps);
      torch::Tensor gu = linear_rows(x, L.w_gate_up);                                   // [B, T, 2I]
      const std::int64_t I = gu.size(-1) / 2;
      torch::Tensor g = torch::silu(gu.narrow(-1, 0, I)) * gu.narrow(-1, I, I);
      h = h + linear_rows(g, L.w_down);
    }
    if (cache) cache->len += T;
    if (last_only) h = h.narrow(1, T - 1, 1);
    h = rms_norm(h, norm, eps);
    return linear_rows(h, lm_head).to(torch::kFloat);  // [B, T, V]
  }

  KvCache make_cache(std::int64_t B, std::int64_t capacity) const {
    KvCache c;
    c.capacity = capacity;
    auto opts = torch::TensorOptions().dtype(dt);
    for (std::size_t l = 0; l < layers.size(); ++l) {
      c.k.push_back(torch::zeros({B, cfg.num_key_value_heads, capacity, cfg.head_dim}, opts));
      c.v.push_back(torch::zeros({B, cfg.num_key_value_heads, capacity, cfg.head_dim}, opts));
    }
    return c;
  }

  void check_ids(const std::vector<int>& ids) const {
    if (ids.empty()) throw Error("empty token sequence", "model", "pass at least one id");
    for (int id : ids)
      if (id < 0 || id >= cfg.vocab_size)
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                        std::to_string(cfg.vocab_size) + ")",
                    "model", "the ids do not belong to this model's tokenizer");
  }

  static torch::Tensor ids_tensor(const std::vector<int>& ids) {
    std::vector<std::int64_t> v(ids.begin(), ids.end());
    return torch::from_blob(v.data(), {1, static_cast<std::int64_t>(v.size())}, torch::kLong).clone();
  }

  torch::Tensor full_logits(const std::vector<int>& ids, bool last_only) {
    check_ids(ids);
    const std::int64_t T = static_cast<std::int64_t>(ids.size());
    torch::Tensor pos = torch::arange(T, torch::kLong).unsqueeze(0);
    return forward(ids_tensor(ids), pos, causal_mask(T, T), nullptr, last_only);
  }
};

// -----------------------------------------------------------------------------------------------------------

CausalLM::CausalLM(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CausalLM::~CausalLM() = default;

std::unique_ptr<CausalLM> CausalLM::load(const fs::path& dir, const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = HfConfig::load(dir);
  std::string dtype = options.dtype;
  if (dtype == "auto") dtype = impl->cfg.torch_dtype == "bfloat16" ? "bfloat16" : "float32";
  impl->dt = torch_dtype_from_name(dtype);
  if (impl->dt == torch::kHalf)  // libtorch 1.13 has no CPU float16 matmul ("addmm_impl_cpu_" not implemented)
    throw Error("float16 compute is not supported on CPU", "--dtype", "use float32 or bfloat16 (fp16 weights load into either)");
  set_threads(options.threads);
  c10::InferenceMode guard;
  std::unique_ptr<LoraAdapter> adapter;
  if (!options.adapter_dir.empty()) {
    adapter = LoraAdapter::load(options.adapter_dir);
    impl->adapter = adapter.get();
  }
  impl->load_weights(WeightStore::open(dir));
  impl->adapter = nullptr;
  if (adapter)
    for (const auto& [module, m] : adapter->modules())
      if (!impl->adapter_merged.count(module))
        throw Error("adapter key '" + m.key_a + "' names module '" + module + "', which " + dir.string() +
                        " does not have as a linear layer",
                    adapter->weights_path().string(),
                    "adapter was trained for a different base model, or adapts a module the engine cannot merge "
                    "(only q/k/v/o/gate/up/down projections and an untied lm_head)");
  if (adapter)
    spdlog::debug("merged LoRA adapter {} ({} modules, scale {})", options.adapter_dir.string(),
                  adapter->modules().size(), adapter->config().scale());
  spdlog::debug("loaded {} ({} layers, {} params, {})", dir.string(), impl->cfg.num_hidden_layers,
                impl->cfg.num_parameters(), dtype);
  return std::unique_ptr<CausalLM>(new CausalLM(std::move(impl)));
}

const HfConfig& CausalLM::config() const { return impl_->cfg; }
std::int64_t CausalLM::weight_bytes() const { return impl_->weight_bytes; }

std::string CausalLM::dtype() const {
  switch (impl_->dt) {
    case torch::kBFloat16: return "bfloat16";
    case torch::kHalf: return "float16";
    default: return "float32";
  }
}

std::vector<float> CausalLM::logits_last(const std::vector<int>& ids) {
  c10::InferenceMode guard;
  return to_vector(impl_->full_logits(ids, true));
}

std::vector<std::vector<float>> CausalLM::logits_all(const std::vector<int>& ids) {
  c10::InferenceMode guard;
  torch::Tensor l = impl_->full_logits(ids, false)[0];  // [T, V]
  std::vector<std::vector<float>> out;
  for (std::int64_t t = 0; t < l.size(0); ++t) out.push_back(to_vector(l[t]));
  return out;
}

std::vector<std::vector<float>> CausalLM::logits_last_batch(const std::vector<std::vector<int>>& batch) {
  c10::InferenceMode guard;
  if (batch.empty()) return {};
  std::int64_t B = static_cast<std::int64_t>(batch.size()), S = 0;
  for (const auto& s : batch) {
    impl_->check_ids(s);
    S = std::max<std::int64_t>(S, static_cast<std::int64_t>(s.size()));
  }
  // Left padding: sequence b occupies columns [S - len_b, S); pads use id 0 and are masked as keys.
  torch::Tensor ids = torch::zeros({B, S}, torch::kLong), pos = torch::zeros({B, S}, torch::kLong);
  torch::Tensor valid = torch::zeros({B, S}, torch::kBool);
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& s = batch[b];
    const std::int64_t n = static_cast<std::int64_t>(s.size()), off = S - n;
    for (std::int64_t i = 0; i < n; ++i) {
      ids[b][off + i] = s[i];
      pos[b][off + i] = i;
    }
    valid.narrow(1, off, n).select(0, b).fill_(true);
  }
  // allowed(b, i, j) = j <= i and (key j real or j == i): a pad query sees itself only, so no row is empty.
  torch::Tensor causal = torch::ones({S, S}, torch::kBool).tril();
  torch::Tensor eye = torch::eye(S, torch::kBool);
  torch::Tensor allowed = causal.unsqueeze(0) & (valid.unsqueeze(1) | eye.unsqueeze(0));  // [B, S, S]
  torch::Tensor mask = torch::zeros({B, 1, S, S}, torch::kFloat)
                           .masked_fill(allowed.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  torch::Tensor l = impl_->forward(ids, pos, mask, nullptr, true);  // [B, 1, V]
  std::vector<std::vector<float>> out;
  for (std::int64_t b = 0; b < B; ++b) out.push_back(to_vector(l[b][0]));
  return out;
}

GenerateResult CausalLM::generate(const std::vector<int>& prompt, const GenerateParams& params,
                                  const TokenDecoder& decode) {
  c10::InferenceMode guard;
  Impl& m = *impl_;
  m.check_ids(prompt);
  const std::int64_t max_ctx = m.cfg.max_position_embeddings;
  std::vector<int> all;  // every id fed so far (for the no-cache path)
  KvCache cache;
  if (params.use_kv_cache) {
    std::int64_t cap = static_cast<std::int64_t>(prompt.size()) + std::max(params.max_tokens, 0);
    cache = m.make_cache(1, std::max<std::int64_t>(1, std::min(cap, max_ctx)));
  }
  StepFn step = [&](const std::vector<int>& new_ids) {
    m.check_ids(new_ids);
    if (!params.use_kv_cache) {
      all.insert(all.end(), new_ids.begin(), new_ids.end());
      return to_vector(m.full_logits(all, true));
    }
    const std::int64_t T = static_cast<std::int64_t>(new_ids.size()), S = cache.len + T;
    if (S > cache.capacity) throw Error("KV cache overflow", "generate");
    torch::Tensor pos = torch::arange(cache.len, S, torch::kLong).unsqueeze(0);
    torch::Tensor mask = T > 1 ? causal_mask(T, S) : torch::Tensor();
    return to_vector(m.forward(Impl::ids_tensor(new_ids), pos, mask, &cache, true));
  };
  return generate_loop(prompt, params, step, decode, m.cfg.eos_token_ids, max_ctx);
}

}  // namespace ecpo::model
