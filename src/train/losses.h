// Training objectives on sequence log-probabilities (training-reference.md §1–§6). INTERNAL: includes
// libtorch, so only src/train/*.cpp and the train tests include it. Every function takes per-sequence
// scores already reduced over completion tokens (sum, or length-average where the loss says so) and returns
// per-example losses plus the detached rewards the TRL metrics are made of. Shapes: P pairs, N examples.
// Not here: the forward pass, batching, the reduction over an accumulated batch (the trainer divides the
// summed per-example losses by the number of examples of the whole optimiser step).
#pragma once
#include <string>

#include <torch/types.h>

namespace ecpo::train {

enum class PrefLoss { sigmoid, ipo, hinge, robust };

// "sigmoid" | "ipo" | "hinge" | "robust"; throws ecpo::Error naming loss_type and the choices otherwise.
PrefLoss pref_loss_from_name(const std::string& name);
std::string pref_loss_name(PrefLoss t);
// IPO scores sequences by their length-averaged log-probability (trl), the others by the sum.
inline bool pref_loss_uses_average(PrefLoss t) { return t == PrefLoss::ipo; }

struct DpoParams {
  PrefLoss loss_type = PrefLoss::sigmoid;
  double beta = 0.1;
  double label_smoothing = 0.0;  // ε: cDPO for sigmoid, the robust loss's ε; ignored by ipo and hinge
};

// Per-pair DPO-family losses. ρ_c = pol_c − ref_c, ρ_r = pol_r − ref_r, Δ = ρ_c − ρ_r:
//   sigmoid: −(1−ε)·logσ(βΔ) − ε·logσ(−βΔ)                 hinge: relu(1 − βΔ)
//   robust:  [−(1−ε)·logσ(βΔ) + ε·logσ(−βΔ)] / (1 − 2ε)      ipo:   (Δ − 1/(2β))²
// rewards_* = β·ρ (detached).
struct PrefOutput {
  torch::Tensor losses;            // [P], differentiable in pol_c / pol_r
  torch::Tensor rewards_chosen;    // [P] detached
  torch::Tensor rewards_rejected;  // [P] detached
};
PrefOutput dpo_loss(const torch::Tensor& pol_c, const torch::Tensor& pol_r, const torch::Tensor& ref_c,
                    const torch::Tensor& ref_r, const DpoParams& p);

// SimPO (reference-free): inputs are length-averaged log-probs. h = β·(avg_c − avg_r) − γ;
// loss = −(1−ε)·logσ(h) − ε·logσ(−h); rewards = β·avg (detached).
struct SimpoParams {
  double beta = 2.0;
  double gamma = 0.5;
  double label_smoothing = 0.0;
};
PrefOutput simpo_loss(const torch::Tensor& avg_c, const torch::Tensor& avg_r, const SimpoParams& p);

// KTO (trl kto_trainer): ρ = pol − ref per example (sums); z = clamp_min(mean(kl_pol − kl_ref), 0), detached;
// desirable: w_D·(1 − σ(β(ρ − z))), undesirable: w_U·(1 − σ(β(z − ρ))). labels: bool [N], true = desirable.
struct KtoParams {
  double beta = 0.1;
  double desirable_weight = 1.0;
  double undesirable_weight = 1.0;
};
struct KtoOutput {
  torch::Tensor losses;   // [N] weighted per-example losses
  torch::Tensor rewards;  // [N] β·ρ, detached
  double kl = 0;          // z
};
KtoOutput kto_loss(const torch::Tensor& pol, const torch::Tensor& ref, const torch::Tensor& labels,
                   const torch::Tensor& kl_pol, const torch::Tensor& kl_ref, const KtoParams& p);

}  // namespace ecpo::train
