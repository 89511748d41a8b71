// LoRA training and evaluation runs, torch-free interface (the CLI includes this).
// train_run: read and check everything first (options, data, model, adapters) so bad input fails before
// anything is written; then RUNDIR gets config.yaml (resolved settings), ref_logps.json (reference
// log-probs, computed once and reused by --resume), metrics.jsonl (one row per optimiser step with TRL's
// metric names), checkpoints/checkpoint-N/ (adapter, optimiser state, RNG state, trainer_state.json), and at
// the end adapter_config.json + adapter_model.safetensors (PEFT layout) and trainer_state.json.
// train_eval: the objective's loss and metrics over a whole file, no update.
// Both set libtorch's thread count and, process-wide, keep freed heap mapped for reuse (glibc: mmap threshold
// 32 MiB, no trim), so training steps do not page-fault their buffers in again.
// Intended usage:
//   TrainRequest r{model_dir, data, out, train_options_from(cfg, "dpo")};
//   TrainSummary s = train_run(r);
#pragma once
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "train/options.h"

namespace ecpo::train {

struct TrainRequest {
  std::filesystem::path model_dir, data, out;
  TrainOptions options;
  // Keys the user set (recipe or key=value): an init_adapter's r/alpha/targets win over the defaults, but a
  // given lora_r / lora_alpha / lora_targets / use_rslora that disagrees with it is an error.
  std::set<std::string> given_keys;
  bool resume = false;  // continue from the newest checkpoint in out/checkpoints
};

struct TrainSummary {
  std::filesystem::path out;
  std::int64_t steps = 0, total_steps = 0, resumed_from = 0;
  std::uint64_t examples = 0, dropped_long = 0;
  std::int64_t tokens = 0;      // input tokens processed by the policy passes
  double seconds = 0, first_loss = 0, last_loss = 0;
  nlohmann::json last_metrics;  // the last metrics.jsonl row
};

TrainSummary train_run(const TrainRequest& request);

struct EvalRequest {
  std::filesystem::path model_dir, data;
  std::filesystem::path adapter;      // policy = base + adapter (empty: base)
  std::filesystem::path ref_adapter;  // reference = base + ref adapter (empty: base); dpo / kto only
  TrainOptions options;               // objective, beta, loss_type, gamma, cutoff_len, batch_size, ...
};

struct EvalResult {
  std::string objective;
  double loss = 0;
  std::int64_t n_tokens = 0;    // sft: trained tokens
  std::int64_t n_pairs = 0;     // dpo / simpo
  std::int64_t n_examples = 0;  // kto (and sft rows)
  std::uint64_t dropped_long = 0;
  nlohmann::json metrics = nlohmann::json::object();
  // {loss, n_tokens | n_pairs | n_examples, metrics{...}}
  nlohmann::json to_json() const;
};

EvalResult train_eval(const EvalRequest& request);

}  // namespace ecpo::train
