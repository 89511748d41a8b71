// RoPE inverse-frequency tables (see rope.h). Arithmetic is float32 where torch's is, so tables match
// transformers bit-for-bit or within one ulp.
#include "model/rope.h"

#include <cmath>

namespace ecpo::model {

std::vector<float> rope_default_inv_freq(std::int64_t head_dim, double theta) {
  std::vector<float> out;
  for (std::int64_t i = 0; i < head_dim; i += 2) {
    // torch: 1.0 / (base ** (arange(0, dim, 2).float() / dim)), all float32.
    float e = static_cast<float>(i) / static_cast<float>(head_dim);
    float p = std::pow(static_cast<float>(theta), e);
    out.push_back(1.0f / p);
  }
  return out;
}

std::vector<float> rope_llama3_scale(const std::vector<float>& inv_freq, const RopeScaling& s) {
  const float factor = static_cast<float>(s.factor);
  const float low = static_cast<float>(s.low_freq_factor), high = static_cast<float>(s.high_freq_factor);
  const double old_ctx = static_cast<double>(s.original_max_position_embeddings);
  const float low_freq_wavelen = static_cast<float>(old_ctx / s.low_freq_factor);
  const float high_freq_wavelen = static_cast<float>(old_ctx / s.high_freq_factor);
  std::vector<float> out(inv_freq.size());
  for (std::size_t i = 0; i < inv_freq.size(); ++i) {
    const float f = inv_freq[i];
    const float wavelen = static_cast<float>(2 * M_PI) / f;
    float scaled = wavelen > low_freq_wavelen ? f / factor : f;  // long wavelengths: divide by factor
    const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    if (medium) {
      const float smooth = (static_cast<float>(old_ctx) / wavelen - low) / (high - low);
      scaled = (1 - smooth) * scaled / factor + smooth * scaled;
    }
    out[i] = scaled;
  }
  return out;
}

std::vector<float> rope_inv_freq(const HfConfig& config) {
  auto f = rope_default_inv_freq(config.head_dim, config.rope_theta);
  if (config.rope_scaling.type == "llama3") f = rope_llama3_scale(f, config.rope_scaling);
  return f;
}

}  // namespace ecpo::model
