// Training objectives (see losses.h). Formulas: trl dpo_trainer.py dpo_loss, cpo_trainer.py (simpo),
// kto_trainer.py kto_loss, as summarised in training-reference.md §3, §5, §6.
#include "train/losses.h"

#include <ATen/ATen.h>

#include "util/error.h"

namespace ecpo::train {

PrefLoss pref_loss_from_name(const std::string& name) {
  if (name == "sigmoid") return PrefLoss::sigmoid;
  if (name == "ipo") return PrefLoss::ipo;
  if (name == "hinge") return PrefLoss::hinge;
  if (name == "robust") return PrefLoss::robust;
  throw Error("unknown loss_type '" + name + "'", "loss_type", "use sigmoid, ipo, hinge or robust");
}

std::string pref_loss_name(PrefLoss t) {
  switch (t) {
    case PrefLoss::sigmoid: return "sigmoid";
    case PrefLoss::ipo: return "ipo";
    case PrefLoss::hinge: return "hinge";
    case PrefLoss::robust: return "robust";
  }
  return "?";
}

PrefOutput dpo_loss(const torch::Tensor& pol_c, const torch::Tensor& pol_r, const torch::Tensor& ref_c,
                    const torch::Tensor& ref_r, const DpoParams& p) {
  const torch::Tensor rho_c = pol_c - ref_c;
  const torch::Tensor rho_r = pol_r - ref_r;
  const torch::Tensor delta = rho_c - rho_r;
  const double b = p.beta, e = p.label_smoothing;
  torch::Tensor losses;
  switch (p.loss_type) {
    case PrefLoss::sigmoid:
      losses = -at::log_sigmoid(b * delta) * (1.0 - e) - at::log_sigmoid(-b * delta) * e;
      break;
    case PrefLoss::robust:
      if (!(e >= 0 && e < 0.5))
        throw Error("label_smoothing must lie in [0, 0.5) for the robust loss", "label_smoothing");
      losses = (-at::log_sigmoid(b * delta) * (1.0 - e) + at::log_sigmoid(-b * delta) * e) / (1.0 - 2.0 * e);
      break;
    case PrefLoss::hinge:
      losses = at::relu(1.0 - b * delta);
      break;
    case PrefLoss::ipo:
      losses = (delta - 1.0 / (2.0 * b)).pow(2);
      break;
  }
  return {losses, (b * rho_c).detach(), (b * rho_r).detach()};
}

PrefOutput simpo_loss(const torch::Tensor& avg_c, const torch::Tensor& avg_r, const SimpoParams& p) {
  const torch::Tensor h = p.beta * (avg_c - avg_r) - p.gamma;
  const double e = p.label_smoothing;
  torch::Tensor losses = -at::log_sigmoid(h) * (1.0 - e) - at::log_sigmoid(-h) * e;
  return {losses, (p.beta * avg_c).detach(), (p.beta * avg_r).detach()};
}

KtoOutput kto_loss(const torch::Tensor& pol, const torch::Tensor& ref, const torch::Tensor& labels,
                   const torch::Tensor& kl_pol, const torch::Tensor& kl_ref, const KtoParams& p) {
  KtoOutput o;
  o.kl = kl_pol.numel() ? std::max(0.0, (kl_pol - kl_ref).detach().to(at::kDouble).mean().item<double>()) : 0.0;
  const torch::Tensor rho = pol - ref;
  const torch::Tensor desirable = labels.to(at::kBool);
  const torch::Tensor l_d = p.desirable_weight * (1.0 - at::sigmoid(p.beta * (rho - o.kl)));
  const torch::Tensor l_u = p.undesirable_weight * (1.0 - at::sigmoid(p.beta * (o.kl - rho)));
  o.losses = at::where(desirable, l_d, l_u);
  o.rewards = (p.beta * rho).detach();
  return o;
}

}  // namespace ecpo::train
