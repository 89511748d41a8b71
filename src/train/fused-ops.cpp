// Fused autograd operations (see fused-ops.h). torch::autograd::Function forwards run with grad mode off;
// their backwards use at:: ops with out= arguments or plain per-row loops (at::parallel_for).
#include "train/fused-ops.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/BFloat16.h>
#include <torch/csrc/autograd/custom_function.h>

namespace ecpo::train {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// ---- LoRA linear -------------------------------------------------------------------------------------------

struct LoraLinearFn : public torch::autograd::Function<LoraLinearFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const c10::optional<torch::Tensor>& b, const torch::Tensor& a, at::TensorList bs,
                               const std::vector<std::int64_t>& offs, double scale) {
    torch::Tensor y = at::linear(x, w, b.has_value() ? *b : torch::Tensor());
    torch::Tensor xf = x.scalar_type() == torch::kFloat ? x : x.to(torch::kFloat);
    torch::Tensor u = at::mm(xf, a.t());  // [N, m·r]
    const std::int64_t r = a.size(0) / static_cast<std::int64_t>(bs.size());
    for (std::size_t i = 0; i < bs.size(); ++i) {
      torch::Tensor ui = u.narrow(1, static_cast<std::int64_t>(i) * r, r);
      torch::Tensor yi = y.narrow(1, offs[i], bs[i].size(0));
      if (y.scalar_type() == torch::kFloat) yi.addmm_(ui, bs[i].t(), 1.0, scale);
      else yi.add_(at::mm(ui, bs[i].t()).mul_(scale).to(y.scalar_type()));
    }
    variable_list saved = {xf, u, w, a};
    for (const auto& t : bs) saved.push_back(t);
    ctx->save_for_backward(saved);
    ctx->saved_data["offs"] = c10::IValue(offs);
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["x_dtype"] = static_cast<std::int64_t>(x.scalar_type());
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const torch::Tensor &xf = s[0], &u = s[1], &w = s[2], &a = s[3];
    const std::size_t m = s.size() - 4;
    const auto offs = ctx->saved_data["offs"].toIntVector();
    const double scale = ctx->saved_data["scale"].toDouble();
    const auto x_dtype = static_cast<torch::ScalarType>(ctx->saved_data["x_dtype"].toInt());
    const torch::Tensor& g = grads[0];  // [N, out]
    torch::Tensor gf = g.scalar_type() == torch::kFloat ? g : g.to(torch::kFloat);
    const std::int64_t r = a.size(0) / static_cast<std::int64_t>(m);
    torch::Tensor da = at::empty_like(a);
    variable_list dbs(m);
    torch::Tensor du = at::empty({u.size(0), u.size(1)}, u.options());
    for (std::size_t i = 0; i < m; ++i) {
      const torch::Tensor& bi = s[4 + i];
      torch::Tensor gi = gf.narrow(1, offs[i], bi.size(0));
      torch::Tensor ui = u.narrow(1, static_cast<std::int64_t>(i) * r, r);
      dbs[i] = at::mm(gi.t(), ui).mul_(scale);                            // dB_i = s · g_iᵀ u_i
      torch::Tensor dui = at::mm(gi, bi).mul_(scale);                     // dU_i = s · g_i B_i   [N, r]
      du.narrow(1, static_cast<std::int64_t>(i) * r, r).copy_(dui);
      torch::Tensor dai = da.narrow(0, static_cast<std::int64_t>(i) * r, r);  // contiguous rows
      at::mm_out(dai, dui.t(), xf);                                          // dA_i = dU_iᵀ x
    }
    torch::Tensor dx;
    if (ctx->needs_input_grad(0)) {
      dx = at::mm(g, w);  // frozen weight: only the input gradient
      if (dx.scalar_type() == torch::kFloat) dx.addmm_(du, a);
      else dx.add_(at::mm(du, a).to(dx.scalar_type()));
      if (dx.scalar_type() != x_dtype) dx = dx.to(x_dtype);
    }
    // One entry per forward argument: x, w, b (an undefined optional still has a slot), a, bs..., offs, scale.
    variable_list out = {dx, torch::Tensor(), torch::Tensor(), da};
    for (auto& d : dbs) out.push_back(d);
    out.push_back(torch::Tensor());  // offs
    out.push_back(torch::Tensor());  // scale
    return out;
  }
};

// ---- SwiGLU ------------------------------------------------------------------------------------------------

struct SwigluFn : public torch::autograd::Function<SwigluFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gu) {
    const std::int64_t I = gu.size(1) / 2;
    torch::Tensor s = at::silu(gu.narrow(1, 0, I));  // kept: the backward needs it (no second exp pass)
    torch::Tensor act = s * gu.narrow(1, I, I);
    ctx->save_for_backward({gu, s});
    return act;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &gu = saved[0], &s = saved[1];
    const std::int64_t I = gu.size(1) / 2;
    const torch::Tensor gate = gu.narrow(1, 0, I), up = gu.narrow(1, I, I);
    const torch::Tensor& g = grads[0];
    torch::Tensor d = at::empty_like(gu);
    torch::Tensor d_gate = d.narrow(1, 0, I), d_up = d.narrow(1, I, I);  // strided views, written in place
    at::silu_backward_out(d_gate, g * up, gate);  // ∂/∂gate = g·up·silu'(gate)
    at::mul_out(d_up, g, s);                      // ∂/∂up = g·silu(gate)
    return {d};
  }
};

// ---- RoPE + attention layout -------------------------------------------------------------------------------

struct RopeDims {
  std::int64_t B, T, H, Hkv, D, rep;
  bool per_token;  // cos/sin rows indexed by b·T + t instead of t
};

template <typename S>
void rope_forward(const S* qkv, const float* cos, const float* sin, S* q, S* k, S* v, const RopeDims& d) {
  const std::int64_t W = d.H + 2 * d.Hkv, half = d.D / 2;
  at::parallel_for(0, d.B * d.T, 8, [&](std::int64_t b0, std::int64_t e0) {
    for (std::int64_t bt = b0; bt < e0; ++bt) {
      const std::int64_t b = bt / d.T, t = bt % d.T;
      const float* c = cos + (d.per_token ? bt : t) * d.D;
      const float* sn = sin + (d.per_token ? bt : t) * d.D;
      const S* row = qkv + bt * W * d.D;
      for (std::int64_t h = 0; h < d.H + d.Hkv; ++h) {
        const S* x = row + h * d.D;
        S* out;
        if (h < d.H) {
          const std::int64_t j = h / d.rep, r = h % d.rep;
          out = q + ((b * d.Hkv + j) * d.rep * d.T + r * d.T + t) * d.D;
        } else {
          out = k + ((b * d.Hkv + (h - d.H)) * d.T + t) * d.D;
        }
        for (std::int64_t i = 0; i < d.D; ++i) {
          const std::int64_t o = i < half ? i + half : i - half;
          out[i] = static_cast<S>(static_cast<float>(x[i]) * c[i] + static_cast<float>(x[o]) * sn[i]);
        }
      }
      for (std::int64_t j = 0; j < d.Hkv; ++j) {
        const S* x = row + (d.H + d.Hkv + j) * d.D;
        S* out = v + ((b * d.Hkv + j) * d.T + t) * d.D;
        std::copy(x, x + d.D, out);
      }
    }
  });
}

// dx[e] = g[e]·cos[e] + g[σ(e)]·sin[σ(e)], σ(e) = e ± D/2 (rope's roll is an involution).
template <typename S>
void rope_backward(const S* dq, const S* dk, const S* dv, const float* cos, const float* sin, S* dqkv, const RopeDims& d) {
  const std::int64_t W = d.H + 2 * d.Hkv, half = d.D / 2;
  at::parallel_for(0, d.B * d.T, 8, [&](std::int64_t b0, std::int64_t e0) {
    for (std::int64_t bt = b0; bt < e0; ++bt) {
      const std::int64_t b = bt / d.T, t = bt % d.T;
      const float* c = cos + (d.per_token ? bt : t) * d.D;
      const float* sn = sin + (d.per_token ? bt : t) * d.D;
      S* row = dqkv + bt * W * d.D;
      for (std::int64_t h = 0; h < d.H + d.Hkv; ++h) {
        const S* g;
        if (h < d.H) {
          const std::int64_t j = h / d.rep, r = h % d.rep;
          g = dq + ((b * d.Hkv + j) * d.rep * d.T + r * d.T + t) * d.D;
        } else {
          g = dk + ((b * d.Hkv + (h - d.H)) * d.T + t) * d.D;
        }
        S* out = row + h * d.D;
        for (std::int64_t i = 0; i < d.D; ++i) {
          const std::int64_t o = i < half ? i + half : i - half;
          out[i] = static_cast<S>(static_cast<float>(g[i]) * c[i] + static_cast<float>(g[o]) * sn[o]);
        }
      }
      for (std::int64_t j = 0; j < d.Hkv; ++j) {
        const S* g = dv + ((b * d.Hkv + j) * d.T + t) * d.D;
        std::copy(g, g + d.D, row + (d.H + d.Hkv + j) * d.D);
      }
    }
  });
}

struct RopeSplitFn : public torch::autograd::Function<RopeSplitFn> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& qkv_in, const torch::Tensor& cos,
                               const torch::Tensor& sin, std::int64_t H, std::int64_t Hkv) {
    const torch::Tensor qkv = qkv_in.contiguous();
    RopeDims d{qkv.size(0), qkv.size(1), H, Hkv, qkv.size(3), H / Hkv, cos.size(0) != qkv.size(1)};
    auto opt = qkv.options();
    torch::Tensor q = at::empty({d.B * Hkv, d.rep * d.T, d.D}, opt), k = at::empty({d.B * Hkv, d.T, d.D}, opt),
                  v = at::empty({d.B * Hkv, d.T, d.D}, opt);
    if (qkv.scalar_type() == torch::kFloat)
      rope_forward(qkv.data_ptr<float>(), cos.data_ptr<float>(), sin.data_ptr<float>(), q.data_ptr<float>(),
                   k.data_ptr<float>(), v.data_ptr<float>(), d);
    else
      rope_forward(qkv.data_ptr<c10::BFloat16>(), cos.data_ptr<float>(), sin.data_ptr<float>(), q.data_ptr<c10::BFloat16>(),
                   k.data_ptr<c10::BFloat16>(), v.data_ptr<c10::BFloat16>(), d);
    ctx->save_for_backward({cos, sin});
    ctx->saved_data["dims"] = std::vector<std::int64_t>{d.B, d.T, H, Hkv, d.D};
    return {q, k, v};
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const auto dims = ctx->saved_data["dims"].toIntVector();
    RopeDims d{dims[0], dims[1], dims[2], dims[3], dims[4], dims[2] / dims[3], s[0].size(0) != dims[1]};
    auto opt = grads[0].defined() ? grads[0].options() : grads[2].options();
    auto need = [&](int i, std::vector<std::int64_t> shape) {
      return grads[i].defined() ? grads[i].contiguous() : at::zeros(shape, opt);
    };
    torch::Tensor dq = need(0, {d.B * d.Hkv, d.rep * d.T, d.D}), dk = need(1, {d.B * d.Hkv, d.T, d.D}),
                  dv = need(2, {d.B * d.Hkv, d.T, d.D});
    torch::Tensor dqkv = at::empty({d.B, d.T, d.H + 2 * d.Hkv, d.D}, opt);
    if (dq.scalar_type() == torch::kFloat)
      rope_backward(dq.data_ptr<float>(), dk.data_ptr<float>(), dv.data_ptr<float>(), s[0].data_ptr<float>(),
                    s[1].data_ptr<float>(), dqkv.data_ptr<float>(), d);
    else
      rope_backward(dq.data_ptr<c10::BFloat16>(), dk.data_ptr<c10::BFloat16>(), dv.data_ptr<c10::BFloat16>(),
                    s[0].data_ptr<float>(), s[1].data_ptr<float>(), dqkv.data_ptr<c10::BFloat16>(), d);
    return {dqkv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// ---- block-causal attention --------------------------------------------------------------------------------

struct AttnPlan {
  std::int64_t BH, B, Hkv, rep, T, D, Tc, n_blocks;
  double scale;
  std::int64_t end(std::int64_t c) const { return std::min(T, (c + 1) * Tc); }
  std::int64_t rows(std::int64_t c) const { return end(c) - c * Tc; }
};

// The queries of block c of every stacked head, [BH, rep·rows, D] (a copy).
torch::Tensor q_block(const torch::Tensor& q, const AttnPlan& p, std::int64_t c) {
  if (p.n_blocks == 1) return q;
  return q.view({p.BH, p.rep, p.T, p.D}).narrow(2, c * p.Tc, p.rows(c)).reshape({p.BH, p.rep * p.rows(c), p.D});
}

// Additive mask of block c broadcastable to [B, Hkv, rep, rows, end].
torch::Tensor block_mask(const torch::Tensor& branch_mask, const AttnPlan& p, std::int64_t c, const torch::TensorOptions& o) {
  const std::int64_t r0 = c * p.Tc, rows = p.rows(c), e = p.end(c);
  if (branch_mask.defined())
    return branch_mask.narrow(1, r0, rows).narrow(2, 0, e).to(o.dtype()).view({p.B, 1, 1, rows, e});
  // causal: key j visible to query r0 + i when j <= r0 + i
  torch::Tensor m = torch::full({rows, e}, -INFINITY, o).triu(r0 + 1);
  return m.view({1, 1, 1, rows, e});
}

struct CausalAttentionFn : public torch::autograd::Function<CausalAttentionFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& q, const torch::Tensor& k,
                               const torch::Tensor& v, const c10::optional<torch::Tensor>& mask, std::int64_t B,
                               double scale, std::int64_t block) {
    const std::int64_t BH = k.size(0), T = k.size(1), D = k.size(2);
    AttnPlan p{BH, B, BH / B, q.size(1) / T, T, D, block, (T + block - 1) / block, scale};
    if (p.n_blocks <= 1) p.Tc = T, p.n_blocks = 1;
    const torch::Tensor bm = mask.has_value() ? *mask : torch::Tensor();
    torch::Tensor out = p.n_blocks == 1 ? torch::Tensor() : at::empty({BH, p.rep, T, D}, q.options());
    variable_list saved = {q, k, v};
    if (bm.defined()) saved.push_back(bm);
    std::vector<torch::Tensor> probs;
    for (std::int64_t c = 0; c < p.n_blocks; ++c) {
      const std::int64_t e = p.end(c), rows = p.rows(c);
      torch::Tensor qc = q_block(q, p, c);
      torch::Tensor kc = k.narrow(1, 0, e), vc = v.narrow(1, 0, e);
      torch::Tensor sc = at::bmm(qc, kc.transpose(1, 2));  // [BH, rep·rows, e]
      sc.view({B, p.Hkv, p.rep, rows, e}).mul_(scale).add_(block_mask(bm, p, c, sc.options()));
      torch::Tensor pc = sc.scalar_type() == torch::kFloat ? at::softmax(sc, -1) : at::softmax(sc, -1, torch::kFloat).to(sc.scalar_type());
      torch::Tensor oc = at::bmm(pc, vc);  // [BH, rep·rows, D]
      if (p.n_blocks == 1) out = oc;
      else out.narrow(2, c * p.Tc, rows).copy_(oc.view({BH, p.rep, rows, D}));
      probs.push_back(pc);
    }
    for (auto& pc : probs) saved.push_back(pc);
    ctx->save_for_backward(saved);
    ctx->saved_data["plan"] = std::vector<std::int64_t>{BH, B, p.Hkv, p.rep, T, D, p.Tc, p.n_blocks};
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["has_mask"] = bm.defined();
    return out.view({BH, p.rep * T, D});
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const auto pv = ctx->saved_data["plan"].toIntVector();
    AttnPlan p{pv[0], pv[1], pv[2], pv[3], pv[4], pv[5], pv[6], pv[7], ctx->saved_data["scale"].toDouble()};
    const bool has_mask = ctx->saved_data["has_mask"].toBool();
    const torch::Tensor &q = s[0], &k = s[1], &v = s[2];
    const std::size_t first_prob = has_mask ? 4 : 3;
    const torch::Tensor g = grads[0].contiguous().view({p.BH, p.rep, p.T, p.D});
    torch::Tensor dq = p.n_blocks == 1 ? torch::Tensor() : at::empty({p.BH, p.rep, p.T, p.D}, q.options());
    torch::Tensor dk = at::zeros_like(k), dv = at::zeros_like(v);
    for (std::int64_t c = 0; c < p.n_blocks; ++c) {
      const std::int64_t e = p.end(c), rows = p.rows(c);
      const torch::Tensor& pc = s[first_prob + static_cast<std::size_t>(c)];  // [BH, rep·rows, e]
      torch::Tensor gc = p.n_blocks == 1 ? g.view({p.BH, p.rep * p.T, p.D})
                                         : g.narrow(2, c * p.Tc, rows).reshape({p.BH, p.rep * rows, p.D});
      torch::Tensor qc = q_block(q, p, c);
      torch::Tensor kc = k.narrow(1, 0, e), vc = v.narrow(1, 0, e);
      dv.narrow(1, 0, e).add_(at::bmm(pc.transpose(1, 2), gc));        // dV += Pᵀ·dO
      torch::Tensor dp = at::bmm(gc, vc.transpose(1, 2));               // dP = dO·Vᵀ
      torch::Tensor ds = at::_softmax_backward_data(dp, pc, -1, pc.scalar_type()).mul_(p.scale);
      torch::Tensor dqc = at::bmm(ds, kc);                              // dQ = dS·K
      dk.narrow(1, 0, e).add_(at::bmm(ds.transpose(1, 2), qc));         // dK += dSᵀ·Q
      if (p.n_blocks == 1) dq = dqc;
      else dq.narrow(2, c * p.Tc, rows).copy_(dqc.view({p.BH, p.rep, rows, p.D}));
    }
    return {dq.view({p.BH, p.rep * p.T, p.D}), dk, dv, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// ---- row gather -------------------------------------------------------------------------------------------

void copy_rows(const std::uint8_t* src, std::uint8_t* dst, const std::int64_t* idx, std::int64_t n, std::size_t row_bytes,
               bool gather) {
  at::parallel_for(0, n, 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      if (gather) std::memcpy(dst + i * row_bytes, src + idx[i] * row_bytes, row_bytes);
      else std::memcpy(dst + idx[i] * row_bytes, src + i * row_bytes, row_bytes);
    }
  });
}

struct GatherRowsFn : public torch::autograd::Function<GatherRowsFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& rows) {
    const torch::Tensor x = x_in.contiguous();
    const std::int64_t R = rows.size(0), C = x.size(1);
    torch::Tensor out = at::empty({R, C}, x.options());
    copy_rows(static_cast<const std::uint8_t*>(x.data_ptr()), static_cast<std::uint8_t*>(out.data_ptr()),
              rows.data_ptr<std::int64_t>(), R, static_cast<std::size_t>(C) * x.element_size(), true);
    ctx->save_for_backward({rows});
    ctx->saved_data["n"] = x.size(0);
    return out;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor rows = ctx->get_saved_variables()[0];
    const torch::Tensor g = grads[0].contiguous();
    torch::Tensor dx = at::zeros({ctx->saved_data["n"].toInt(), g.size(1)}, g.options());
    copy_rows(static_cast<const std::uint8_t*>(g.data_ptr()), static_cast<std::uint8_t*>(dx.data_ptr()),
              rows.data_ptr<std::int64_t>(), g.size(0), static_cast<std::size_t>(g.size(1)) * g.element_size(), false);
    return {dx, torch::Tensor()};
  }
};

// ---- RMSNorm -----------------------------------------------------------------------------------------------

template <typename T>
void rms_forward_rows(const T* x, const T* w, T* y, float* rstd, std::int64_t n, std::int64_t c, double eps) {
  at::parallel_for(0, n, 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const T* xr = x + i * c;
      float ss = 0;
      for (std::int64_t j = 0; j < c; ++j) {
        const float v = static_cast<float>(xr[j]);
        ss += v * v;
      }
      const float r = 1.0f / std::sqrt(ss / static_cast<float>(c) + static_cast<float>(eps));
      rstd[i] = r;
      T* yr = y + i * c;
      for (std::int64_t j = 0; j < c; ++j)  // w · cast(x·r), the product rounded in T as HF does
        yr[j] = static_cast<T>(static_cast<float>(w[j]) * static_cast<float>(static_cast<T>(static_cast<float>(xr[j]) * r)));
    }
  });
}

// dx = r·(g⊙w) − x·r³·mean((g⊙w)⊙x)   (the weight is frozen; the bf16 rounding of the forward is ignored).
template <typename T>
void rms_backward_rows(const T* x, const T* w, const T* g, const float* rstd, T* dx, std::int64_t n, std::int64_t c) {
  at::parallel_for(0, n, 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const T* xr = x + i * c;
      const T* gr = g + i * c;
      float dot = 0;
      for (std::int64_t j = 0; j < c; ++j) dot += static_cast<float>(gr[j]) * static_cast<float>(w[j]) * static_cast<float>(xr[j]);
      const float r = rstd[i];
      const float k = r * r * r * dot / static_cast<float>(c);
      T* dr = dx + i * c;
      for (std::int64_t j = 0; j < c; ++j)
        dr[j] = static_cast<T>(r * static_cast<float>(gr[j]) * static_cast<float>(w[j]) - static_cast<float>(xr[j]) * k);
    }
  });
}

struct RmsNormFn : public torch::autograd::Function<RmsNormFn> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x_in, const torch::Tensor& w, double eps) {
    const torch::Tensor x = x_in.contiguous();
    const std::int64_t c = x.size(-1), n = x.numel() / c;
    torch::Tensor y = at::empty_like(x);
    torch::Tensor rstd = at::empty({n}, x.options().dtype(torch::kFloat));
    if (x.scalar_type() == torch::kFloat)
      rms_forward_rows(x.data_ptr<float>(), w.data_ptr<float>(), y.data_ptr<float>(), rstd.data_ptr<float>(), n, c, eps);
    else
      rms_forward_rows(x.data_ptr<c10::BFloat16>(), w.data_ptr<c10::BFloat16>(), y.data_ptr<c10::BFloat16>(),
                       rstd.data_ptr<float>(), n, c, eps);
    ctx->save_for_backward({x, w, rstd});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list s = ctx->get_saved_variables();
    const torch::Tensor &x = s[0], &w = s[1], &rstd = s[2];
    const torch::Tensor g = grads[0].contiguous();
    const std::int64_t c = x.size(-1), n = x.numel() / c;
    torch::Tensor dx = at::empty_like(x);
    if (x.scalar_type() == torch::kFloat)
      rms_backward_rows(x.data_ptr<float>(), w.data_ptr<float>(), g.data_ptr<float>(), rstd.data_ptr<float>(),
                        dx.data_ptr<float>(), n, c);
    else
      rms_backward_rows(x.data_ptr<c10::BFloat16>(), w.data_ptr<c10::BFloat16>(), g.data_ptr<c10::BFloat16>(),
                        rstd.data_ptr<float>(), dx.data_ptr<c10::BFloat16>(), n, c);
    return {dx, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor lora_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, const torch::Tensor& a,
                          const std::vector<torch::Tensor>& bs, const std::vector<std::int64_t>& offs, double scale) {
  c10::optional<torch::Tensor> bias;
  if (b.defined()) bias = b;
  return LoraLinearFn::apply(x, w, bias, a, at::TensorList(bs), offs, scale);
}

torch::Tensor swiglu(const torch::Tensor& gu) { return SwigluFn::apply(gu); }

torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& branch_mask, std::int64_t batch, double scale, std::int64_t block) {
  c10::optional<torch::Tensor> m;
  if (branch_mask.defined()) m = branch_mask;
  return CausalAttentionFn::apply(q, k, v, m, batch, scale, block);
}

torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& rows) {
  return GatherRowsFn::apply(x, rows.to(torch::kLong).contiguous());
}

std::vector<torch::Tensor> rope_split(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin_signed,
                                      std::int64_t heads, std::int64_t kv_heads) {
  return RopeSplitFn::apply(qkv, cos.contiguous(), sin_signed.contiguous(), heads, kv_heads);
}

torch::Tensor rms_norm_fused(const torch::Tensor& x, const torch::Tensor& w, double eps) {
  const bool ok = (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16) &&
                  w.scalar_type() == x.scalar_type() && w.is_contiguous() && x.device().is_cpu();
  if (!ok) {  // eager composition (other dtypes or devices)
    torch::Tensor xf = x.to(torch::kFloat);
    return w * (xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps)).to(x.scalar_type());
  }
  return RmsNormFn::apply(x, w, eps);
}

}  // namespace ecpo::train
