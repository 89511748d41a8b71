// AdamW over one flat f32 parameter buffer, step for step the single-tensor path of torch.optim.AdamW
// (decoupled decay p ← p·(1 − lr·wd); m, v moments; bias corrections; p ← p − lr/bc1 · m / (√v/√bc2 + ε)),
// plus HF's clip_grad_norm_ (one global L2 norm, scaled by min(1, max_norm/(norm + 1e-6))). INTERNAL (torch).
// State (m, v, step) saves to and loads from safetensors for checkpoints.
#pragma once
#include <cstdint>
#include <filesystem>

#include <torch/types.h>

namespace ecpo::train {

struct AdamWParams {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

class FlatAdamW {
 public:
  FlatAdamW(torch::Tensor params, torch::Tensor grads, AdamWParams p);
  // One update with learning rate `lr` from the current grads.
  void step(double lr);
  // Returns the total norm before clipping; scales the grads in place when max_norm > 0 and it is exceeded.
  double clip_grad_norm(double max_norm);
  void zero_grad();
  std::int64_t steps() const { return step_; }

  void save(const std::filesystem::path& file) const;
  // Throws ecpo::Error when the file's sizes do not match this adapter.
  void load(const std::filesystem::path& file);

 private:
  torch::Tensor p_, g_, m_, v_;
  AdamWParams hp_;
  std::int64_t step_ = 0;
};

}  // namespace ecpo::train
