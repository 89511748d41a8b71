// Flat AdamW and gradient clipping (see optim.h); formulas of torch/optim/adamw.py (_single_tensor_adamw)
// and torch/nn/utils/clip_grad.py in torch 1.13.
#include "train/optim.h"

#include <cmath>

#include <ATen/ATen.h>

#include "model/safetensors.h"
#include "util/error.h"

namespace ecpo::train {

FlatAdamW::FlatAdamW(torch::Tensor params, torch::Tensor grads, AdamWParams p)
    : p_(std::move(params)), g_(std::move(grads)), hp_(p) {
  m_ = torch::zeros_like(p_);
  v_ = torch::zeros_like(p_);
}

void FlatAdamW::step(double lr) {
  torch::NoGradGuard ng;
  ++step_;
  if (hp_.weight_decay != 0) p_.mul_(1.0 - lr * hp_.weight_decay);
  m_.mul_(hp_.beta1).add_(g_, 1.0 - hp_.beta1);
  v_.mul_(hp_.beta2).addcmul_(g_, g_, 1.0 - hp_.beta2);
  const double bc1 = 1.0 - std::pow(hp_.beta1, static_cast<double>(step_));
  const double bc2 = 1.0 - std::pow(hp_.beta2, static_cast<double>(step_));
  torch::Tensor denom = (v_.sqrt() / std::sqrt(bc2)).add_(hp_.eps);
  p_.addcdiv_(m_, denom, -lr / bc1);
}

double FlatAdamW::clip_grad_norm(double max_norm) {
  torch::NoGradGuard ng;
  const double norm = g_.norm().item<double>();
  if (max_norm > 0) {
    const double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) g_.mul_(coef);
  }
  return norm;
}

void FlatAdamW::zero_grad() { g_.zero_(); }

void FlatAdamW::save(const std::filesystem::path& file) const {
  auto pack = [](const std::string& name, const torch::Tensor& t) {
    torch::Tensor c = t.contiguous();
    model::TensorData d{name, "F32", {c.numel()}, {}};
    d.bytes.assign(static_cast<const char*>(c.data_ptr()), static_cast<std::size_t>(c.numel()) * sizeof(float));
    return d;
  };
  model::safetensors_write(file, {pack("exp_avg", m_), pack("exp_avg_sq", v_)}, {{"step", std::to_string(step_)}});
}

void FlatAdamW::load(const std::filesystem::path& file) {
  model::SafetensorsFile f(file);
  for (const char* name : {"exp_avg", "exp_avg_sq"}) {
    model::TensorView v = f.get(name);
    if (v.info->dtype != "F32" || v.numel() != p_.numel())
      throw Error(std::string("optimiser state '") + name + "' holds " + std::to_string(v.numel()) +
                      " values, the adapter has " + std::to_string(p_.numel()),
                  file.string(), "the checkpoint belongs to another adapter shape");
    torch::Tensor t = torch::from_blob(const_cast<std::uint8_t*>(v.data), {v.numel()}, torch::kFloat);
    (std::string(name) == "exp_avg" ? m_ : v_).copy_(t);
  }
  auto it = f.header().metadata.find("step");
  if (it == f.header().metadata.end()) throw Error("optimiser state lacks its step", file.string());
  step_ = std::stoll(it->second);
}

}  // namespace ecpo::train
