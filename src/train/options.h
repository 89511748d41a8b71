// Trainer settings, torch-free: every key `ecpo train` accepts (recipe YAML + key=value overrides), its
// per-objective default (the paper's recipes, protocol.md §12; HF/TRL defaults elsewhere,
// training-reference.md §3–§7, §16), validation with one-line errors naming the key, and the resolved
// form saved as RUNDIR/config.yaml. Not here: reading data or models.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/config.h"

namespace ecpo::train {

struct TrainOptions {
  std::string objective = "sft";  // sft | dpo | kto | simpo
  // optimisation
  double lr = 5e-5;
  std::int64_t epochs = 3;
  std::int64_t max_steps = -1;  // > 0 overrides epochs
  std::int64_t batch_size = 1;  // micro-batch (examples; a DPO pair counts once)
  std::int64_t grad_accum = 8;
  double warmup_ratio = 0.1;
  std::int64_t warmup_steps = -1;  // >= 0 overrides warmup_ratio
  std::string lr_scheduler = "cosine";  // cosine | linear | constant
  double weight_decay = 0.0;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  double adam_beta1 = 0.9, adam_beta2 = 0.999, adam_epsilon = 1e-8;
  std::uint64_t seed = 42;
  // what trains: LoRA adapters ("lora"), or every weight of the model ("full", LLaMA-Factory's finetuning_type;
  // SFT and SimPO only, float32; the output is a model directory instead of an adapter)
  std::string finetuning_type = "lora";
  // LoRA
  std::int64_t lora_r = 8;
  double lora_alpha = 16;
  double lora_dropout = 0.0;
  std::vector<std::string> lora_targets = {"all"};
  bool use_rslora = false;
  std::string init_adapter;  // continue training this adapter (its r, alpha, targets)
  // objectives
  double beta = 0.1;
  double label_smoothing = 0.0;
  std::string loss_type = "sigmoid";  // DPO: sigmoid | ipo | hinge | robust
  double gamma = 0.5;                 // SimPO
  double desirable_weight = 1.0, undesirable_weight = 1.0;  // KTO
  double pref_ftx = 0.0;   // DPO: + pref_ftx · token-mean NLL of the chosen completion (LLaMA-Factory)
  double cpo_alpha = 0.0;  // SimPO: + cpo_alpha · the same NLL (TRL's CPO-SimPO; 0 = pure SimPO)
  std::string ref_adapter;  // reference = base + this adapter (ECPO: the SGPT adapter); empty = base
  // data
  std::int64_t cutoff_len = 2048;
  std::string chat_template;
  std::string data_format = "auto";
  bool skip_long_prompts = false;
  bool group_by_length = true;
  // runtime and outputs
  std::string dtype = "float32";  // frozen base: float32 | bfloat16 (adapters and optimiser always f32)
  std::string device = "cpu";
  int threads = 0;  // 0 = hardware threads
  std::int64_t save_steps = 500;  // checkpoint every N optimiser steps (0: only the final adapter)
  std::int64_t save_total_limit = 2;
  std::int64_t logging_steps = 1;  // a log line every N steps when no progress bar is drawn

  bool needs_reference() const { return objective == "dpo" || objective == "kto"; }
};

// The defaults of one objective ("sft", "dpo", "kto", "simpo"; "eval" objectives use the same): SFT lr 5e-5,
// 1 × accumulation 8; DPO lr 1e-6, 1 × 32, β 0.1; SimPO lr 1e-6, 1 × 32, β 2, γ 0.5; KTO lr 1e-6, 4 × 8.
// Throws ecpo::Error for an unknown objective.
TrainOptions train_options_defaults(const std::string& objective);

// Reads every key of `cfg` (a flat YAML mapping after key=value overrides) over the objective's defaults.
// An unknown key, a value of the wrong type or out of range throws ecpo::Error naming the key, with a hint
// (the nearest known key for a typo). A recipe may name its objective (`objective: dpo`); it must match.
TrainOptions train_options_from(const Config& cfg, const std::string& objective);

// Every key with its value (the resolved config saved as RUNDIR/config.yaml).
nlohmann::json train_options_to_json(const TrainOptions& o);

// The keys that shape the loss trajectory; --resume refuses a run whose saved config differs in one of them.
std::vector<std::string> train_trajectory_keys();

// All known keys (documentation, errors).
const std::vector<std::string>& train_option_keys();

}  // namespace ecpo::train
