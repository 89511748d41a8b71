// Trainer invariants on the tiny models: micro-batch 4 × accumulation 1 is the same update as 1 × 4 (SFT and
// DPO); --resume from a checkpoint reproduces the uninterrupted loss curve and adapter (with dropout, so the
// RNG state matters); DPO starts at ln 2 and raises rewards/accuracies on its training pairs; the run
// directory holds what trainer.h promises; init_adapter + ref_adapter continue an SFT adapter; finetuning_type=full
// writes a model directory the engine loads, and resumes.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "model/llama.h"
#include "model/safetensors.h"
#include "train/lora-model.h"
#include "test-support.h"
#include "train/options.h"
#include "train/trainer.h"
#include "util/config.h"
#include "util/error.h"
#include "util/jsonl.h"

using namespace ecpo::train;
namespace fs = std::filesystem;

namespace {

const fs::path kModels = fs::path(ECPO_TEST_ASSETS) / "model";
const fs::path kTiny = kModels / "tiny-llama";

// Deterministic toy conversations: a user asks for a genre, the chosen answer names it, the rejected refuses.
void write_toy_data(const fs::path& sft, const fs::path& pairs, int n) {
  const char* genres[] = {"mystery", "fantasy", "romance", "history", "science", "poetry", "horror", "travel"};
  std::ofstream s(sft), p(pairs);
  for (int i = 0; i < n; ++i) {
    std::string g = genres[i % 8], h = genres[(i * 3 + 1) % 8];
    std::string q = "I want a " + g + " book about " + h + " number " + std::to_string(i);
    s << nlohmann::json{{"messages", {{{"role", "user"}, {"content", q}}, {{"role", "assistant"}, {"content", "Read a " + g + " classic."}}}}}.dump()
      << "\n";
    p << nlohmann::json{{"prompt", {{{"role", "user"}, {"content", q}}}},
                        {"chosen", "Read a " + g + " classic."},
                        {"rejected", "I cannot help with " + h + "."}}
             .dump()
      << "\n";
  }
}

struct Trainer : ::testing::Test {
  ecpo::test::TempDir tmp;
  fs::path sft = tmp / "sft.jsonl", pairs = tmp / "pairs.jsonl";
  void SetUp() override { write_toy_data(sft, pairs, 16); }

  TrainSummary run(const std::string& objective, const fs::path& data, const fs::path& out,
                   const std::vector<std::string>& kv, bool resume = false) {
    ecpo::Config c;
    c.set_overrides(kv);
    TrainRequest r;
    r.model_dir = kTiny;
    r.data = data;
    r.out = out;
    r.options = train_options_from(c, objective);
    r.options.threads = 1;
    for (const auto& [k, v] : c.root().items()) r.given_keys.insert(k);
    r.resume = resume;
    return train_run(r);
  }
  static std::vector<nlohmann::json> metrics(const fs::path& out) {
    std::vector<nlohmann::json> rows;
    ecpo::JsonlReader r(out / "metrics.jsonl");
    nlohmann::json j;
    while (r.next(j)) rows.push_back(j);
    return rows;
  }
  static std::vector<float> adapter(const fs::path& dir) {
    ecpo::model::SafetensorsFile f(dir / "adapter_model.safetensors");
    std::vector<float> all;
    for (const auto& t : f.header().tensors) {
      auto v = ecpo::model::view_to_f32(f.get(t.name));
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  }
  static double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    EXPECT_EQ(a.size(), b.size());
    double m = 0;
    for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(double(a[i]) - b[i]));
    return m;
  }
};

TEST_F(Trainer, AccumulationInvariance) {
  for (const char* obj : {"sft", "dpo"}) {
    SCOPED_TRACE(obj);
    const fs::path data = std::string(obj) == "sft" ? sft : pairs;
    const std::vector<std::string> common = {"lr=0.001", "max_steps=3", "warmup_steps=0", "save_steps=0", "seed=5"};
    auto kv_a = common, kv_b = common;
    kv_a.insert(kv_a.end(), {"batch_size=4", "grad_accum=1"});
    kv_b.insert(kv_b.end(), {"batch_size=1", "grad_accum=4"});
    const fs::path a = tmp / (std::string(obj) + "-a"), b = tmp / (std::string(obj) + "-b");
    run(obj, data, a, kv_a);
    run(obj, data, b, kv_b);
    auto ma = metrics(a), mb = metrics(b);
    ASSERT_EQ(ma.size(), 3u);
    ASSERT_EQ(mb.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
      EXPECT_NEAR(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>(), 1e-5);
      EXPECT_NEAR(ma[i]["grad_norm"].get<double>(), mb[i]["grad_norm"].get<double>(), 1e-4);
    }
    const auto pa = adapter(a), pb = adapter(b);
    EXPECT_LT(max_diff(pa, pb), 1e-5);  // float rounding of different batch shapes, seen up to 3e-6
    // and the update is real: not every B is still zero
    double mx = 0;
    for (float v : pb) mx = std::max(mx, std::fabs(double(v)));
    EXPECT_GT(mx, 1e-4);
  }
}

TEST_F(Trainer, ResumeReproducesTheUninterruptedRun) {
  const std::vector<std::string> kv = {"lr=0.002", "max_steps=6", "save_steps=2", "grad_accum=2", "lora_dropout=0.1",
                                       "seed=11"};
  const fs::path a = tmp / "a", b = tmp / "b";
  run("sft", sft, a, kv);
  run("sft", sft, b, kv);
  // Interrupt b after step 4: its newest checkpoint is 4, the adapter and state of step 6 are gone.
  ASSERT_TRUE(fs::exists(b / "checkpoints" / "checkpoint-4"));
  ASSERT_TRUE(fs::exists(b / "checkpoints" / "checkpoint-6"));
  EXPECT_FALSE(fs::exists(b / "checkpoints" / "checkpoint-2"));  // save_total_limit 2
  fs::remove_all(b / "checkpoints" / "checkpoint-6");
  fs::remove(b / "adapter_model.safetensors");
  fs::remove(b / "trainer_state.json");
  TrainSummary s = run("sft", sft, b, kv, /*resume=*/true);
  EXPECT_EQ(s.resumed_from, 4);
  EXPECT_EQ(s.steps, 6);
  auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(ma.size(), 6u);
  ASSERT_EQ(mb.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(mb[i]["step"], i + 1);
    EXPECT_NEAR(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>(), 1e-6) << "step " << i + 1;
  }
  EXPECT_LT(max_diff(adapter(a), adapter(b)), 1e-7);
  // A changed trajectory setting is refused.
  try {
    run("sft", sft, b, {"lr=0.003", "max_steps=6", "save_steps=2", "grad_accum=2", "lora_dropout=0.1", "seed=11"}, true);
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'lr'"), std::string::npos) << e.what();
  }
  // Without --resume an existing run is not overwritten.
  EXPECT_THROW(run("sft", sft, b, kv), ecpo::Error);
}

TEST_F(Trainer, DpoStartsAtLn2AndLearnsItsPairs) {
  const fs::path sft_out = tmp / "sft", dpo_out = tmp / "dpo";
  run("sft", sft, sft_out, {"lr=0.003", "epochs=2", "grad_accum=2", "save_steps=0"});
  auto eval = [&](const fs::path& adapter) {
    EvalRequest e;
    e.model_dir = kTiny;
    e.data = pairs;
    e.adapter = adapter;
    e.ref_adapter = sft_out;
    e.options = train_options_defaults("dpo");
    e.options.threads = 1;
    return train_eval(e);
  };
  EvalResult before = eval(sft_out);  // policy = reference
  EXPECT_NEAR(before.loss, std::log(2.0), 1e-6);
  EXPECT_EQ(before.metrics["rewards/accuracies"].get<double>(), 0.0);
  EXPECT_EQ(before.n_pairs, 16);
  TrainSummary s = run("dpo", pairs, dpo_out,
                       {"lr=0.003", "epochs=4", "grad_accum=4", "save_steps=0", "init_adapter=" + sft_out.string(),
                        "ref_adapter=" + sft_out.string()});
  auto m = metrics(dpo_out);
  ASSERT_FALSE(m.empty());
  EXPECT_NEAR(m[0]["loss"].get<double>(), std::log(2.0), 1e-6);  // step 0: policy == reference
  for (const char* k : {"rewards/chosen", "rewards/rejected", "rewards/accuracies", "rewards/margins", "logps/chosen",
                        "logps/rejected", "logits/chosen", "logits/rejected", "lr", "grad_norm", "tokens", "tokens_per_s",
                        "epoch", "step", "loss"})
    EXPECT_TRUE(m.back().contains(k)) << k;
  EvalResult after = eval(dpo_out);
  EXPECT_GT(after.metrics["rewards/accuracies"].get<double>(), 0.8);
  EXPECT_LT(after.loss, before.loss);
  EXPECT_LT(s.last_loss, s.first_loss);
  // The continued adapter kept the SFT adapter's shape.
  auto cfg = ecpo::read_json_file(dpo_out / "adapter_config.json");
  EXPECT_EQ(cfg["r"], 8);
  EXPECT_TRUE(fs::exists(dpo_out / "ref_logps.json"));
}

TEST_F(Trainer, KtoAndSimpoLearnThePairs) {
  auto eval = [&](const std::string& obj, const fs::path& adapter) {
    EvalRequest e;
    e.model_dir = kTiny;
    e.data = pairs;
    e.adapter = adapter;
    e.options = train_options_defaults(obj);
    e.options.threads = 1;
    return train_eval(e);
  };
  for (const char* obj : {"kto", "simpo"}) {
    SCOPED_TRACE(obj);
    const fs::path out = tmp / obj;
    EvalResult before = eval(obj, {});
    run(obj, pairs, out, {"lr=0.003", "epochs=4", "batch_size=4", "grad_accum=2", "save_steps=0"});
    EvalResult after = eval(obj, out);
    EXPECT_LT(after.loss, before.loss);
    auto m = metrics(out);
    if (std::string(obj) == "kto") {
      EXPECT_EQ(before.n_examples, 32);  // 16 pairs → 16 desirable + 16 undesirable
      EXPECT_NEAR(m[0]["loss"].get<double>(), 0.5, 1e-6);  // 1 − σ(0) at the start (policy = reference)
      for (const char* k : {"kl", "rewards/chosen", "rewards/rejected", "rewards/margins", "logps/chosen"})
        EXPECT_TRUE(m.back().contains(k)) << k;
      EXPECT_GT(after.metrics["rewards/margins"].get<double>(), 0.0);
    } else {
      EXPECT_EQ(before.n_pairs, 16);
      EXPECT_GT(after.metrics["rewards/accuracies"].get<double>(), before.metrics["rewards/accuracies"].get<double>());
    }
  }
}

TEST_F(Trainer, RunDirectoryHoldsAdapterStateConfigAndMetrics) {
  const fs::path out = tmp / "run";
  TrainSummary s = run("sft", sft, out, {"lr=0.001", "epochs=1", "grad_accum=4", "save_steps=2", "lora_r=4"});
  EXPECT_EQ(s.total_steps, 4);  // 16 rows / (1 × 4)
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors", "metrics.jsonl", "trainer_state.json", "config.yaml"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "checkpoint-4" / "optimizer.safetensors"));
  EXPECT_TRUE(fs::exists(out / "checkpoints" / "checkpoint-2" / "rng_state.safetensors"));
  auto st = ecpo::read_json_file(out / "trainer_state.json");
  EXPECT_EQ(st["global_step"], 4);
  EXPECT_EQ(st["log_history"].size(), 4u);
  auto cfg = ecpo::Config::load(out / "config.yaml");
  EXPECT_EQ(cfg.get<int>("lora_r"), 4);
  EXPECT_EQ(cfg.get<std::string>("objective"), "sft");
  auto row = metrics(out)[0];
  for (const char* k : {"step", "epoch", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "mean_token_accuracy"})
    EXPECT_TRUE(row.contains(k)) << k;
  EXPECT_EQ(row["lr"].get<double>(), 0.0);  // HF: the first warmup step uses lr 0
  auto ad = ecpo::read_json_file(out / "adapter_config.json");
  EXPECT_EQ(ad["r"], 4);
  EXPECT_EQ(ad["lora_alpha"], 16.0);
}

TEST_F(Trainer, InitAdapterShapeWinsButAConflictingGivenKeyIsRefused) {
  const fs::path a = tmp / "a";
  run("sft", sft, a, {"max_steps=1", "save_steps=0", "lora_r=4"});
  try {
    run("dpo", pairs, tmp / "b", {"max_steps=1", "lora_r=16", "init_adapter=" + a.string()});
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("lora_r"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp / "b"));
  run("dpo", pairs, tmp / "c", {"max_steps=1", "save_steps=0", "init_adapter=" + a.string()});
  EXPECT_EQ(ecpo::read_json_file(tmp / "c" / "adapter_config.json")["r"], 4);
}

}  // namespace

// finetuning_type=full: every weight trains (norms too, through the eager RMSNorm), the output is a model directory
// that the inference engine loads with the training forward's logits, and --resume continues its curve.
TEST_F(Trainer, FullFineTuningWritesAModelTheEngineLoadsAndResumes) {
  const std::vector<std::string> kv = {"finetuning_type=full", "lr=0.003", "max_steps=6", "save_steps=2",
                                       "grad_accum=2", "seed=3"};
  const fs::path a = tmp / "full-a", b = tmp / "full-b";
  TrainSummary s = run("sft", sft, a, kv);
  EXPECT_LT(s.last_loss, s.first_loss);
  for (const char* f : {"model.safetensors", "config.json", "tokenizer.json", "metrics.jsonl", "trainer_state.json"})
    EXPECT_TRUE(fs::exists(a / f)) << f;
  EXPECT_FALSE(fs::exists(a / "adapter_model.safetensors"));
  // Every kind of weight moved, the norms included.
  ecpo::model::SafetensorsFile base(kTiny / "model.safetensors"), tuned(a / "model.safetensors");
  for (const char* name : {"model.embed_tokens.weight", "model.norm.weight", "model.layers.0.input_layernorm.weight",
                           "model.layers.1.self_attn.k_proj.weight", "model.layers.0.mlp.up_proj.weight"})
    EXPECT_GT(max_diff(ecpo::model::view_to_f32(base.get(name)), ecpo::model::view_to_f32(tuned.get(name))), 1e-5) << name;
  // The engine loads the directory and computes what the training forward computes.
  ecpo::model::ModelOptions o;
  o.threads = 1;
  auto lm = ecpo::model::CausalLM::load(a, o);
  auto tm = TrainModel::load(a);
  const std::vector<int> ids = {507, 10, 200, 33, 400, 7, 256, 99};
  {
    torch::NoGradGuard ng;
    torch::Tensor ours = tm->logits(std::vector<std::int32_t>(ids.begin(), ids.end()), Branch::base);
    auto ref = lm->logits_all(ids);
    double m = 0;
    for (std::size_t t = 0; t < ref.size(); ++t)
      for (std::size_t v = 0; v < ref[t].size(); ++v) m = std::max(m, std::fabs(ours[t][v].item<double>() - ref[t][v]));
    EXPECT_LT(m, 1e-4);
  }
  // Resume from checkpoint 4 reproduces the curve and the weights.
  run("sft", sft, b, kv);
  fs::remove_all(b / "checkpoints" / "checkpoint-6");
  fs::remove(b / "model.safetensors");
  fs::remove(b / "trainer_state.json");
  TrainSummary r = run("sft", sft, b, kv, /*resume=*/true);
  EXPECT_EQ(r.resumed_from, 4);
  auto ma = metrics(a), mb = metrics(b);
  ASSERT_EQ(ma.size(), 6u);
  ASSERT_EQ(mb.size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_NEAR(ma[i]["loss"].get<double>(), mb[i]["loss"].get<double>(), 1e-6) << i;
  ecpo::model::SafetensorsFile ta(a / "model.safetensors"), tb(b / "model.safetensors");
  for (const auto& t : ta.header().tensors)
    EXPECT_LT(max_diff(ecpo::model::view_to_f32(ta.get(t.name)), ecpo::model::view_to_f32(tb.get(t.name))), 1e-7) << t.name;
  // A reference-model objective cannot run on fully trained weights: refused before anything is written.
  try {
    run("dpo", pairs, tmp / "full-dpo", {"finetuning_type=full"});
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("finetuning_type"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tmp / "full-dpo"));
}
