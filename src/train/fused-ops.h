// Fused autograd operations of the training forward, each with a hand-written backward that computes only
// what a frozen base with LoRA adapters needs and saves fewer activations than the eager composition.
// INTERNAL: includes libtorch. Rows are tokens: x [N, in]; dtype float32 or bfloat16 (LoRA matmuls in x's dtype,
// adapters and their gradients f32). Each op equals its eager composition (tests/train/fused-ops-test.cpp checks
// values and gradients at every row-kernel level).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

namespace ecpo::train {

// A frozen linear layer without adapters: y = x·wᵀ + b (b optional), a gradient for x only. Large float32 products
// run through oneDNN (at::mkldnn_linear; OpenBLAS's sgemm is ~1.7× slower on AVX-512 CPUs), the rest through
// at::linear / at::mm; lora_linear's frozen part uses the same choice.
torch::Tensor frozen_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {});

// A frozen linear layer (weight w [out, in], optional bias b [out]) whose output column blocks carry LoRA
// deltas: y = x·wᵀ + b;  y[:, offs[i] : offs[i] + out_i] += scale · (x·A_iᵀ)·B_iᵀ, with A_i = rows
// [i·r, (i+1)·r) of `a` [m·r, in] and B_i = bs[i] [out_i, r]. Gradients: x (when it requires one), a, bs.
// The LoRA matmuls run in x's dtype (bf16 for a bf16 base, as under torch.autocast); a, bs and their
// gradients stay f32.
torch::Tensor lora_linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                          const torch::Tensor& a, const std::vector<torch::Tensor>& bs,
                          const std::vector<std::int64_t>& offs, double scale);

// SwiGLU on the fused gate|up output gu [N, 2·I]: silu(gu[:, :I]) ⊙ gu[:, I:] → [N, I]; the backward writes
// one [N, 2·I] gradient instead of two zero-padded slices.
torch::Tensor swiglu(const torch::Tensor& gu);

// RoPE and the attention layout in one pass. qkv [B, T, H + 2·Hkv, D] (contiguous); cos, sin_signed float
// [T, D] (every row uses positions 0..T−1) or [B·T, D] (per-token positions), sin_signed = sin with its first
// half negated, so rope(x) = x·cos + roll(x, D/2)·sin_signed = HF's x·cos + rotate_half(x)·sin. Returns
// q [B·Hkv, rep·T, D] (the rep = H/Hkv query heads of kv head j stacked along the query axis: GQA without
// repeat_kv), k [B·Hkv, T, D] (rotated) and v [B·Hkv, T, D]; the backward writes one [B, T, H + 2·Hkv, D] grad.
std::vector<torch::Tensor> rope_split(const torch::Tensor& qkv, const torch::Tensor& cos, const torch::Tensor& sin_signed,
                                      std::int64_t heads, std::int64_t kv_heads);

// Causal softmax attention over the GQA-stacked layout of rope_split, skipping the masked upper triangle in
// blocks: query rows [c·Tc, (c+1)·Tc) of every stacked head only meet keys [0, (c+1)·Tc). q [B·Hkv, rep·T, D],
// k, v [B·Hkv, T, D]; branch_mask (optional) [B, T, T] additive (0 / −inf) replaces the causal mask for packed
// rows. Scores, the f32 softmax and the probabilities of each block are those of the eager
// softmax(q·kᵀ·scale + mask)·v, so values and gradients agree; FLOPs fall by up to half for long T.
torch::Tensor causal_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& branch_mask, std::int64_t batch, double scale,
                               std::int64_t block = 128);

// x [N, C] rows at distinct indices `rows` → [R, C]; the backward scatters the rows back into zeros with one
// parallel copy (at::index_select's backward, index_add, goes row by row on CPU).
torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& rows);

// HF LlamaRMSNorm with a frozen weight: w ⊙ cast(x_f32 · rsqrt(mean(x_f32²) + eps)), one pass per row
// forward and backward (float32 and bfloat16 x; the weight has x's dtype).
torch::Tensor rms_norm_fused(const torch::Tensor& x, const torch::Tensor& w, double eps);

// The instruction-set level of the row kernels behind swiglu, the softmax of causal_attention, rms_norm_fused and
// rope_split: "avx512", "avx2" or "portable" (plain C++), the widest the CPU has unless set_row_kernel_level chose
// another (tests compare them; false when the CPU lacks it). Levels differ only in float rounding.
std::string row_kernel_level();
bool set_row_kernel_level(const std::string& name);

}  // namespace ecpo::train
