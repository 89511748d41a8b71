// Rotary position embedding frequencies, torch-free: the inverse frequencies HF Llama/Qwen2 use, including
// the llama3 rope_scaling rule (transformers' _compute_llama3_parameters, reproduced step by step in float32).
// Applying the rotation (rotate_half on the two halves of each head) lives in the torch forward (llama.cpp).
#pragma once
#include <cstdint>
#include <vector>

#include "model/hf-config.h"

namespace ecpo::model {

// inv_freq[i] = 1 / theta^(2i / head_dim), i in [0, head_dim/2), in float32 like torch.
std::vector<float> rope_default_inv_freq(std::int64_t head_dim, double theta);
// Applies llama3 scaling to default frequencies: long wavelengths (> original_max / low_freq_factor) divided
// by factor, short ones (< original_max / high_freq_factor) kept, the band between smoothly interpolated.
std::vector<float> rope_llama3_scale(const std::vector<float>& inv_freq, const RopeScaling& s);
// The table a config implies (default or llama3).
std::vector<float> rope_inv_freq(const HfConfig& config);

}  // namespace ecpo::model
