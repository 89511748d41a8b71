// Fused autograd operations (see fused-ops.h). torch::autograd::Function forwards run with grad mode off;
// their backwards use at:: ops with out= arguments or plain per-row loops (at::parallel_for).
#include "train/fused-ops.h"

#include <cmath>

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
    ctx->save_for_backward({gu});
    torch::Tensor act = at::silu(gu.narrow(1, 0, I));
    act.mul_(gu.narrow(1, I, I));
    return act;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor gu = ctx->get_saved_variables()[0];
    const std::int64_t I = gu.size(1) / 2;
    const torch::Tensor gate = gu.narrow(1, 0, I), up = gu.narrow(1, I, I);
    const torch::Tensor& g = grads[0];
    torch::Tensor d = at::empty_like(gu);
    torch::Tensor d_gate = d.narrow(1, 0, I), d_up = d.narrow(1, I, I);  // strided views, written in place
    at::silu_backward_out(d_gate, g * up, gate);  // ∂/∂gate = g·up·silu'(gate)
    at::mul_out(d_up, g, at::silu(gate));         // ∂/∂up = g·silu(gate)
    return {d};
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
