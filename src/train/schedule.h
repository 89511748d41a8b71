// Learning-rate schedules with warmup, torch-free, as transformers' optimization.py defines them
// (get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup, get_constant_schedule_with_warmup;
// training-reference.md §16). `step` is the 0-based optimiser step about to be taken, so — like HF — the very
// first update of a run with warmup uses multiplier 0.
#pragma once
#include <cstdint>
#include <string>

namespace ecpo::train {

// warmup_steps >= 0 wins; otherwise ceil(ratio · total).
std::int64_t schedule_warmup_steps(double warmup_ratio, std::int64_t warmup_steps, std::int64_t total);

// Multiplier of the peak lr: step/warmup during warmup, then cosine 0.5·(1 + cos(π·p)) | linear 1 − p |
// constant 1, p = (step − warmup)/(total − warmup). kind: cosine | linear | constant.
double schedule_lr_lambda(const std::string& kind, std::int64_t step, std::int64_t warmup, std::int64_t total);

}  // namespace ecpo::train
