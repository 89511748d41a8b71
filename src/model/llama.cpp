// The Llama / Qwen2 decoder forward in libtorch, written out like a textbook (llm.c style): load HF-named
// weights → embed → N × (RMSNorm → attention with RoPE, GQA and a KV cache → residual → RMSNorm → SwiGLU MLP
// → residual) → RMSNorm → lm_head. fp32 is the reference path; bf16/fp16 run the same code in that dtype
// (norms, softmax and RoPE tables in fp32). Shapes: B batch, T new tokens, S keys (cache + new), C hidden,
// H heads, Hkv kv heads, D head dim, V vocab.
#include "model/llama.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <c10/core/InferenceMode.h>

#include "model/decode-kernels.h"
#include "model/lora-adapter.h"
#include "model/rope.h"
#include "model/torch-util-impl.h"
#include "model/work-pool.h"
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
  // Single-token decode on hand-written kernels (decode_one); off → every step runs forward() (torch ops).
  bool fast_decode = true;
  std::unique_ptr<WorkPool> pool;  // decode's matrix-vector threads (options.threads participants)
  struct LayerF32 {
    std::vector<float> ln_in, ln_post, b_qkv, bo;  // float32 copies of the small vectors (biases may be empty)
  };
  std::vector<LayerF32> layers_f32;
  std::vector<float> norm_f32, inv_freq_f32;
  struct Scratch {
    std::vector<float> h, x, qkv, att, gu, g, y, scores, cos, sin;
  } scratch;
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
    prepare_decode();
  }

  // --- single-token decode on raw pointers ---------------------------------------------------------------
  // The step generation repeats: one new token, batch 1, keys from the cache. It is bound by reading the
  // weights, and a torch op costs microseconds of dispatch (~40 ops per layer), so it runs as plain loops
  // over data_ptr()s: f32 activations, f32/bf16 weights, matrix-vector products split over a WorkPool.
  // Same math as forward() (RMSNorm, RoPE rotate_half, GQA softmax attention, SwiGLU); activations stay in
  // float32 between ops where forward() rounds them to the compute dtype.

  void prepare_decode() {
    layers_f32.clear();
    for (const Layer& L : layers) {
      LayerF32 f;
      f.ln_in = to_vector(L.ln_in);
      f.ln_post = to_vector(L.ln_post);
      if (L.b_qkv.defined()) f.b_qkv = to_vector(L.b_qkv);
      if (L.bo.defined()) f.bo = to_vector(L.bo);
      layers_f32.push_back(std::move(f));
    }
    norm_f32 = to_vector(norm);
    inv_freq_f32 = to_vector(inv_freq);
  }

  bool can_decode_fast(const KvCache& cache) const {
    return fast_decode && (dt == torch::kFloat || dt == torch::kBFloat16) && embed.device().is_cpu() &&
           !cache.k.empty() && cache.k[0].size(0) == 1 && cache.len < cache.capacity;
  }

  kernels::WType wtype() const { return dt == torch::kFloat ? kernels::WType::f32 : kernels::WType::bf16; }

  // y = W x (+ b) on the pool, in chunks of rows holding ~64 KiB of weights (a matrix smaller than one chunk
  // stays on the calling thread).
  void par_gemv(const torch::Tensor& w, const float* x, float* y, const std::vector<float>& b = {}) const {
    const std::int64_t n = w.size(0), k = w.size(1);
    const void* p = w.data_ptr();
    const kernels::WType wt = wtype();
    const float* bias = b.empty() ? nullptr : b.data();
    const std::int64_t chunk = std::max<std::int64_t>(4, (64 * 1024) / std::max<std::int64_t>(1, k * w.element_size()));
    pool->run(n, chunk, [&](std::int64_t r0, std::int64_t r1) { kernels::gemv(p, wt, x, y, bias, k, r0, r1); });
  }

  static void rms_norm_f32(const float* x, const std::vector<float>& w, float* out, std::int64_t c, double eps) {
    double ss = 0;
    for (std::int64_t i = 0; i < c; ++i) ss += static_cast<double>(x[i]) * x[i];
    const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(c) + eps));
    for (std::int64_t i = 0; i < c; ++i) out[i] = w[i] * (x[i] * r);
  }

  // HF rotate_half RoPE on one head: x[i], x[i + D/2] rotate by angle pos·inv_freq[i].
  static void rope_head(float* x, const float* cos, const float* sin, std::int64_t half) {
    for (std::int64_t i = 0; i < half; ++i) {
      const float a = x[i], b = x[i + half];
      x[i] = a * cos[i] - b * sin[i];
      x[i + half] = b * cos[i] + a * sin[i];
    }
  }

  // Feeds one token at position cache.len; returns the logits [V].
  std::vector<float> decode_one(int id, KvCache& cache) {
    const std::int64_t C = cfg.hidden_size, H = cfg.num_attention_heads, Hkv = cfg.num_key_value_heads;
    const std::int64_t D = cfg.head_dim, I = cfg.intermediate_size, half = D / 2, group = H / Hkv;
    const std::int64_t pos = cache.len, S = pos + 1, cap = cache.capacity;
    const double eps = cfg.rms_norm_eps;
    const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    const kernels::WType wt = wtype();
    const bool bf16 = wt == kernels::WType::bf16;
    Scratch& s = scratch;
    s.h.resize(C);
    s.x.resize(C);
    s.y.resize(C);
    s.qkv.resize((H + 2 * Hkv) * D);
    s.att.resize(H * D);
    s.gu.resize(2 * I);
    s.g.resize(I);
    s.scores.resize(H * S);
    s.cos.resize(half);
    s.sin.resize(half);
    for (std::int64_t i = 0; i < half; ++i) {
      const float a = static_cast<float>(pos) * inv_freq_f32[i];  // as forward(): float32 angle
      s.cos[i] = std::cos(a);
      s.sin[i] = std::sin(a);
    }
    // embedding row
    if (bf16) {
      const auto* e = static_cast<const std::uint16_t*>(embed.data_ptr()) + static_cast<std::int64_t>(id) * C;
      for (std::int64_t i = 0; i < C; ++i) s.h[i] = kernels::from_bf16(e[i]);
    } else {
      const float* e = embed.data_ptr<float>() + static_cast<std::int64_t>(id) * C;
      std::copy(e, e + C, s.h.begin());
    }
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const Layer& L = layers[l];
      const LayerF32& F = layers_f32[l];
      rms_norm_f32(s.h.data(), F.ln_in, s.x.data(), C, eps);
      par_gemv(L.w_qkv, s.x.data(), s.qkv.data(), F.b_qkv);
      float* q = s.qkv.data();
      float* k = q + H * D;
      float* v = k + Hkv * D;
      for (std::int64_t h = 0; h < H; ++h) rope_head(q + h * D, s.cos.data(), s.sin.data(), half);
      for (std::int64_t h = 0; h < Hkv; ++h) rope_head(k + h * D, s.cos.data(), s.sin.data(), half);
      // append k, v at slot pos of the cache [1, Hkv, cap, D]
      char* kc = static_cast<char*>(cache.k[l].data_ptr());
      char* vc = static_cast<char*>(cache.v[l].data_ptr());
      const std::int64_t es = cache.k[l].element_size();
      for (std::int64_t g = 0; g < Hkv; ++g) {
        const std::int64_t off = (g * cap + pos) * D;
        if (bf16) {
          auto* kd = reinterpret_cast<std::uint16_t*>(kc) + off;
          auto* vd = reinterpret_cast<std::uint16_t*>(vc) + off;
          for (std::int64_t i = 0; i < D; ++i) {
            kd[i] = kernels::to_bf16(k[g * D + i]);
            vd[i] = kernels::to_bf16(v[g * D + i]);
          }
        } else {
          std::copy(k + g * D, k + (g + 1) * D, reinterpret_cast<float*>(kc) + off);
          std::copy(v + g * D, v + (g + 1) * D, reinterpret_cast<float*>(vc) + off);
        }
      }
      // attention of the one query over S keys, per head (GQA: head h reads kv head h / group); heads run on
      // the pool once the cache is long enough (≥ 64 KiB of keys and values per head) to be worth a wake-up
      std::fill(s.att.begin(), s.att.end(), 0.0f);
      auto heads = [&](std::int64_t h0, std::int64_t h1) {
        for (std::int64_t h = h0; h < h1; ++h) {
          const std::int64_t g = h / group;
          const char* kg = kc + g * cap * D * es;
          const char* vg = vc + g * cap * D * es;
          float* sc = s.scores.data() + h * S;
          kernels::gemv(kg, wt, q + h * D, sc, nullptr, D, 0, S);
          float mx = -std::numeric_limits<float>::infinity();
          for (std::int64_t j = 0; j < S; ++j) mx = std::max(mx, sc[j] *= scale);
          float sum = 0;
          for (std::int64_t j = 0; j < S; ++j) sum += (sc[j] = std::exp(sc[j] - mx));
          const float inv = 1.0f / sum;
          for (std::int64_t j = 0; j < S; ++j) sc[j] *= inv;
          kernels::accumulate_rows(vg, wt, sc, S, D, s.att.data() + h * D);
        }
      };
      if (2 * S * D * es >= 64 * 1024) pool->run(H, 1, heads);
      else heads(0, H);
      par_gemv(L.wo, s.att.data(), s.y.data(), F.bo);
      for (std::int64_t i = 0; i < C; ++i) s.h[i] += s.y[i];
      // SwiGLU MLP
      rms_norm_f32(s.h.data(), F.ln_post, s.x.data(), C, eps);
      par_gemv(L.w_gate_up, s.x.data(), s.gu.data());
      for (std::int64_t i = 0; i < I; ++i) {
        const float a = s.gu[i];
        s.g[i] = a / (1.0f + std::exp(-a)) * s.gu[I + i];
      }
      par_gemv(L.w_down, s.g.data(), s.y.data());
      for (std::int64_t i = 0; i < C; ++i) s.h[i] += s.y[i];
    }
    cache.len += 1;
    rms_norm_f32(s.h.data(), norm_f32, s.x.data(), C, eps);
    std::vector<float> logits(cfg.vocab_size);
    par_gemv(lm_head, s.x.data(), logits.data());
    return logits;
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
      // Only the last position's output is wanted: after the last layer's keys and values (which the cache
      // needs for every position), its attention and MLP run for the last query alone (as llama.cpp does).
      std::int64_t Tq = T;
      torch::Tensor m = mask;
      if (last_only && T > 1 && l + 1 == layers.size()) {
        Tq = 1;
        q = q.narrow(2, T - 1, 1);
        if (m.defined()) m = m.narrow(2, T - 1, 1);
        h = h.narrow(1, T - 1, 1);
      }
      torch::Tensor a = attention(q, k, v, m);                    // [B, H, Tq, D]
      a = a.transpose(1, 2).reshape({B, Tq, H * D});
      h = h + linear_rows(a, L.wo, L.bo);
      // MLP block (SwiGLU)
      x = rms_norm(h, L.ln_post, eps);
      torch::Tensor gu = linear_rows(x, L.w_gate_up);                                   // [B, T, 2I]
      const std::int64_t I = gu.size(-1) / 2;
      torch::Tensor g = torch::silu(gu.narrow(-1, 0, I)) * gu.narrow(-1, I, I);
      h = h + linear_rows(g, L.w_down);
    }
    if (cache) cache->len += T;
    if (last_only && h.size(1) > 1) h = h.narrow(1, h.size(1) - 1, 1);
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

  // Feeds `new_ids` after the cache's contents and returns the last one's logits: decode_one for a single token
  // (when the fast path applies), else forward() with positions cache.len.. and a causal mask.
  std::vector<float> cached_step(const std::vector<int>& new_ids, KvCache& cache) {
    const std::int64_t T = static_cast<std::int64_t>(new_ids.size()), S = cache.len + T;
    if (S > cache.capacity) throw Error("KV cache overflow", "generate");
    if (T == 1 && can_decode_fast(cache)) return decode_one(new_ids[0], cache);
    torch::Tensor pos = torch::arange(cache.len, S, torch::kLong).unsqueeze(0);
    torch::Tensor mask = T > 1 ? causal_mask(T, S) : torch::Tensor();
    return to_vector(forward(ids_tensor(new_ids), pos, mask, &cache, true));
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
  impl->pool = std::make_unique<WorkPool>(set_threads(options.threads));
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
  if (adapter && !base_model_matches(adapter->config().base_model_name_or_path, dir))
    spdlog::warn("LoRA adapter {} was trained on '{}' but is applied to {}: its shapes fit, so it loads; make sure "
                 "this is the intended base model",
                 options.adapter_dir.string(), adapter->config().base_model_name_or_path, dir.string());
  if (adapter)
    spdlog::debug("merged LoRA adapter {} ({} modules, scale {})", options.adapter_dir.string(),
                  adapter->modules().size(), adapter->config().scale());
  spdlog::debug("loaded {} ({} layers, {} params, {})", dir.string(), impl->cfg.num_hidden_layers,
                impl->cfg.num_parameters(), dtype);
  return std::unique_ptr<CausalLM>(new CausalLM(std::move(impl)));
}

const HfConfig& CausalLM::config() const { return impl_->cfg; }
std::int64_t CausalLM::weight_bytes() const { return impl_->weight_bytes; }

std::int64_t CausalLM::decode_bytes() const {
  const Impl& m = *impl_;
  if (m.lm_head.is_same(m.embed)) return m.weight_bytes;
  return m.weight_bytes - m.embed.numel() * m.embed.element_size() + m.embed.size(1) * m.embed.element_size();
}

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

std::vector<std::vector<float>> CausalLM::logits_incremental(const std::vector<int>& ids, std::size_t prefix) {
  c10::InferenceMode guard;
  Impl& m = *impl_;
  m.check_ids(ids);
  if (prefix == 0 || prefix > ids.size())
    throw Error("prefix length " + std::to_string(prefix) + " is outside [1, " + std::to_string(ids.size()) + "]",
                "logits_incremental");
  KvCache cache = m.make_cache(1, static_cast<std::int64_t>(ids.size()));
  std::vector<std::vector<float>> out;
  out.push_back(m.cached_step({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(prefix)}, cache));
  for (std::size_t i = prefix; i < ids.size(); ++i) out.push_back(m.cached_step({ids[i]}, cache));
  return out;
}

void CausalLM::set_fast_decode(bool on) { impl_->fast_decode = on; }
bool CausalLM::fast_decode() const { return impl_->fast_decode; }

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
    return m.cached_step(new_ids, cache);
  };
  return generate_loop(prompt, params, step, decode, m.cfg.eos_token_ids, max_ctx);
}

}  // namespace ecpo::model
