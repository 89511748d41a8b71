// The train verbs end to end through the ecpo binary: `train eval --json` equals the float64 python golden
// (SFT loss 1e-5; DPO log-probs 1e-3, loss and metrics), DPO with the reference equal to the policy is ln 2;
// a trained adapter loads through `--adapter` with the in-training model's logits, and `model merge` gives the
// logits of base + adapter; bad input fails with one line naming the row or key, a hint, and no output dir.
#include <algorithm>
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>

#include "model/llama.h"
#include "model/lora-adapter.h"
#include "test-support.h"
#include "train/lora-model.h"
#include "util/jsonl.h"

namespace fs = std::filesystem;
using ecpo::test::run_ecpo;

namespace {

const fs::path kModels = fs::path(ECPO_TEST_ASSETS) / "model";
const fs::path kTrain = fs::path(ECPO_TEST_ASSETS) / "train";

const nlohmann::json& golden() {
  static const nlohmann::json g = ecpo::read_json_file(kTrain / "golden.json");
  return g;
}

nlohmann::json eval_json(const std::string& args) {
  auto r = run_ecpo("--log-level warn train eval " + args + " --json threads=1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  return nlohmann::json::parse(r.out.substr(r.out.find('{')));
}

TEST(TrainCli, EvalSftLossEqualsPythonGolden) {
  for (const char* name : {"tiny-llama", "tiny-qwen2"}) {
    SCOPED_TRACE(name);
    auto j = eval_json("--model " + (kModels / name).string() + " --data " + (kTrain / "sft-tokenized.jsonl").string() +
                       " --objective sft");
    const auto& g = golden()["models"][name];
    EXPECT_NEAR(j["loss"].get<double>(), g["sft_loss"].get<double>(), 1e-5);
    EXPECT_EQ(j["n_tokens"], g["sft_tokens"]);
  }
}

TEST(TrainCli, EvalDpoEqualsPythonGoldenAndLn2WithoutAnAdapter) {
  const std::string base = "--model " + (kModels / "tiny-llama").string() + " --data " +
                           (kTrain / "pairs-tokenized.jsonl").string() + " --objective dpo";
  auto same = eval_json(base);  // policy = reference = base
  EXPECT_NEAR(same["loss"].get<double>(), std::log(2.0), 1e-7);
  EXPECT_EQ(same["n_pairs"], 5);
  auto j = eval_json(base + " --adapter " + (kModels / "tiny-llama-lora").string());
  const auto& g = golden()["models"]["tiny-llama"]["dpo_lora_vs_base"];
  EXPECT_NEAR(j["loss"].get<double>(), g["loss"].get<double>(), 1e-5);
  for (const char* k : {"logps/chosen", "logps/rejected"})
    EXPECT_NEAR(j["metrics"][k].get<double>(), g[k].get<double>(), 1e-3) << k;
  for (const char* k : {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"})
    EXPECT_NEAR(j["metrics"][k].get<double>(), g[k].get<double>(), 1e-4) << k;
}

void write_pairs(const fs::path& p) {
  std::ofstream f(p);
  for (int i = 0; i < 8; ++i)
    f << nlohmann::json{{"prompt", {{{"role", "user"}, {"content", "recommend book " + std::to_string(i)}}}},
                        {"chosen", "Here is a good one: title " + std::to_string(i * 7)},
                        {"rejected", "no"}}
             .dump()
      << "\n";
}

std::vector<double> top_logits(const std::string& args) {
  auto r = run_ecpo("logits " + args + " --ids 507,10,200,33,400,7 --top 512 --json --threads 1");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  std::vector<double> by_id(512, 0);
  for (const auto& t : j["top"]) by_id[t["id"].get<int>()] = t["logit"].get<double>();
  return by_id;
}

TEST(TrainCli, TrainedAdapterLoadsThroughAdapterAndMergesToTheSameLogits) {
  ecpo::test::TempDir tmp;
  const fs::path model = kModels / "tiny-llama", data = tmp / "pairs.jsonl", out = tmp / "run";
  write_pairs(data);
  auto r = run_ecpo("--log-level warn train dpo --model " + model.string() + " --data " + data.string() + " --out " +
                    out.string() + " lr=0.01 max_steps=3 grad_accum=2 save_steps=0 threads=1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("trained dpo: 3 steps"), std::string::npos) << r.out;
  // The in-training forward with the written adapter vs the engine loading it through --adapter.
  auto tm = ecpo::train::TrainModel::load(model);
  tm->lora_load(*ecpo::model::LoraAdapter::load(out));
  torch::NoGradGuard ng;
  auto ours = tm->logits({507, 10, 200, 33, 400, 7}, ecpo::train::Branch::policy);
  auto via_cli = top_logits("--model " + model.string() + " --adapter " + out.string());
  auto base = top_logits("--model " + model.string());
  double d = 0, moved = 0;
  for (int v = 0; v < 512; ++v) {
    d = std::max(d, std::fabs(ours[5][v].item<double>() - via_cli[v]));
    moved = std::max(moved, std::fabs(via_cli[v] - base[v]));
  }
  EXPECT_LT(d, 2e-4);
  EXPECT_GT(moved, 1e-3);  // training changed the model
  // model merge: a plain HF directory with the same logits as base + adapter.
  const fs::path merged = tmp / "merged";
  r = run_ecpo("model merge --model " + model.string() + " --adapter " + out.string() + " --out " + merged.string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("merged 14 modules"), std::string::npos) << r.out;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"})
    EXPECT_TRUE(fs::exists(merged / f)) << f;
  auto via_merge = top_logits("--model " + merged.string());
  double dm = 0;
  for (int v = 0; v < 512; ++v) dm = std::max(dm, std::fabs(via_merge[v] - via_cli[v]));
  EXPECT_LT(dm, 2e-4);
  // Refuses a non-empty output and an adapter of another shape, leaving nothing.
  r = run_ecpo("model merge --model " + model.string() + " --adapter " + out.string() + " --out " + merged.string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("not empty"), std::string::npos) << r.out;
}

// ---- bad input: one line, names the row or key, a hint, and no output directory -------------------------

struct BadInput : ::testing::Test {
  ecpo::test::TempDir tmp;
  fs::path out = tmp / "out";
  void expect_refused(const std::string& objective, const std::string& rows, const std::string& settings,
                      const std::vector<std::string>& needles) {
    const fs::path data = tmp / "data.jsonl";
    std::ofstream(data) << rows;
    auto r = run_ecpo("train " + objective + " --model " + (kModels / "tiny-llama").string() + " --data " + data.string() +
                      " --out " + out.string() + " " + settings);
    EXPECT_EQ(r.exit_code, 1) << r.out;
    EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
    EXPECT_NE(r.out.find("hint"), std::string::npos) << r.out;
    for (const auto& n : needles) EXPECT_NE(r.out.find(n), std::string::npos) << n << " in " << r.out;
    EXPECT_FALSE(fs::exists(out)) << "the output directory was created";
  }
};

const std::string kGood = R"({"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]})" "\n";

TEST_F(BadInput, RowWithoutAssistantTurn) {
  expect_refused("sft", kGood + R"({"messages":[{"role":"user","content":"hi"}]})" "\n", "",
                 {"data.jsonl:2", "no assistant turn"});
}

TEST_F(BadInput, EmptyCompletion) {
  expect_refused("dpo", R"({"prompt":[{"role":"user","content":"q"}],"chosen":"","rejected":"no"})" "\n", "",
                 {"data.jsonl:1", "empty chosen completion"});
}

TEST_F(BadInput, PromptLongerThanCutoff) {
  expect_refused("sft",
                 R"({"messages":[{"role":"user","content":"a rather long question for a tiny cutoff"},{"role":"assistant","content":"x"}]})" "\n",
                 "cutoff_len=6", {"data.jsonl:1", "cutoff_len is 6"});
}

TEST_F(BadInput, UnknownKey) { expect_refused("sft", kGood, "lora_rank=4", {"lora_rank", "did you mean 'lora_r'"}); }

TEST_F(BadInput, AdapterForAnotherBaseShape) {
  // An adapter whose modules are wider than tiny-llama's.
  const fs::path ad = tmp / "wide";
  fs::create_directories(ad);
  std::ofstream(ad / "adapter_config.json")
      << R"({"peft_type":"LORA","r":2,"lora_alpha":4,"target_modules":["q_proj"],"bias":"none"})";
  std::vector<ecpo::model::TensorData> ts;
  for (int l = 0; l < 2; ++l) {
    const std::string p = "base_model.model.model.layers." + std::to_string(l) + ".self_attn.q_proj.";
    ts.push_back({p + "lora_A.weight", "F32", {2, 128}, std::string(2 * 128 * 4, '\0')});
    ts.push_back({p + "lora_B.weight", "F32", {128, 2}, std::string(128 * 2 * 4, '\0')});
  }
  ecpo::model::safetensors_write(ad / "adapter_model.safetensors", ts);
  expect_refused("sft", kGood, "init_adapter=" + ad.string(), {"model.layers.0.self_attn.q_proj", "another shape"});
  expect_refused("dpo", R"({"prompt":[{"role":"user","content":"q"}],"chosen":"a","rejected":"b"})" "\n",
                 "ref_adapter=" + ad.string(), {"q_proj", "another shape"});
}

}  // namespace
