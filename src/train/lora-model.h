// The training forward: a differentiable Llama / Qwen2 decoder (training-reference.md §12) over a frozen base
// read from a Hugging Face model directory, with LoRA branches y = x·W0ᵀ + s·(dropout(x)·Aᵀ)·Bᵀ (§7) on any of
// q, k, v, o, gate, up, down. INTERNAL: includes libtorch (src/train/*.cpp and the train tests only).
// Shapes: B batch, T padded length, N = B·T rows, S scored tokens, C hidden, V vocabulary, r rank.
// The base holds no grad buffers (requires_grad false); the trainable adapter lives in one flat f32 buffer
// (params, grads) so the optimiser and clipping are a handful of ops. Frozen weights are fused (q|k|v,
// gate|up) and the LoRA A matrices of a fused group are one tensor. The vocabulary projection and
// log-softmax run only on the scored (completion) positions. A second, frozen adapter can serve as the
// reference (ECPO: base + SGPT adapter). Not here: losses, batching policy, optimiser, checkpoints.
#pragma once
#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "model/hf-config.h"
#include "model/lora-adapter.h"
#include "train/dataset.h"

namespace ecpo::train {

// Projection order used everywhere in train/: q, k, v, o, gate, up, down.
constexpr int kProjCount = 7;
extern const std::array<const char*, kProjCount> kProjNames;  // "q_proj", ...
// "model.layers.{layer}.self_attn.q_proj" etc.
std::string proj_module_path(std::int64_t layer, int proj);

struct LoraSpec {
  std::int64_t r = 8;
  double alpha = 16;
  double dropout = 0.0;
  bool rslora = false;
  std::array<bool, kProjCount> targets{true, true, true, true, true, true, true};
  double scale() const;
  std::vector<std::string> target_names() const;
};

// Parses lora_targets: "all" / "all-linear", or names like "q_proj,v_proj" (also "q,v"). Throws ecpo::Error.
std::array<bool, kProjCount> parse_lora_targets(const std::vector<std::string>& names);

// Trainable parameters of `spec` on a model: Σ over layers and targets of r·(in + out) (§7 table).
std::int64_t lora_param_count(const model::HfConfig& config, const LoraSpec& spec);

// One LoRA weight set. Per layer and fused group (0: q|k|v, 1: o, 2: gate|up, 3: down): A of the group's
// targeted members stacked [m·r, in]; B per projection [out, r] (undefined when not targeted).
struct LoraWeights {
  LoraSpec spec;
  struct Layer {
    std::array<torch::Tensor, 4> a;
    std::array<torch::Tensor, kProjCount> b;
  };
  std::vector<Layer> layers;
  // The A rows of one projection (a view), undefined when not targeted.
  torch::Tensor a_of(std::int64_t layer, int proj) const;
};

enum class Branch { base, policy, reference };

// Result of a scoring forward over a batch of sequences.
struct ScoreOut {
  torch::Tensor token_logp;             // [S] f32, log p(id_t | ids_<t) of every scored token
  torch::Tensor seq_logp;               // [B] f32, Σ over each sequence's scored tokens
  torch::Tensor seq_logit_sum;          // [B] f32 detached, Σ over scored tokens of the vocabulary-mean logit
  std::vector<std::int64_t> seq_tokens; // [B] scored tokens per sequence
  std::int64_t correct = 0;             // scored tokens whose argmax logit is the target
  std::int64_t input_tokens = 0;        // Σ sequence lengths (no padding)
  std::int64_t padded_tokens = 0;       // B·T
};

class TrainModel {
 public:
  // dtype: "float32" | "bfloat16" (frozen weights and activations; adapters stay f32). device: "cpu".
  static std::unique_ptr<TrainModel> load(const std::filesystem::path& dir, const std::string& dtype = "float32",
                                          const std::string& device = "cpu");
  ~TrainModel();
  const model::HfConfig& config() const { return cfg_; }
  const std::filesystem::path& dir() const { return dir_; }
  torch::ScalarType dtype() const { return dtype_; }

  // ---- the trainable adapter ----
  // Fresh adapter: A Kaiming-uniform (a = √5, i.e. U(±1/√in)) from `gen`, B = 0 (PEFT's init).
  void lora_init(const LoraSpec& spec, std::uint64_t seed);
  // Copies an existing adapter (its spec replaces the current one). Throws ecpo::Error naming the key when a
  // module or shape does not fit this model.
  void lora_load(const model::LoraAdapter& adapter);
  // Spec of an adapter directory's config (r, alpha, rsLoRA, targets) after checking it fits this model.
  LoraSpec lora_spec_of(const model::LoraAdapter& adapter) const;
  bool has_lora() const { return !policy_.layers.empty(); }
  const LoraSpec& lora_spec() const { return policy_.spec; }
  // Writes adapter_config.json + adapter_model.safetensors (PEFT layout, F32) atomically into `dir`.
  void lora_save(const std::filesystem::path& dir, const std::string& base_model_name_or_path) const;
  // PEFT tensor name → tensor (copies), the content lora_save writes.
  std::vector<std::pair<std::string, torch::Tensor>> lora_state() const;
  torch::Tensor& flat_params() { return flat_p_; }  // the adapter's, or every weight's after full_init
  torch::Tensor& flat_grads() { return flat_g_; }
  std::int64_t lora_numel() const { return flat_p_.defined() ? flat_p_.numel() : 0; }  // trainable parameters

  // ---- full fine-tuning (finetuning_type=full) ----
  // Makes every weight of the model trainable (embeddings, norms, projections, lm_head; a tied lm_head stays the
  // embedding) as leaves in the flat buffer, replacing any adapter. float32 only. The base branch then IS the
  // trained model, so objectives with a reference (DPO, KTO) cannot use it. Norm weights train through the eager
  // RMSNorm (the fused one has no weight gradient).
  void full_init();
  bool is_full() const { return full_; }
  // Copies the weights of an HF model directory saved by full_save (or any with this model's shapes) into the
  // trainable buffer (resume). Throws ecpo::Error naming the tensor on a shape mismatch.
  void full_load(const std::filesystem::path& dir);
  // Writes model.safetensors (HF names, F32; q/k/v and gate/up split again) atomically into `dir`, with config.json,
  // generation_config.json and the tokenizer files copied from the base directory: a model directory that ecpo and
  // Hugging Face load as they load the base.
  void full_save(const std::filesystem::path& dir) const;
  // HF tensor name → tensor (copies), what full_save writes.
  std::vector<std::pair<std::string, torch::Tensor>> full_state() const;

  // ---- the frozen reference adapter (Branch::reference; without one the reference is the base) ----
  void set_reference(const model::LoraAdapter& adapter);
  bool has_reference() const { return !ref_.layers.empty(); }

  // Scores the masked tokens of `batch` (right-padded into [B, T]). Gradients flow into the policy adapter
  // when grad mode is on and branch == policy; `train` turns LoRA dropout on.
  ScoreOut score(const std::vector<const TokenSeq*>& batch, Branch branch, bool train);
  // The same result as score({chosen…, rejected…}) (sequence i < P is pair i's chosen, P + i its rejected),
  // but each pair is one packed row [prompt | chosen completion | rejected completion]: the completions share
  // the prompt's activations (each attends to the prompt and to itself, with the positions it would have
  // alone), so the prompt is computed once instead of twice. prompt_tokens[i] = the shared prefix length;
  // a pair whose sequences do not share it is scored unpacked.
  ScoreOut score_pairs(const std::vector<const TokenSeq*>& chosen, const std::vector<const TokenSeq*>& rejected,
                       const std::vector<std::int64_t>& prompt_tokens, Branch branch, bool train);
  // Logits of every position of one sequence, [T, V] f32 (cross-checks against the inference engine).
  torch::Tensor logits(const std::vector<std::int32_t>& ids, Branch branch);

  struct Impl;
  struct Packed;  // rows of tokens with positions, attention branches and scored entries

 private:
  TrainModel() = default;
  ScoreOut score_packed(const Packed& p, Branch branch, bool train);
  // Residual stream after the last layer at `rows` (flat indices into B·T; undefined = every row), [R, C].
  // pos [B, T] (undefined: 0..T−1) and mask [B, T, T] additive (undefined: causal) for packed rows.
  torch::Tensor hidden(const torch::Tensor& ids, const torch::Tensor& pos, const torch::Tensor& mask,
                       const torch::Tensor& rows, const LoraWeights* lora, bool train);
  const LoraWeights* branch_weights(Branch b) const;
  LoraWeights adapter_weights(const model::LoraAdapter& adapter) const;

  model::HfConfig cfg_;
  std::filesystem::path dir_;
  torch::ScalarType dtype_ = torch::kFloat;
  torch::Device device_ = torch::kCPU;
  std::unique_ptr<Impl> impl_;
  LoraWeights policy_, ref_;
  torch::Tensor flat_p_, flat_g_;
  bool full_ = false;
  torch::Tensor norm(const torch::Tensor& x, const torch::Tensor& w) const;  // fused, or eager when full_
  // frozen_linear, or at::linear when full_ (the weight is trained)
  torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {}) const;
};

}  // namespace ecpo::train
