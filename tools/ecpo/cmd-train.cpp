// CLI verbs of the trainer (see commands.h). Thin: flags + recipe + key=value → train/ library → summary.
//   ecpo train sft|dpo|kto|simpo --model DIR --data FILE --out DIR [--config RECIPE.yaml] [--resume] [key=value …]
//   ecpo train eval --model DIR [--adapter DIR] [--ref-adapter DIR] --data FILE --objective sft|dpo|kto|simpo
//                   [--config RECIPE.yaml] [key=value …] [--json]
//   ecpo model merge --model DIR --adapter DIR --out DIR      (registered under `model`, after cmd-model.cpp)
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <set>

#include "tools/ecpo/commands.h"
#include "train/merge.h"
#include "train/options.h"
#include "train/trainer.h"
#include "util/config.h"
#include "util/error.h"
#include "util/progress.h"

namespace ecpo::cli {

namespace {

struct TrainArgs {
  std::string model, data, out, config;
  std::vector<std::string> overrides, flag_settings;
  bool resume = false;
};

// Every setting also as a flag: --lr 1e-5, --ref_adapter DIR or --ref-adapter DIR (appended after the
// positional key=value settings, so a flag wins over both the recipe and a positional setting).
void add_key_flags(CLI::App* c, std::vector<std::string>& flag_settings, const std::set<std::string>& skip) {
  for (const auto& key : train::train_option_keys()) {
    if (skip.count(key)) continue;
    std::string names = "--" + key;
    std::string dashed = key;
    std::replace(dashed.begin(), dashed.end(), '_', '-');
    if (dashed != key) names += ",--" + dashed;
    c->add_option_function<std::string>(
         names, [&flag_settings, key](const std::string& v) { flag_settings.push_back(key + "=" + v); },
         "setting " + key + " (same as " + key + "=VALUE)")
        ->group("Settings (see configs/train.yaml)");
  }
}

Config load_config(const std::string& file, const std::vector<std::string>& overrides) {
  Config cfg;
  if (!file.empty()) cfg = Config::load(file);
  for (const auto& kv : overrides)
    if (kv.find('=') == std::string::npos)
      throw Error("'" + kv + "' is not a key=value setting", "train", "settings look like lr=1e-5 or lora_r=16");
  cfg.set_overrides(overrides);
  return cfg;
}

void run_train(const std::string& objective, const TrainArgs& a) {
  std::vector<std::string> settings = a.overrides;
  settings.insert(settings.end(), a.flag_settings.begin(), a.flag_settings.end());
  Config cfg = load_config(a.config, settings);
  train::TrainRequest r;
  r.model_dir = a.model;
  r.data = a.data;
  r.out = a.out;
  r.resume = a.resume;
  r.options = train::train_options_from(cfg, objective);
  if (cfg.root().is_object())
    for (const auto& [k, v] : cfg.root().items()) r.given_keys.insert(k);
  train::TrainSummary s = train::train_run(r);
  std::printf("trained %s: %lld steps%s in %.1f s, loss %.4f -> %.4f, %.0f tok/s\n", objective.c_str(),
              static_cast<long long>(s.steps - s.resumed_from),
              s.resumed_from ? (" (resumed at step " + std::to_string(s.resumed_from) + ")").c_str() : "", s.seconds,
              s.first_loss, s.last_loss, s.seconds > 0 ? static_cast<double>(s.tokens) / s.seconds : 0.0);
  std::printf("examples: %llu (%llu dropped: longer than cutoff_len)\n", static_cast<unsigned long long>(s.examples),
              static_cast<unsigned long long>(s.dropped_long));
  std::printf("%s: %s\n", r.options.finetuning_type == "full" ? "model" : "adapter", s.out.string().c_str());
}

}  // namespace

void register_train_commands(CLI::App& app) {
  auto* train_cmd = app.add_subcommand("train", "LoRA training: sft, dpo, kto, simpo; eval (loss without update)");
  train_cmd->require_subcommand(1);
  for (const char* objective : {"sft", "dpo", "kto", "simpo"}) {
    const std::string obj = objective;
    const std::string help = obj == "sft"   ? "supervised fine-tuning on assistant turns (SGPT)"
                             : obj == "dpo" ? "direct preference optimisation on chosen/rejected pairs (ECPO)"
                             : obj == "kto" ? "KTO on desirable/undesirable completions"
                                            : "SimPO: length-normalised, reference-free preference optimisation";
    auto* c = train_cmd->add_subcommand(obj, help);
    auto a = std::make_shared<TrainArgs>();
    c->add_option("--model", a->model, "Hugging Face model directory (the frozen base)")->required();
    c->add_option("--data", a->data, "training rows (.jsonl or .json): ecpo, TRL or LLaMA-Factory format")->required();
    c->add_option("--out", a->out, "run directory: adapter, metrics.jsonl, trainer_state.json, config.yaml, checkpoints/")
        ->required();
    c->add_option("--config", a->config, "recipe YAML (configs/sgpt.yaml, configs/ecpo-dpo.yaml, ...)");
    c->add_flag("--resume", a->resume, "continue from the newest checkpoint in --out");
    c->add_option("settings", a->overrides, "key=value settings over the recipe (lr=1e-5 lora_r=16 ...)");
    add_key_flags(c, a->flag_settings, {});
    c->callback([obj, a] { run_train(obj, *a); });
  }
  {
    auto* c = train_cmd->add_subcommand("eval", "the objective's loss and metrics over a whole file, no update");
    struct EvalArgs {
      std::string model, adapter, ref_adapter, data, objective = "sft", config;
      std::vector<std::string> overrides, flag_settings;
      bool json = false;
    };
    auto a = std::make_shared<EvalArgs>();
    c->add_option("--model", a->model, "Hugging Face model directory")->required();
    c->add_option("--adapter", a->adapter, "policy = base + this PEFT adapter (default: the base)");
    c->add_option("--ref-adapter", a->ref_adapter, "reference = base + this adapter (dpo, kto; default: the base)");
    c->add_option("--data", a->data, "rows to score (.jsonl or .json)")->required();
    c->add_option("--objective", a->objective, "sft | dpo | kto | simpo")->capture_default_str();
    c->add_option("--config", a->config, "recipe YAML (its objective settings are used)");
    c->add_flag("--json", a->json, "print one JSON object {loss, n_tokens | n_pairs | n_examples, metrics}");
    c->add_option("settings", a->overrides, "key=value settings (beta=0.1 loss_type=ipo cutoff_len=1024 ...)");
    add_key_flags(c, a->flag_settings, {"ref_adapter", "init_adapter"});
    c->callback([a] {
      std::vector<std::string> settings = a->overrides;
      settings.insert(settings.end(), a->flag_settings.begin(), a->flag_settings.end());
      Config cfg = load_config(a->config, settings);
      train::EvalRequest r;
      r.model_dir = a->model;
      r.data = a->data;
      r.adapter = a->adapter;
      r.ref_adapter = a->ref_adapter;
      r.options = train::train_options_from(cfg, a->objective);
      train::EvalResult e = train::train_eval(r);
      if (a->json) {
        std::cout << e.to_json().dump() << "\n";
        return;
      }
      std::printf("%s loss %.6f over %lld %s\n", e.objective.c_str(), e.loss,
                  static_cast<long long>(e.objective == "sft" ? e.n_tokens : e.objective == "kto" ? e.n_examples : e.n_pairs),
                  e.objective == "sft" ? "tokens" : e.objective == "kto" ? "examples" : "pairs");
      for (const auto& [k, v] : e.metrics.items()) std::printf("  %s %s\n", k.c_str(), v.dump().c_str());
    });
  }
  // ---- ecpo model merge (the `model` verb comes from cmd-model.cpp, registered before this) ----------------
  CLI::App* model_cmd = nullptr;
  try {
    model_cmd = app.get_subcommand("model");
  } catch (const CLI::OptionNotFound&) {
    model_cmd = app.add_subcommand("model", "model utilities");
  }
  {
    auto* c = model_cmd->add_subcommand("merge", "fold a LoRA adapter into a copy of its base model (HF directory)");
    auto model = std::make_shared<std::string>(), adapter = std::make_shared<std::string>(),
         out = std::make_shared<std::string>();
    c->add_option("--model", *model, "base model directory")->required();
    c->add_option("--adapter", *adapter, "PEFT LoRA adapter directory")->required();
    c->add_option("--out", *out, "new model directory (must not exist or be empty)")->required();
    c->callback([=] {
      train::MergeSummary s = train::model_merge(*model, *adapter, *out);
      std::printf("merged %lld modules into %s (%lld tensors, %lld shard%s, %.1f MB)\n",
                  static_cast<long long>(s.merged_modules), out->c_str(), static_cast<long long>(s.tensors),
                  static_cast<long long>(s.shards), s.shards == 1 ? "" : "s", static_cast<double>(s.bytes) / 1e6);
    });
  }
}

}  // namespace ecpo::cli
