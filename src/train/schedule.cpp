// Learning-rate schedules (see schedule.h).
#include "train/schedule.h"

#include <algorithm>
#include <cmath>

namespace ecpo::train {

std::int64_t schedule_warmup_steps(double warmup_ratio, std::int64_t warmup_steps, std::int64_t total) {
  if (warmup_steps >= 0) return warmup_steps;
  return static_cast<std::int64_t>(std::ceil(warmup_ratio * static_cast<double>(total) - 1e-9));
}

double schedule_lr_lambda(const std::string& kind, std::int64_t step, std::int64_t warmup, std::int64_t total) {
  if (step < warmup) return static_cast<double>(step) / static_cast<double>(std::max<std::int64_t>(1, warmup));
  if (kind == "constant") return 1.0;
  const double denom = static_cast<double>(std::max<std::int64_t>(1, total - warmup));
  const double p = static_cast<double>(step - warmup) / denom;
  if (kind == "linear") return std::max(0.0, static_cast<double>(total - step) / denom);
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * p)));  // cosine, num_cycles 0.5
}

}  // namespace ecpo::train
