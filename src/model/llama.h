// The decoder-only causal LM (Llama and Qwen2 architectures) behind a torch-free interface (PIMPL), so any
// module can include it. Weights are HF-named safetensors (single or sharded); the config is config.json.
// Intended usage:
//   auto lm = CausalLM::load(dir, {.dtype = "bfloat16", .threads = 2});
//   std::vector<float> logits = lm->logits_last(ids);                 // [V] of the last position
//   GenerateResult r = lm->generate(prompt_ids, params, decoder);     // KV-cache generation
// Every step runs on hand-written CPU kernels over the weights, used in place from the mmapped safetensors when
// their dtype is the compute dtype (llama-impl.h); set_fast_decode(false) switches to the torch reference forward
// (linking ecpo_model_torch). Not thread-safe: one CausalLM per thread (or a lock) for concurrent calls.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/generate.h"
#include "model/hf-config.h"

namespace ecpo::model {

class BatchScheduler;

struct ModelOptions {
  // compute/weight dtype: float32 | bfloat16 | auto (bfloat16 when config torch_dtype is bfloat16, else float32).
  // float16 compute is refused (fp16 weights load into either dtype). Activations are float32 in both.
  std::string dtype = "float32";
  int threads = 0;                // threads of the engine's work pool (and torch's, for the reference); 0 = hardware
  // PEFT LoRA adapter directory (adapter_config.json + adapter_model.safetensors), merged into the weights at
  // load (W' = W + scale·B·A in float32, then cast to dtype); empty = none.
  std::filesystem::path adapter_dir;
};

class CausalLM {
 public:
  // Reads <dir>/config.json and the safetensors weights (and options.adapter_dir); throws ecpo::Error naming the
  // file and tensor — for an adapter also when a key names no module of this model or a shape disagrees.
  static std::unique_ptr<CausalLM> load(const std::filesystem::path& dir, const ModelOptions& options = {});
  ~CausalLM();
  CausalLM(const CausalLM&) = delete;
  CausalLM& operator=(const CausalLM&) = delete;

  const HfConfig& config() const;
  std::string dtype() const;  // "float32" | "bfloat16" | "float16"

  // Logits (float32) of the last position for one sequence, full forward without cache: [V].
  std::vector<float> logits_last(const std::vector<int>& ids);
  // Logits of every position: [T][V].
  std::vector<std::vector<float>> logits_all(const std::vector<int>& ids);
  // Several sequences in one forward (each its own KV cache; the torch reference left-pads them): last-position
  // logits per sequence, [B][V]. On the kernels each row equals logits_last of that sequence bit for bit.
  std::vector<std::vector<float>> logits_last_batch(const std::vector<std::vector<int>>& batch);

  // Logits of positions prefix-1 .. n-1 computed the way generation does: one batched prefill of ids[0, prefix),
  // then one token at a time through the KV cache (the decode path). [n - prefix + 1][V]. For checking the
  // decode path against logits_all / logits_last.
  std::vector<std::vector<float>> logits_incremental(const std::vector<int>& ids, std::size_t prefix = 1);

  // On (default): every step runs on the hand-written kernels (model/kernels.h). Off: every step runs the torch
  // reference forward over the same weights (llama-reference.cpp) — only programs that call this link libtorch.
  void set_fast_decode(bool on);
  bool fast_decode() const;

  // Generation with a KV cache (params.use_kv_cache = false re-runs the full forward every step).
  // decode turns ids into text for stop strings and GenerateResult::text; may be empty.
  GenerateResult generate(const std::vector<int>& prompt, const GenerateParams& params, const TokenDecoder& decode = {});

  // Bytes of all weights.
  std::int64_t weight_bytes() const;
  // Bytes one decode step must read at least: every weight matrix and vector once, but of the embedding table
  // only one row (unless it is tied to lm_head, which reads it all). Memory bandwidth ÷ this = the decode bound.
  std::int64_t decode_bytes() const;

  struct Impl;

 private:
  friend class BatchScheduler;  // runs many sequences through Impl's forward (batch-scheduler.h)
  explicit CausalLM(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ecpo::model
