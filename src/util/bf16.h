// bfloat16 ⇄ float32, one copy for the project: the weights writer and reader (model/safetensors), the decode
// kernels' bf16 KV cache and widening (model/decode-kernels). bf16 is the top 16 bits of an IEEE float32;
// narrowing rounds to nearest even (as c10::BFloat16 and PyTorch do) and keeps NaN a (quiet) NaN.
#pragma once
#include <cstdint>
#include <cstring>

namespace ecpo {

inline float bf16_to_f32(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline std::uint16_t f32_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

}  // namespace ecpo
