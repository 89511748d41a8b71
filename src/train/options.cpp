// Trainer settings (see options.h): one table binds each key to its field, type and range.
#include "train/options.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <variant>

#include "util/error.h"

namespace ecpo::train {

namespace {

using Field = std::variant<double*, std::int64_t*, std::uint64_t*, int*, bool*, std::string*, std::vector<std::string>*>;

struct Binding {
  const char* key;
  std::function<Field(TrainOptions&)> field;
  const char* help;
};

const std::vector<Binding>& bindings() {
  static const std::vector<Binding> b = {
      {"lr", [](TrainOptions& o) -> Field { return &o.lr; }, "peak learning rate"},
      {"epochs", [](TrainOptions& o) -> Field { return &o.epochs; }, "passes over the data"},
      {"max_steps", [](TrainOptions& o) -> Field { return &o.max_steps; }, "optimiser steps (> 0 overrides epochs)"},
      {"batch_size", [](TrainOptions& o) -> Field { return &o.batch_size; }, "micro-batch size"},
      {"grad_accum", [](TrainOptions& o) -> Field { return &o.grad_accum; }, "micro-batches per optimiser step"},
      {"warmup_ratio", [](TrainOptions& o) -> Field { return &o.warmup_ratio; }, "warmup steps = ceil(ratio·total)"},
      {"warmup_steps", [](TrainOptions& o) -> Field { return &o.warmup_steps; }, "warmup steps (>= 0 overrides the ratio)"},
      {"lr_scheduler", [](TrainOptions& o) -> Field { return &o.lr_scheduler; }, "cosine | linear | constant"},
      {"weight_decay", [](TrainOptions& o) -> Field { return &o.weight_decay; }, "AdamW decoupled weight decay"},
      {"max_grad_norm", [](TrainOptions& o) -> Field { return &o.max_grad_norm; }, "gradient clipping norm (<= 0: off)"},
      {"adam_beta1", [](TrainOptions& o) -> Field { return &o.adam_beta1; }, "AdamW β1"},
      {"adam_beta2", [](TrainOptions& o) -> Field { return &o.adam_beta2; }, "AdamW β2"},
      {"adam_epsilon", [](TrainOptions& o) -> Field { return &o.adam_epsilon; }, "AdamW ε"},
      {"seed", [](TrainOptions& o) -> Field { return &o.seed; }, "seed of LoRA init, data order and dropout"},
      {"finetuning_type", [](TrainOptions& o) -> Field { return &o.finetuning_type; }, "lora | full (every weight; sft and simpo)"},
      {"lora_r", [](TrainOptions& o) -> Field { return &o.lora_r; }, "LoRA rank"},
      {"lora_alpha", [](TrainOptions& o) -> Field { return &o.lora_alpha; }, "LoRA α (scale α/r)"},
      {"lora_dropout", [](TrainOptions& o) -> Field { return &o.lora_dropout; }, "dropout on the LoRA input"},
      {"lora_targets", [](TrainOptions& o) -> Field { return &o.lora_targets; }, "all, or q_proj,k_proj,..."},
      {"use_rslora", [](TrainOptions& o) -> Field { return &o.use_rslora; }, "scale α/√r"},
      {"init_adapter", [](TrainOptions& o) -> Field { return &o.init_adapter; }, "adapter directory to continue"},
      {"beta", [](TrainOptions& o) -> Field { return &o.beta; }, "β of DPO / KTO / SimPO"},
      {"label_smoothing", [](TrainOptions& o) -> Field { return &o.label_smoothing; }, "ε (cDPO, robust, SimPO)"},
      {"loss_type", [](TrainOptions& o) -> Field { return &o.loss_type; }, "DPO loss: sigmoid | ipo | hinge | robust"},
      {"gamma", [](TrainOptions& o) -> Field { return &o.gamma; }, "SimPO target margin γ"},
      {"desirable_weight", [](TrainOptions& o) -> Field { return &o.desirable_weight; }, "KTO λ_D"},
      {"undesirable_weight", [](TrainOptions& o) -> Field { return &o.undesirable_weight; }, "KTO λ_U"},
      {"pref_ftx", [](TrainOptions& o) -> Field { return &o.pref_ftx; }, "DPO: weight of the chosen NLL term"},
      {"cpo_alpha", [](TrainOptions& o) -> Field { return &o.cpo_alpha; }, "SimPO: weight of the chosen NLL term"},
      {"ref_adapter", [](TrainOptions& o) -> Field { return &o.ref_adapter; }, "reference = base + this adapter"},
      {"cutoff_len", [](TrainOptions& o) -> Field { return &o.cutoff_len; }, "longer examples are dropped"},
      {"chat_template", [](TrainOptions& o) -> Field { return &o.chat_template; }, "llama3 | llama3.1 | chatml | qwen2 | qwen2.5"},
      {"data_format", [](TrainOptions& o) -> Field { return &o.data_format; }, "auto | ecpo | trl | alpaca | sharegpt | tokenized"},
      {"skip_long_prompts", [](TrainOptions& o) -> Field { return &o.skip_long_prompts; }, "drop rows whose prompt reaches cutoff_len"},
      {"group_by_length", [](TrainOptions& o) -> Field { return &o.group_by_length; }, "length-grouped batches"},
      {"dtype", [](TrainOptions& o) -> Field { return &o.dtype; }, "frozen base dtype: float32 | bfloat16"},
      {"device", [](TrainOptions& o) -> Field { return &o.device; }, "cpu"},
      {"threads", [](TrainOptions& o) -> Field { return &o.threads; }, "torch threads (0 = all)"},
      {"save_steps", [](TrainOptions& o) -> Field { return &o.save_steps; }, "checkpoint every N steps (0: none)"},
      {"save_total_limit", [](TrainOptions& o) -> Field { return &o.save_total_limit; }, "checkpoints kept"},
      {"logging_steps", [](TrainOptions& o) -> Field { return &o.logging_steps; }, "log line every N steps"},
  };
  return b;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string nearest_key(const std::string& k) {
  std::string best;
  std::size_t d = SIZE_MAX;
  for (const auto& b : bindings()) {
    std::size_t e = edit_distance(k, b.key);
    if (e < d) d = e, best = b.key;
  }
  return d <= 3 ? best : "";
}

[[noreturn]] void bad(const std::string& key, const std::string& what, const std::string& hint = {}) {
  throw Error("config key '" + key + "' " + what, "train config", hint);
}

void assign(const std::string& key, const Field& f, const nlohmann::json& v) {
  std::visit(
      [&](auto* p) {
        using T = std::remove_pointer_t<decltype(p)>;
        if constexpr (std::is_same_v<T, double>) {
          if (!v.is_number()) bad(key, "must be a number, got " + v.dump());
          *p = v.get<double>();
        } else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, int>) {
          if (!v.is_number_integer() && !(v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()))
            bad(key, "must be an integer, got " + v.dump());
          *p = static_cast<T>(v.get<double>());
        } else if constexpr (std::is_same_v<T, std::uint64_t>) {
          if (!v.is_number_integer() || v.get<std::int64_t>() < 0) bad(key, "must be a non-negative integer, got " + v.dump());
          *p = v.get<std::uint64_t>();
        } else if constexpr (std::is_same_v<T, bool>) {
          if (!v.is_boolean()) bad(key, "must be true or false, got " + v.dump());
          *p = v.get<bool>();
        } else if constexpr (std::is_same_v<T, std::string>) {
          if (v.is_null()) *p = "";
          else if (v.is_string()) *p = v.get<std::string>();
          else bad(key, "must be a string, got " + v.dump());
        } else {  // list of strings: [a, b] or "a,b"
          p->clear();
          if (v.is_string()) {
            std::string s = v.get<std::string>(), cur;
            for (char c : s + ",") {
              if (c == ',') {
                if (!cur.empty()) p->push_back(cur);
                cur.clear();
              } else if (c != ' ') {
                cur += c;
              }
            }
          } else if (v.is_array()) {
            for (const auto& x : v) {
              if (!x.is_string()) bad(key, "must hold names, got " + x.dump());
              p->push_back(x.get<std::string>());
            }
          } else {
            bad(key, "must be a list of names, got " + v.dump());
          }
        }
      },
      f);
}

void validate(const TrainOptions& o) {
  auto positive = [](const char* k, double v) {
    if (!(v > 0)) bad(k, "must be > 0, got " + std::to_string(v));
  };
  positive("lr", o.lr);
  positive("batch_size", static_cast<double>(o.batch_size));
  positive("grad_accum", static_cast<double>(o.grad_accum));
  positive("lora_r", static_cast<double>(o.lora_r));
  positive("lora_alpha", o.lora_alpha);
  positive("adam_epsilon", o.adam_epsilon);
  if (o.max_steps <= 0 && o.epochs <= 0) bad("epochs", "must be > 0 (or set max_steps)");
  if (o.warmup_ratio < 0 || o.warmup_ratio > 1) bad("warmup_ratio", "must lie in [0, 1]");
  if (o.lora_dropout < 0 || o.lora_dropout >= 1) bad("lora_dropout", "must lie in [0, 1)");
  if (o.label_smoothing < 0 || o.label_smoothing >= 0.5)
    bad("label_smoothing", "must lie in [0, 0.5)", "the robust loss divides by 1 − 2ε");
  if (o.lr_scheduler != "cosine" && o.lr_scheduler != "linear" && o.lr_scheduler != "constant")
    bad("lr_scheduler", "is '" + o.lr_scheduler + "'", "use cosine, linear or constant");
  if (o.loss_type != "sigmoid" && o.loss_type != "ipo" && o.loss_type != "hinge" && o.loss_type != "robust")
    bad("loss_type", "is '" + o.loss_type + "'", "use sigmoid, ipo, hinge or robust");
  if (o.dtype != "float32" && o.dtype != "bfloat16" && o.dtype != "f32" && o.dtype != "bf16")
    bad("dtype", "is '" + o.dtype + "'", "use float32 or bfloat16");
  if (o.finetuning_type != "lora" && o.finetuning_type != "full")
    bad("finetuning_type", "is '" + o.finetuning_type + "'", "use lora or full");
  if (o.finetuning_type == "full") {
    if (o.objective != "sft" && o.objective != "simpo")
      bad("finetuning_type", "is full, but " + o.objective + " compares with a reference model",
          "train " + o.objective + " as LoRA on the fully fine-tuned model (its reference is then that model)");
    if (o.dtype != "float32" && o.dtype != "f32")
      bad("finetuning_type", "is full, which trains the weights themselves in float32", "set dtype=float32");
    if (!o.init_adapter.empty() || !o.ref_adapter.empty())
      bad("finetuning_type", "is full, which takes no adapter", "drop init_adapter / ref_adapter");
  }
  if (o.objective != "sft" && o.objective != "simpo") positive("beta", o.beta);
  if (o.objective == "simpo") positive("beta", o.beta);
  if (o.objective == "kto" && o.batch_size < 2)
    bad("batch_size", "must be >= 2 for KTO", "the KL estimate pairs each prompt with another row's completion in its micro-batch");
  if (o.cutoff_len < 0) bad("cutoff_len", "must be >= 0 (0 = no limit)");
  if (o.threads < 0) bad("threads", "must be >= 0");
  if (o.save_steps < 0) bad("save_steps", "must be >= 0");
  if (o.save_total_limit < 1) bad("save_total_limit", "must be >= 1");
  if (o.logging_steps < 1) bad("logging_steps", "must be >= 1");
}

}  // namespace

const std::vector<std::string>& train_option_keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> out;
    for (const auto& b : bindings()) out.push_back(b.key);
    return out;
  }();
  return k;
}

TrainOptions train_options_defaults(const std::string& objective) {
  TrainOptions o;
  o.objective = objective;
  if (objective == "sft") {
    o.lr = 5e-5, o.batch_size = 1, o.grad_accum = 8;
  } else if (objective == "dpo") {
    o.lr = 1e-6, o.batch_size = 1, o.grad_accum = 32, o.beta = 0.1;
  } else if (objective == "simpo") {
    o.lr = 1e-6, o.batch_size = 1, o.grad_accum = 32, o.beta = 2.0, o.gamma = 0.5;
  } else if (objective == "kto") {
    o.lr = 1e-6, o.batch_size = 4, o.grad_accum = 8, o.beta = 0.1;
  } else {
    throw Error("unknown objective '" + objective + "'", "train", "use sft, dpo, kto or simpo");
  }
  return o;
}

TrainOptions train_options_from(const Config& cfg, const std::string& objective) {
  TrainOptions o = train_options_defaults(objective);
  const nlohmann::json& root = cfg.root();
  if (!root.is_null() && !root.is_object()) throw Error("the train config must be a mapping of key: value", "train config");
  if (root.is_object()) {
    for (const auto& [key, value] : root.items()) {
      if (key == "objective") {
        if (!value.is_string() || value.get<std::string>() != objective)
          bad(key, "is " + value.dump() + " but the command trains " + objective,
              "use the recipe made for this objective (configs/sgpt.yaml for sft, configs/ecpo-dpo.yaml for dpo)");
        continue;
      }
      auto it = std::find_if(bindings().begin(), bindings().end(), [&](const Binding& b) { return key == b.key; });
      if (it == bindings().end()) {
        std::string near = nearest_key(key);
        throw Error("unknown config key '" + key + "'", "train config",
                    near.empty() ? "known keys: lr, epochs, max_steps, batch_size, grad_accum, lora_r, lora_alpha, "
                                   "lora_dropout, lora_targets, beta, loss_type, cutoff_len, ... (see configs/train.yaml)"
                                 : "did you mean '" + near + "'?");
      }
      assign(key, it->field(o), value);
    }
  }
  validate(o);
  return o;
}

nlohmann::json train_options_to_json(const TrainOptions& o_in) {
  TrainOptions o = o_in;
  nlohmann::json j = nlohmann::json::object();
  j["objective"] = o.objective;
  for (const auto& b : bindings())
    std::visit([&](auto* p) { j[b.key] = *p; }, b.field(o));
  return j;
}

std::vector<std::string> train_trajectory_keys() {
  return {"objective", "lr", "epochs", "max_steps", "batch_size", "grad_accum", "warmup_ratio", "warmup_steps",
          "lr_scheduler", "weight_decay", "max_grad_norm", "adam_beta1", "adam_beta2", "adam_epsilon", "seed",
          "lora_r", "lora_alpha", "lora_dropout", "lora_targets", "use_rslora", "init_adapter", "beta",
          "label_smoothing", "loss_type", "gamma", "desirable_weight", "undesirable_weight", "pref_ftx", "cpo_alpha",
          "ref_adapter", "cutoff_len", "chat_template", "data_format", "skip_long_prompts", "group_by_length",
          "dtype", "finetuning_type"};
}

}  // namespace ecpo::train
