// The kernel forward of CausalLM (see llama-impl.h): the Llama / Qwen2 decoder on raw pointers, for any number of
// sequences at once. All new tokens of all sequences are rows of one activation matrix, so every weight is read
// once per call whatever the batch; attention is per sequence over its own cache. Activations stay float32 between
// ops (weights f32 or bf16 widened exactly; the bf16 KV cache is rounded to nearest even). Same math as the torch
// reference (RMSNorm, rotate_half RoPE, GQA softmax attention, SwiGLU). Everything runs on the model's WorkPool.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/llama-impl.h"
#include "model/pool-ops.h"
#include "util/error.h"

namespace ecpo::model {

namespace {

using i64 = std::int64_t;
namespace K = kernels;

void rms_norm_row(const float* x, const std::vector<float>& w, float* out, i64 c, double eps) {
  double ss = 0;
  for (i64 i = 0; i < c; ++i) ss += static_cast<double>(x[i]) * x[i];
  const float r = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(c) + eps));
  for (i64 i = 0; i < c; ++i) out[i] = w[i] * (x[i] * r);
}

// HF rotate_half RoPE on one head: x[i], x[i + D/2] rotate by the row's angle table.
void rope_head(float* x, const float* cos, const float* sin, i64 half) {
  for (i64 i = 0; i < half; ++i) {
    const float a = x[i], b = x[i + half];
    x[i] = a * cos[i] - b * sin[i];
    x[i + half] = b * cos[i] + a * sin[i];
  }
}

// A run of rows of one step with consecutive positions (all of a step's rows; in the last layer only those whose
// logits are wanted).
struct Segment {
  std::size_t step;
  i64 row0, n, pos0;
};

}  // namespace

void CausalLM::Impl::forward(std::vector<ForwardStep>& steps) {
  const i64 C = cfg.hidden_size, H = cfg.num_attention_heads, Hkv = cfg.num_key_value_heads, D = cfg.head_dim;
  const i64 I = cfg.intermediate_size, V = cfg.vocab_size, half = D / 2, group = H / Hkv;
  const i64 QD = H * D, KD = Hkv * D, LQ = QD + 2 * KD;
  const double eps = cfg.rms_norm_eps;
  const float att_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
  const bool bf16 = wt == K::WType::bf16;
  WorkPool& wp = *pool;

  i64 M = 0;
  std::vector<Segment> segs;
  for (std::size_t t = 0; t < steps.size(); ++t) {
    ForwardStep& st = steps[t];
    if (st.n <= 0) continue;
    if (st.cache->len + st.n > st.cache->capacity) throw Error("KV cache overflow", "generate");
    segs.push_back({t, M, st.n, st.cache->len});
    M += st.n;
  }
  if (M == 0) return;
  Scratch& s = scratch;
  s.h.resize(M * C);
  s.x.resize(M * C);
  s.qkv.resize(M * LQ);
  s.att.resize(M * QD);
  s.g.resize(M * I);
  s.u.resize(M * I);
  s.cos.resize(M * half);
  s.sin.resize(M * half);
  s.row_seq.resize(M);
  s.row_pos.resize(M);
  for (const Segment& sg : segs) {
    const ForwardStep& st = steps[sg.step];
    for (i64 i = 0; i < sg.n; ++i) {
      const i64 r = sg.row0 + i, pos = sg.pos0 + i;
      s.row_seq[r] = static_cast<i64>(sg.step);
      s.row_pos[r] = pos;
      for (i64 j = 0; j < half; ++j) {
        const float a = static_cast<float>(pos) * inv_freq[j];  // float32 angle, as the reference
        s.cos[r * half + j] = std::cos(a);
        s.sin[r * half + j] = std::sin(a);
      }
      const i64 id = st.ids[i];
      float* h = s.h.data() + r * C;
      if (bf16) {
        const auto* e = static_cast<const std::uint16_t*>(embed) + id * C;
        for (i64 c = 0; c < C; ++c) h[c] = K::from_bf16(e[c]);
      } else {
        const float* e = static_cast<const float*>(embed) + id * C;
        std::copy(e, e + C, h);
      }
    }
  }

  for (std::size_t l = 0; l < layers.size(); ++l) {
    const Layer& L = layers[l];
    // --- attention block: x = norm(h); q, k, v; RoPE; keys and values into the caches
    for_rows(wp, M, 3 * C, [&](i64 r) { rms_norm_row(s.h.data() + r * C, L.ln_in, s.x.data() + r * C, C, eps); });
    auto bias = [](const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };
    linear(wp, wt, M, C, s.x.data(),
           {{L.wq, QD, s.qkv.data(), LQ, bias(L.bq), false},
            {L.wk, KD, s.qkv.data() + QD, LQ, bias(L.bk), false},
            {L.wv, KD, s.qkv.data() + QD + KD, LQ, bias(L.bv), false}});
    for_rows(wp, M, 4 * LQ, [&](i64 r) {
      float* q = s.qkv.data() + r * LQ;
      float* k = q + QD;
      const float* v = k + KD;
      const float *cs = s.cos.data() + r * half, *sn = s.sin.data() + r * half;
      for (i64 h = 0; h < H; ++h) rope_head(q + h * D, cs, sn, half);
      for (i64 g = 0; g < Hkv; ++g) rope_head(k + g * D, cs, sn, half);
      const KvCache& kc = *steps[s.row_seq[r]].cache;
      const i64 pos = s.row_pos[r];
      for (i64 g = 0; g < Hkv; ++g) {  // keys transposed [D][cap], values [cap][D]
        const i64 cap = kc.capacity;
        if (bf16) {
          auto* kd = static_cast<std::uint16_t*>(kc.at(static_cast<i64>(l), 0, g)) + pos;
          auto* vd = static_cast<std::uint16_t*>(kc.at(static_cast<i64>(l), 1, g)) + pos * D;
          for (i64 i = 0; i < D; ++i) {
            kd[i * cap] = K::to_bf16(k[g * D + i]);
            vd[i] = K::to_bf16(v[g * D + i]);
          }
        } else {
          float* kd = static_cast<float*>(kc.at(static_cast<i64>(l), 0, g)) + pos;
          for (i64 i = 0; i < D; ++i) kd[i * cap] = k[g * D + i];
          std::copy(v + g * D, v + (g + 1) * D, static_cast<float*>(kc.at(static_cast<i64>(l), 1, g)) + pos * D);
        }
      }
    });
    // In the last layer only rows whose logits are wanted go on (their keys and values are cached above): gather
    // them to the front (rows only move down, in order).
    if (l + 1 == layers.size()) {
      std::vector<Segment> keep;
      i64 m = 0;
      for (const Segment& sg : segs) {
        const StepLogits want = steps[sg.step].logits;
        if (want == StepLogits::none) continue;
        const i64 first = want == StepLogits::all ? 0 : sg.n - 1;
        const i64 n = sg.n - first;
        for (i64 i = 0; i < n; ++i) {
          const i64 from = sg.row0 + first + i, to = m + i;
          if (from == to) continue;
          std::memmove(s.qkv.data() + to * LQ, s.qkv.data() + from * LQ, QD * sizeof(float));
          std::memmove(s.h.data() + to * C, s.h.data() + from * C, C * sizeof(float));
        }
        keep.push_back({sg.step, m, n, sg.pos0 + first});
        m += n;
      }
      segs = std::move(keep);
      M = m;
      if (M == 0) break;
    }
    // attention: one task per (segment, head, block of up to 32 query rows); probabilities past a row's own
    // position are exact zeros, so a row's output does not depend on the block it shares
    struct Task {
      std::size_t seg;
      i64 head, i0, i1;
    };
    std::vector<Task> tasks;
    i64 work = 0;
    for (std::size_t si = 0; si < segs.size(); ++si)
      for (i64 h = 0; h < H; ++h)
        for (i64 i0 = 0; i0 < segs[si].n; i0 += 32) {
          const i64 i1 = std::min(segs[si].n, i0 + 32);
          tasks.push_back({si, h, i0, i1});
          work += (i1 - i0) * (segs[si].pos0 + i1) * D * 2;
        }
    auto attend = [&](const Task& tk) {
      thread_local std::vector<float> sc;
      const Segment& sg = segs[tk.seg];
      const KvCache& kc = *steps[sg.step].cache;
      const i64 rows = tk.i1 - tk.i0, S = sg.pos0 + tk.i1, g = tk.head / group;
      sc.assign(static_cast<std::size_t>(rows * S), 0.0f);
      const float* q = s.qkv.data() + (sg.row0 + tk.i0) * LQ + tk.head * D;
      K::gemm_nn(rows, S, D, q, LQ, kc.at(static_cast<i64>(l), 0, g), wt, kc.capacity, sc.data(), S);  // q·Kᵀ
      for (i64 i = 0; i < rows; ++i) {
        float* p = sc.data() + i * S;
        const i64 valid = sg.pos0 + tk.i0 + i + 1;
        K::scale(p, valid, att_scale);
        const float sum = K::exp_sum(p, valid, K::max_of(p, valid));
        K::scale(p, valid, 1.0f / sum);
        std::fill(p + valid, p + S, 0.0f);
      }
      float* o = s.att.data() + (sg.row0 + tk.i0) * QD + tk.head * D;
      for (i64 i = 0; i < rows; ++i) std::fill(o + i * QD, o + i * QD + D, 0.0f);
      K::gemm_nn(rows, D, S, sc.data(), S, kc.at(static_cast<i64>(l), 1, g), wt, D, o, QD);
    };
    const i64 nt = static_cast<i64>(tasks.size());
    if (work < 128 * 1024 || wp.threads() == 1) {
      for (const Task& tk : tasks) attend(tk);
    } else {
      wp.run(nt, 1, [&](i64 b, i64 e) {
        for (i64 t = b; t < e; ++t) attend(tasks[t]);
      });
    }
    // h += att·woᵀ (+ bo)
    if (!L.bo.empty())
      for (i64 r = 0; r < M; ++r)
        for (i64 c = 0; c < C; ++c) s.h[r * C + c] += L.bo[c];
    linear(wp, wt, M, QD, s.att.data(), {{L.wo, C, s.h.data(), C, nullptr, true}});
    // --- MLP block (SwiGLU): h += (silu(x·w_gateᵀ) ⊙ x·w_upᵀ)·w_downᵀ
    for_rows(wp, M, 3 * C, [&](i64 r) { rms_norm_row(s.h.data() + r * C, L.ln_post, s.x.data() + r * C, C, eps); });
    linear(wp, wt, M, C, s.x.data(),
           {{L.w_gate, I, s.g.data(), I, nullptr, false}, {L.w_up, I, s.u.data(), I, nullptr, false}});
    for_rows(wp, M, 20 * I, [&](i64 r) { K::silu_mul(s.g.data() + r * I, s.u.data() + r * I, I); });
    linear(wp, wt, M, I, s.g.data(), {{L.w_down, C, s.h.data(), C, nullptr, true}});
  }
  for (ForwardStep& st : steps)
    if (st.n > 0) st.cache->len += st.n;
  if (M == 0 || segs.empty()) return;
  // final norm and lm_head for the wanted rows
  for_rows(wp, M, 3 * C, [&](i64 r) { rms_norm_row(s.h.data() + r * C, norm, s.x.data() + r * C, C, eps); });
  s.logits_x.resize(static_cast<std::size_t>(M * V));
  linear(wp, wt, M, C, s.x.data(), {{lm_head, V, s.logits_x.data(), V, nullptr, false}});
  for (const Segment& sg : segs)
    std::memcpy(steps[sg.step].out, s.logits_x.data() + sg.row0 * V, static_cast<std::size_t>(sg.n * V) * sizeof(float));
}

}  // namespace ecpo::model
