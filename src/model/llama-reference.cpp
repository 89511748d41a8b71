// The torch reference forward of CausalLM (llama-impl.h ReferenceForward), written out like a textbook (llm.c
// style) over the same weights as the kernel path (zero-copy tensor views): embed → N × (RMSNorm → attention with
// RoPE, GQA and the KV cache → residual → RMSNorm → SwiGLU MLP → residual) → RMSNorm → lm_head. float32 is the
// reference; bfloat16 runs the same code in bf16 (norms, softmax and RoPE tables in float32), rounding every
// activation. This file (with torch-util) is the only part of the decoder that needs libtorch, and it is linked
// only into programs that call CausalLM::set_fast_decode(false) — tests and benchmarks.
#include <c10/core/InferenceMode.h>

#include <cstring>
#include <limits>

#include "model/llama-impl.h"
#include "model/torch-util-impl.h"
#include "util/error.h"

namespace ecpo::model {

namespace {

torch::Tensor rotate_half(const torch::Tensor& x) {
  auto half = x.size(-1) / 2;
  return torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

torch::Tensor view(const void* p, std::vector<std::int64_t> shape, torch::ScalarType dt) {
  return torch::from_blob(const_cast<void*>(p), shape, torch::TensorOptions().dtype(dt));
}

torch::Tensor vec(const std::vector<float>& v, torch::ScalarType dt) {
  if (v.empty()) return {};
  return torch::from_blob(const_cast<float*>(v.data()), {static_cast<std::int64_t>(v.size())}, torch::kFloat).to(dt);
}

class TorchReference : public ReferenceForward {
 public:
  explicit TorchReference(const CausalLM::Impl& m) : m_(m) {
    dt_ = m.wt == kernels::WType::f32 ? torch::kFloat : torch::kBFloat16;
    const auto& c = m.cfg;
    const std::int64_t C = c.hidden_size, V = c.vocab_size, I = c.intermediate_size;
    const std::int64_t QD = c.num_attention_heads * c.head_dim, KD = c.num_key_value_heads * c.head_dim;
    c10::InferenceMode guard;
    embed_ = view(m.embed, {V, C}, dt_);
    lm_head_ = view(m.lm_head, {V, C}, dt_);
    norm_ = vec(m.norm, dt_);
    for (const auto& L : m.layers) {
      layers_.push_back({vec(L.ln_in, dt_), vec(L.ln_post, dt_), view(L.wq, {QD, C}, dt_), view(L.wk, {KD, C}, dt_),
                         view(L.wv, {KD, C}, dt_), view(L.wo, {C, QD}, dt_), vec(L.bq, dt_), vec(L.bk, dt_),
                         vec(L.bv, dt_), vec(L.bo, dt_), view(L.w_gate, {I, C}, dt_), view(L.w_up, {I, C}, dt_),
                         view(L.w_down, {C, I}, dt_)});
    }
    inv_freq_ = torch::from_blob(const_cast<float*>(m.inv_freq.data()),
                                 {static_cast<std::int64_t>(m.inv_freq.size())}, torch::kFloat)
                    .clone();
  }

  void forward(ForwardStep& s) override {
    c10::InferenceMode guard;
    KvCache& c = *s.cache;
    const std::int64_t T = s.n, S = c.len + T;
    if (S > c.capacity) throw Error("KV cache overflow", "generate");
    std::vector<std::int64_t> ids(s.ids, s.ids + T);
    torch::Tensor idt = torch::from_blob(ids.data(), {1, T}, torch::kLong).clone();
    torch::Tensor pos = torch::arange(c.len, S, torch::kLong).unsqueeze(0);
    torch::Tensor mask = T > 1 ? causal_mask(T, S) : torch::Tensor();
    torch::Tensor l = run(idt, pos, mask, &c, s.logits != StepLogits::all);  // [1, T or 1, V]
    if (s.logits == StepLogits::none) return;
    torch::Tensor f = l.contiguous();
    std::memcpy(s.out, f.data_ptr<float>(), f.numel() * sizeof(float));
  }

  std::vector<std::vector<float>> logits_last_batch(const std::vector<std::vector<int>>& batch) override {
    c10::InferenceMode guard;
    std::int64_t B = static_cast<std::int64_t>(batch.size()), S = 0;
    for (const auto& s : batch) S = std::max<std::int64_t>(S, static_cast<std::int64_t>(s.size()));
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
    torch::Tensor l = run(ids, pos, mask, nullptr, true);  // [B, 1, V]
    std::vector<std::vector<float>> out;
    for (std::int64_t b = 0; b < B; ++b) {
      torch::Tensor r = l[b][0].contiguous();
      out.emplace_back(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
    }
    return out;
  }

 private:
  struct Layer {
    torch::Tensor ln_in, ln_post, wq, wk, wv, wo, bq, bk, bv, bo, w_gate, w_up, w_down;
  };

  // ids [B, T] (long), pos [B, T] (long), mask additive [B or 1, 1, T, S] or undefined, cache or null.
  // Returns float32 logits [B, T, V] (or [B, 1, V] when last_only).
  torch::Tensor run(const torch::Tensor& ids, const torch::Tensor& pos, const torch::Tensor& mask, KvCache* cache,
                    bool last_only) {
    const auto& cfg = m_.cfg;
    const std::int64_t B = ids.size(0), T = ids.size(1);
    const std::int64_t H = cfg.num_attention_heads, Hkv = cfg.num_key_value_heads, D = cfg.head_dim;
    const double eps = cfg.rms_norm_eps;
    // cos/sin [B, 1, T, D] in the compute dtype (HF: emb = cat(freqs, freqs))
    torch::Tensor freqs = pos.to(torch::kFloat).unsqueeze(-1) * inv_freq_;
    torch::Tensor emb = torch::cat({freqs, freqs}, -1).unsqueeze(1);
    torch::Tensor cos = emb.cos().to(dt_), sin = emb.sin().to(dt_);
    torch::Tensor h = torch::embedding(embed_, ids);  // [B, T, C]
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      torch::Tensor x = rms_norm(h, L.ln_in, eps);
      torch::Tensor q = torch::linear(x, L.wq, L.bq).view({B, T, H, D}).transpose(1, 2);      // [B, H, T, D]
      torch::Tensor k = torch::linear(x, L.wk, L.bk).view({B, T, Hkv, D}).transpose(1, 2);    // [B, Hkv, T, D]
      torch::Tensor v = torch::linear(x, L.wv, L.bv).view({B, T, Hkv, D}).transpose(1, 2);
      q = q * cos + rotate_half(q) * sin;
      k = k * cos + rotate_half(k) * sin;
      if (cache) {
        // keys are cached transposed ([Hkv][D][capacity]): view them as [1, Hkv, capacity, D]
        torch::Tensor kc =
            view(cache->at(static_cast<std::int64_t>(l), 0, 0), {1, Hkv, D, cache->capacity}, dt_).transpose(2, 3);
        torch::Tensor vc = view(cache->at(static_cast<std::int64_t>(l), 1, 0), {1, Hkv, cache->capacity, D}, dt_);
        kc.narrow(2, cache->len, T).copy_(k);
        vc.narrow(2, cache->len, T).copy_(v);
        k = kc.narrow(2, 0, cache->len + T);
        v = vc.narrow(2, 0, cache->len + T);
      }
      // Only the last position's output is wanted: after the last layer's keys and values (which the cache
      // needs for every position), its attention and MLP run for the last query alone.
      std::int64_t Tq = T;
      torch::Tensor msk = mask;
      if (last_only && T > 1 && l + 1 == layers_.size()) {
        Tq = 1;
        q = q.narrow(2, T - 1, 1);
        if (msk.defined()) msk = msk.narrow(2, T - 1, 1);
        h = h.narrow(1, T - 1, 1);
      }
      torch::Tensor a = attention(q, k, v, msk);  // [B, H, Tq, D]
      a = a.transpose(1, 2).reshape({B, Tq, H * D});
      h = h + torch::linear(a, L.wo, L.bo);
      x = rms_norm(h, L.ln_post, eps);
      torch::Tensor g = torch::silu(torch::linear(x, L.w_gate)) * torch::linear(x, L.w_up);
      h = h + torch::linear(g, L.w_down);
    }
    if (cache) cache->len += T;
    if (last_only && h.size(1) > 1) h = h.narrow(1, h.size(1) - 1, 1);
    h = rms_norm(h, norm_, eps);
    return torch::linear(h, lm_head_).to(torch::kFloat);
  }

  const CausalLM::Impl& m_;
  torch::ScalarType dt_;
  torch::Tensor embed_, lm_head_, norm_, inv_freq_;
  std::vector<Layer> layers_;
};

}  // namespace

void CausalLM::set_fast_decode(bool on) {
  Impl& m = *impl_;
  if (!on && !m.reference) {
    set_threads(m.threads);
    m.reference = std::make_unique<TorchReference>(m);
  }
  m.fast = on;
}

}  // namespace ecpo::model
