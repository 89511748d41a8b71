// Torch helpers shared by the model/ engines (decoder and encoder). INTERNAL: includes libtorch, so only
// src/model/*.cpp (and their tests/benches) may include it — never a public header.
// Provides: safetensors → torch tensors, dtype names, thread setup, RMSNorm and attention written by hand
// (libtorch 1.13 has neither). Shapes: B batch, T query length, S key length, H heads, Hkv kv heads, D head dim.
#pragma once
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <ATen/Parallel.h>
#include <torch/types.h>

#include "model/safetensors.h"

namespace ecpo::model {

// "F32" → kFloat, "BF16" → kBFloat16, "F16" → kHalf, "I64" → kLong, ... (throws ecpo::Error when unknown).
torch::ScalarType torch_dtype_from_safetensors(const std::string& dtype);
std::string safetensors_dtype_from_torch(torch::ScalarType t);
// "float32"/"fp32"/"f32", "bfloat16"/"bf16", "float16"/"fp16"/"f16" → ScalarType (config and CLI names).
torch::ScalarType torch_dtype_from_name(const std::string& name);

// One tensor copied out of the mapped file (from_blob + clone), optionally converted to `to`.
torch::Tensor tensor_from_view(const TensorView& view, std::optional<torch::ScalarType> to = std::nullopt);

// Every tensor of a .safetensors file or a model directory (single or sharded), optionally converted.
std::map<std::string, torch::Tensor> load_safetensors(const std::filesystem::path& dir_or_file,
                                                      std::optional<torch::ScalarType> to = std::nullopt);
// Writes tensors (made contiguous, moved to CPU) with safetensors_write.
void save_safetensors(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// torch::set_num_threads(n); n <= 0 means std::thread::hardware_concurrency(). Returns the count set.
int set_threads(int n);

// RMSNorm as in HF LlamaRMSNorm: computed in float32, x * rsqrt(mean(x², -1) + eps), cast back to x's dtype,
// then multiplied by weight.  x [..., C], weight [C].
torch::Tensor rms_norm(const torch::Tensor& x, const torch::Tensor& weight, double eps);

// [B, Hkv, S, D] → [B, Hkv*n_rep, S, D] (each kv head repeated n_rep times, adjacent — HF repeat_kv).
torch::Tensor repeat_kv(const torch::Tensor& x, std::int64_t n_rep);

// Softmax attention: q [B, H, T, D], k/v [B, Hkv, S, D] (GQA: H % Hkv == 0), additive mask broadcastable to
// [B, H, T, S] (0 keeps, -inf drops) or undefined for none. Scores and softmax in float32. Returns [B, H, T, D].
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask);

// Additive causal mask [1, 1, T, S] for T new queries placed after S - T cached positions.
torch::Tensor causal_mask(std::int64_t t, std::int64_t s, torch::ScalarType dtype = torch::kFloat);

}  // namespace ecpo::model
