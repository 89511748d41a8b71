// The order examples are trained in, torch-free. One epoch = a seeded shuffle, grouped by length in
// mega-batches (HF Trainer's group_by_length: megabatches of 50 optimiser steps, sorted longest first), cut
// into optimiser steps of batch_size × grad_accum examples; inside a step the examples are sorted by length
// and cut into micro-batches of batch_size, so padding stays small; the steps are then shuffled. A step's set
// of examples depends only on batch_size × grad_accum, which is what makes micro-batch 4 × accumulation 1
// and 1 × 4 the same update. Deterministic in (seed, epoch) on every platform.
#pragma once
#include <cstdint>
#include <vector>

namespace ecpo::train {

struct StepPlan {
  std::vector<std::vector<std::size_t>> micro;  // micro-batches of example indices
  std::size_t examples() const;
};

// lengths[i] = tokens of example i (for pairs the longer side). Every example appears once per epoch.
std::vector<StepPlan> plan_epoch(const std::vector<std::int64_t>& lengths, std::int64_t batch_size,
                                 std::int64_t grad_accum, std::uint64_t seed, std::int64_t epoch,
                                 bool group_by_length = true);

// Number of optimiser steps of one epoch: ceil(n / (batch_size × grad_accum)).
std::int64_t steps_per_epoch(std::size_t n, std::int64_t batch_size, std::int64_t grad_accum);

// Micro-batches over [0, n) for evaluation and reference passes (no gradient): sorted by length within windows
// of 64 micro-batches to reduce padding, at most `batch_size` examples and — past the first — at most
// `max_tokens` padded tokens each (bounds the activation memory of long sequences). Covers [0, n) once.
std::vector<std::vector<std::size_t>> plan_eval(const std::vector<std::int64_t>& lengths, std::int64_t batch_size,
                                                std::int64_t max_tokens = 8192);

}  // namespace ecpo::train
