// llama2.c legacy (v0) checkpoint → Hugging Face Llama directory, torch-free. Header: 7 int32 (dim,
// hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative = separate classifier), seq_len), then fp32
// token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis real/imag, [wcls].
// llama2.c rotates interleaved pairs (x[2i], x[2i+1]); HF rotates halves, so wq/wk rows are permuted per
// head exactly like transformers' convert_llama_weights_to_hf.py. No tokenizer is written (tok*.bin differs).
#pragma once
#include <filesystem>

#include "model/hf-config.h"

namespace ecpo::model {

// Writes config.json (rope_theta 1e4, rms_norm_eps 1e-5, bos 1, eos 2) and model.safetensors (F32) to out_dir.
// Throws ecpo::Error when the file size does not match the header's layout.
HfConfig llama2c_convert(const std::filesystem::path& bin, const std::filesystem::path& out_dir);

}  // namespace ecpo::model
