// Trainer settings: the recipes in configs/ parse for their objective (the paper's values where the paper gives
// them), unknown or mistyped keys fail naming the key, and the HF warmup + cosine schedule by hand.
#include <cmath>

#include <gtest/gtest.h>

#include "train/options.h"
#include "train/schedule.h"
#include "util/config.h"
#include "util/error.h"

using namespace ecpo::train;

namespace {

const std::string kConfigs = std::string(ECPO_SOURCE_DIR) + "/configs/";

TrainOptions recipe(const std::string& file, const std::string& objective) {
  return train_options_from(ecpo::Config::load(kConfigs + file), objective);
}

TEST(TrainOptions, PaperRecipes) {
  TrainOptions s = recipe("sgpt.yaml", "sft");
  EXPECT_DOUBLE_EQ(s.lr, 5e-5);
  EXPECT_EQ(s.epochs, 3);
  EXPECT_EQ(s.batch_size * s.grad_accum, 8);
  EXPECT_EQ(s.lora_r, 8);
  EXPECT_DOUBLE_EQ(s.lora_alpha, 16);
  EXPECT_EQ(s.lora_targets, std::vector<std::string>{"all"});
  EXPECT_EQ(s.cutoff_len, 2048);
  EXPECT_DOUBLE_EQ(s.warmup_ratio, 0.1);
  EXPECT_EQ(s.lr_scheduler, "cosine");
  TrainOptions d = recipe("ecpo-dpo.yaml", "dpo");
  EXPECT_DOUBLE_EQ(d.lr, 1e-6);
  EXPECT_EQ(d.batch_size * d.grad_accum, 32);
  EXPECT_DOUBLE_EQ(d.beta, 0.1);
  EXPECT_EQ(d.loss_type, "sigmoid");
  EXPECT_EQ(d.epochs, 3);
  EXPECT_NO_THROW(recipe("ecpo-kto.yaml", "kto"));
  EXPECT_NO_THROW(recipe("ecpo-simpo.yaml", "simpo"));
  EXPECT_NO_THROW(recipe("sgpt-cpu.yaml", "sft"));
  EXPECT_NO_THROW(recipe("ecpo-dpo-cpu.yaml", "dpo"));
  for (const char* obj : {"sft", "dpo", "kto", "simpo"}) EXPECT_NO_THROW(recipe("train.yaml", obj));  // all commented
  // A recipe made for another objective is refused.
  try {
    recipe("ecpo-dpo.yaml", "sft");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("objective"), std::string::npos) << e.what();
  }
}

TEST(TrainOptions, EveryKeyRoundTripsAndBadValuesNameTheKey) {
  const auto j = train_options_to_json(train_options_defaults("dpo"));
  for (const auto& k : train_option_keys()) EXPECT_TRUE(j.contains(k)) << k;
  auto err = [](std::vector<std::string> kv, const std::string& obj = "sft") {
    ecpo::Config c;
    c.set_overrides(kv);
    try {
      train_options_from(c, obj);
    } catch (const ecpo::Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(err({"lerning_rate=3"}).find("unknown config key 'lerning_rate'"), std::string::npos);
  EXPECT_NE(err({"epoch=3"}).find("did you mean 'epochs'"), std::string::npos);
  EXPECT_NE(err({"lr=fast"}).find("'lr' must be a number"), std::string::npos);
  EXPECT_NE(err({"lr=-1"}).find("'lr' must be > 0"), std::string::npos);
  EXPECT_NE(err({"loss_type=sppo"}, "dpo").find("loss_type"), std::string::npos);
  EXPECT_NE(err({"batch_size=1"}, "kto").find(">= 2 for KTO"), std::string::npos);
  EXPECT_NE(err({"label_smoothing=0.5"}, "dpo").find("label_smoothing"), std::string::npos);
  EXPECT_EQ(err({"lora_targets=q_proj,v_proj", "lr=3e-4", "use_rslora=true"}), "");
  ecpo::Config c;
  c.set_overrides({"lora_targets=q_proj,v_proj"});
  EXPECT_EQ(train_options_from(c, "sft").lora_targets, (std::vector<std::string>{"q_proj", "v_proj"}));
}

TEST(Schedule, WarmupThenCosineAsTransformers) {
  // total 10, warmup ceil(0.1·10) = 1: step 0 → 0, step 1 → 1, then 0.5·(1 + cos(π·(s−1)/9)).
  const std::int64_t w = schedule_warmup_steps(0.1, -1, 10);
  EXPECT_EQ(w, 1);
  EXPECT_EQ(schedule_warmup_steps(0.1, -1, 25), 3);  // ceil(2.5)
  EXPECT_EQ(schedule_warmup_steps(0.1, 0, 25), 0);
  EXPECT_DOUBLE_EQ(schedule_lr_lambda("cosine", 0, w, 10), 0.0);
  EXPECT_DOUBLE_EQ(schedule_lr_lambda("cosine", 1, w, 10), 1.0);
  for (int s = 1; s < 10; ++s)
    EXPECT_NEAR(schedule_lr_lambda("cosine", s, w, 10), 0.5 * (1 + std::cos(M_PI * (s - 1) / 9.0)), 1e-15);
  EXPECT_NEAR(schedule_lr_lambda("cosine", 5, 4, 10), 0.5 * (1 + std::cos(M_PI / 6.0)), 1e-15);
  EXPECT_DOUBLE_EQ(schedule_lr_lambda("cosine", 2, 4, 10), 0.5);  // warmup 2/4
  EXPECT_DOUBLE_EQ(schedule_lr_lambda("linear", 7, 4, 10), 0.5);  // (10 − 7)/(10 − 4)
  EXPECT_DOUBLE_EQ(schedule_lr_lambda("constant", 9, 4, 10), 1.0);
}

}  // namespace
