// The training forward (train/lora-model) against two independent references: the inference engine's logits
// through its public API (model::CausalLM, which merges adapters at load) and the float64 python3-torch golden
// (tests/assets/train/golden.json: SFT loss 1e-5, per-pair log-probs 1e-3). Also: a fresh adapter (B = 0) is
// the base model, gradients reach only the adapter, the §7 parameter totals, PEFT save → load round trip.
#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/types.h>

#include "model/llama.h"
#include "model/lora-adapter.h"
#include "test-support.h"
#include "train/dataset.h"
#include "train/lora-model.h"
#include "util/error.h"
#include "util/jsonl.h"

using namespace ecpo::train;
namespace fs = std::filesystem;

namespace {

const fs::path kModels = fs::path(ECPO_TEST_ASSETS) / "model";
const fs::path kTrain = fs::path(ECPO_TEST_ASSETS) / "train";

const nlohmann::json& golden() {
  static const nlohmann::json g = ecpo::read_json_file(kTrain / "golden.json");
  return g;
}

double max_diff_vs_engine(TrainModel& tm, ecpo::model::CausalLM& lm, const std::vector<int>& ids, Branch b) {
  torch::NoGradGuard ng;
  torch::Tensor ours = tm.logits(std::vector<std::int32_t>(ids.begin(), ids.end()), b);
  auto ref = lm.logits_all(ids);
  double m = 0;
  for (std::size_t t = 0; t < ref.size(); ++t)
    for (std::size_t v = 0; v < ref[t].size(); ++v)
      m = std::max(m, std::fabs(ours[t][v].item<double>() - ref[t][v]));
  return m;
}

std::unique_ptr<ecpo::model::CausalLM> engine(const std::string& name, const fs::path& adapter = {}) {
  ecpo::model::ModelOptions o;
  o.threads = 1;
  o.adapter_dir = adapter;
  return ecpo::model::CausalLM::load(kModels / name, o);
}

const std::vector<int> kIds = {507, 10, 200, 33, 400, 7, 256, 99, 3, 120, 17, 45};

TEST(TrainModel, BaseForwardEqualsTheEngine) {
  for (const char* name : {"tiny-llama", "tiny-qwen2"}) {
    SCOPED_TRACE(name);
    auto tm = TrainModel::load(kModels / name);
    auto lm = engine(name);
    EXPECT_LT(max_diff_vs_engine(*tm, *lm, kIds, Branch::base), 2e-4);
  }
}

TEST(TrainModel, AdapterBranchesEqualTheEngineWithTheMergedAdapter) {
  auto tm = TrainModel::load(kModels / "tiny-llama");
  auto lm = engine("tiny-llama", kModels / "tiny-llama-lora");
  auto adapter = ecpo::model::LoraAdapter::load(kModels / "tiny-llama-lora");
  tm->set_reference(*adapter);  // frozen branch (block-diagonal B built once)
  EXPECT_LT(max_diff_vs_engine(*tm, *lm, kIds, Branch::reference), 2e-4);
  tm->lora_load(*adapter);  // trainable branch (flat buffer, B blocks built per forward)
  EXPECT_LT(max_diff_vs_engine(*tm, *lm, kIds, Branch::policy), 2e-4);
  auto base = engine("tiny-llama");
  EXPECT_GT(max_diff_vs_engine(*tm, *base, kIds, Branch::policy), 1e-2);  // the adapter does change the logits
}

TEST(TrainModel, FreshAdapterIsTheBaseModelAndOnlyItGetsGradients) {
  auto tm = TrainModel::load(kModels / "tiny-qwen2");
  LoraSpec spec;
  spec.r = 4;
  spec.targets = parse_lora_targets({"q_proj", "v_proj", "down"});
  tm->lora_init(spec, 1);
  EXPECT_EQ(tm->lora_numel(), lora_param_count(tm->config(), spec));
  torch::Tensor base = tm->logits({509, 1, 2, 3, 4, 5}, Branch::base);
  torch::Tensor pol = tm->logits({509, 1, 2, 3, 4, 5}, Branch::policy);
  EXPECT_TRUE(torch::equal(base, pol));  // B = 0 exactly
  TokenSeq s{{509, 1, 2, 3, 4, 5}, {0, 0, 0, 1, 1, 1}};
  ScoreOut o = tm->score({&s}, Branch::policy, true);
  o.seq_logp.sum().backward();
  // With B = 0 the A gradients vanish and the B gradients do not.
  const auto& g = tm->flat_grads();
  EXPECT_GT(g.abs().sum().item<double>(), 0.0);
  EXPECT_EQ(o.seq_tokens[0], 3);
}

TEST(TrainModel, ParameterTotalsOfTheReferenceTable) {
  ecpo::model::HfConfig c;  // Llama-3.1-8B
  c.hidden_size = 4096, c.intermediate_size = 14336, c.num_hidden_layers = 32, c.num_attention_heads = 32;
  c.num_key_value_heads = 8, c.head_dim = 128;
  LoraSpec s;
  EXPECT_EQ(lora_param_count(c, s), 20971520);
  c.hidden_size = 2048, c.intermediate_size = 8192, c.num_hidden_layers = 16, c.head_dim = 64;  // Llama-3.2-1B
  EXPECT_EQ(lora_param_count(c, s), 5636096);
  EXPECT_THROW(parse_lora_targets({"lm_head"}), ecpo::Error);
}

std::vector<TokenSeq> read_sft() {
  Dataset d = load_dataset(kTrain / "sft-tokenized.jsonl", DataKind::sft, nullptr, {});
  std::vector<TokenSeq> out;
  for (auto& e : d.sft) out.push_back(e.seq);
  return out;
}

TEST(TrainModel, SftLossEqualsPythonFloat64) {
  auto seqs = read_sft();
  for (const char* name : {"tiny-llama", "tiny-qwen2"}) {
    SCOPED_TRACE(name);
    auto tm = TrainModel::load(kModels / name);
    torch::NoGradGuard ng;
    std::vector<const TokenSeq*> batch;
    for (auto& s : seqs) batch.push_back(&s);
    ScoreOut o = tm->score(batch, Branch::base, false);  // one padded batch of 6 sequences
    std::int64_t n = 0;
    for (auto t : o.seq_tokens) n += t;
    const auto& g = golden()["models"][name];
    EXPECT_EQ(n, g["sft_tokens"].get<std::int64_t>());
    EXPECT_NEAR(-o.seq_logp.sum().item<double>() / static_cast<double>(n), g["sft_loss"].get<double>(), 1e-5);
  }
}

TEST(TrainModel, PairLogProbsEqualPythonFloat64) {
  Dataset d = load_dataset(kTrain / "pairs-tokenized.jsonl", DataKind::pair, nullptr, {});
  auto tm = TrainModel::load(kModels / "tiny-llama");
  auto check = [&](Branch b, const nlohmann::json& rows) {
    torch::NoGradGuard ng;
    std::vector<const TokenSeq*> batch;
    for (auto& p : d.pairs) batch.push_back(&p.chosen);
    for (auto& p : d.pairs) batch.push_back(&p.rejected);
    ScoreOut o = tm->score(batch, b, false);
    const std::size_t P = d.pairs.size();
    ASSERT_EQ(rows.size(), P);
    for (std::size_t i = 0; i < P; ++i) {
      EXPECT_NEAR(o.seq_logp[i].item<double>(), rows[i]["chosen"].get<double>(), 1e-3);
      EXPECT_NEAR(o.seq_logp[P + i].item<double>(), rows[i]["rejected"].get<double>(), 1e-3);
      EXPECT_EQ(o.seq_tokens[i], rows[i]["chosen_tokens"].get<std::int64_t>());
    }
  };
  check(Branch::base, golden()["models"]["tiny-llama"]["pairs_base"]);
  auto adapter = ecpo::model::LoraAdapter::load(kModels / "tiny-llama-lora");
  tm->lora_load(*adapter);
  check(Branch::policy, golden()["models"]["tiny-llama"]["pairs_lora"]);
}

TEST(TrainModel, SavedAdapterLoadsBackThroughTheEngine) {
  ecpo::test::TempDir tmp;
  auto tm = TrainModel::load(kModels / "tiny-llama");
  LoraSpec spec;
  spec.r = 2;
  spec.alpha = 5;
  tm->lora_init(spec, 3);
  {
    torch::NoGradGuard ng;  // give B non-zero values so the adapter matters
    tm->flat_params().add_(torch::randn({tm->lora_numel()}, torch::kFloat) * 0.05);
  }
  tm->lora_save(tmp.path() / "ad", "tiny-llama");
  auto cfg = ecpo::read_json_file(tmp.path() / "ad" / "adapter_config.json");
  EXPECT_EQ(cfg["r"], 2);
  EXPECT_EQ(cfg["lora_alpha"], 5.0);
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["target_modules"].size(), 7u);
  ecpo::model::SafetensorsFile f(tmp.path() / "ad" / "adapter_model.safetensors");
  EXPECT_TRUE(f.has("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
  EXPECT_TRUE(f.has("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
  auto lm = engine("tiny-llama", tmp.path() / "ad");
  EXPECT_LT(max_diff_vs_engine(*tm, *lm, kIds, Branch::policy), 2e-4);
}

TEST(TrainModel, AdapterForAnotherShapeIsRefusedNamingTheKey) {
  auto tm = TrainModel::load(kModels / "tiny-qwen2");
  auto adapter = ecpo::model::LoraAdapter::load(kModels / "tiny-llama-lora");  // same dims: loads
  EXPECT_NO_THROW(tm->lora_spec_of(*adapter));
  ecpo::test::TempDir tmp;
  auto small = TrainModel::load(kModels / "tiny-llama");
  LoraSpec spec;
  spec.r = 2;
  small->lora_init(spec, 1);
  small->lora_save(tmp.path() / "ad", "x");
  // Rewrite one tensor with a wrong input width.
  ecpo::model::SafetensorsFile f(tmp.path() / "ad" / "adapter_model.safetensors");
  std::vector<ecpo::model::TensorData> ts;
  for (const auto& t : f.header().tensors) {
    auto v = f.get(t.name);
    ecpo::model::TensorData d{t.name, "F32", t.shape, ecpo::model::pack_floats(ecpo::model::view_to_f32(v), "F32")};
    if (t.name == "base_model.model.model.layers.1.mlp.up_proj.lora_A.weight") {
      d.shape = {2, 32};
      d.bytes.resize(2 * 32 * 4);
    }
    ts.push_back(std::move(d));
  }
  ecpo::model::safetensors_write(tmp.path() / "bad" / "adapter_model.safetensors", ts);
  fs::copy_file(tmp.path() / "ad" / "adapter_config.json", tmp.path() / "bad" / "adapter_config.json");
  auto bad = ecpo::model::LoraAdapter::load(tmp.path() / "bad");
  try {
    small->lora_spec_of(*bad);
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.1.mlp.up_proj"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("another shape"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

// Packed pairs (prompt computed once, both completions attending to it) score exactly what the two
// sequences score alone, with the same gradients.
TEST(TrainModel, SharedPrefixPairsEqualUnpackedScoring) {
  Dataset d = load_dataset(kTrain / "pairs-tokenized.jsonl", DataKind::pair, nullptr, {});
  for (const char* name : {"tiny-llama", "tiny-qwen2"}) {
    SCOPED_TRACE(name);
    auto tm = TrainModel::load(kModels / name);
    LoraSpec spec;
    spec.r = 4;
    tm->lora_init(spec, 2);
    {
      torch::NoGradGuard ng;
      tm->flat_params().add_(torch::randn({tm->lora_numel()}) * 0.05);
    }
    std::vector<const TokenSeq*> ch, rj, both;
    std::vector<std::int64_t> pt;
    for (auto& p : d.pairs) ch.push_back(&p.chosen), rj.push_back(&p.rejected), pt.push_back(p.prompt_tokens);
    both = ch;
    both.insert(both.end(), rj.begin(), rj.end());
    ScoreOut a = tm->score(both, Branch::policy, false);
    (a.seq_logp * torch::arange(1, 11, torch::kFloat)).sum().backward();
    torch::Tensor ga = tm->flat_grads().clone();
    tm->flat_grads().zero_();
    ScoreOut b = tm->score_pairs(ch, rj, pt, Branch::policy, false);
    (b.seq_logp * torch::arange(1, 11, torch::kFloat)).sum().backward();
    EXPECT_LT((a.seq_logp - b.seq_logp).abs().max().item<double>(), 1e-4);
    EXPECT_LT((a.seq_logit_sum - b.seq_logit_sum).abs().max().item<double>(), 1e-4);
    EXPECT_EQ(a.seq_tokens, b.seq_tokens);
    EXPECT_EQ(a.input_tokens, b.input_tokens);
    EXPECT_EQ(a.correct, b.correct);
    EXPECT_LT((ga - tm->flat_grads()).abs().max().item<double>(), 1e-4 * std::max(1.0, ga.abs().max().item<double>()));
    EXPECT_LT(b.padded_tokens, a.padded_tokens);  // the prompts were computed once
  }
}

}  // namespace

namespace {

// bfloat16 base: the forward stays close to the engine's bf16 forward and to float32, and an SFT step's
// adapter gradient points the same way as in float32.
TEST(TrainModel, Bfloat16BaseTracksFloat32AndTheEngine) {
  auto f32 = TrainModel::load(kModels / "tiny-qwen2", "float32");
  auto bf = TrainModel::load(kModels / "tiny-qwen2", "bfloat16");
  ecpo::model::ModelOptions o;
  o.threads = 1;
  o.dtype = "bfloat16";
  auto lm = ecpo::model::CausalLM::load(kModels / "tiny-qwen2", o);
  torch::NoGradGuard ng;
  torch::Tensor a = f32->logits({509, 1, 2, 3, 4, 5, 6, 7}, Branch::base), b = bf->logits({509, 1, 2, 3, 4, 5, 6, 7}, Branch::base);
  const double scale = a.abs().max().item<double>();
  EXPECT_LT((a - b).abs().max().item<double>(), 0.05 * scale);
  EXPECT_LT(max_diff_vs_engine(*bf, *lm, {509, 1, 2, 3, 4, 5, 6, 7}, Branch::base), 0.05 * scale);
}

TEST(TrainModel, Bfloat16GradientAgreesWithFloat32) {
  TokenSeq s{{509, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {0, 0, 0, 0, 0, 1, 1, 1, 1, 1}};
  std::vector<torch::Tensor> g;
  for (const char* dt : {"float32", "bfloat16"}) {
    auto tm = TrainModel::load(kModels / "tiny-qwen2", dt);
    LoraSpec spec;
    tm->lora_init(spec, 9);
    ScoreOut out = tm->score({&s}, Branch::policy, true);
    (-out.seq_logp.sum()).backward();
    g.push_back(tm->flat_grads().clone());
  }
  const double cos = (g[0] * g[1]).sum().item<double>() / (g[0].norm().item<double>() * g[1].norm().item<double>());
  EXPECT_GT(cos, 0.98);
}

}  // namespace
