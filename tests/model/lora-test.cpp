// PEFT LoRA adapters for inference: the committed tiny-llama-lora adapter merged at load gives the logits of
// an independent un-merged float64 Python forward (golden_lora.json, 1e-4 abs), also with use_rslora; the
// ".default" key spelling; errors for wrong shapes, unknown modules, missing files and unsupported configs;
// and `ecpo logits/generate --adapter` end to end.
#include <algorithm>
#include <cmath>
#include <functional>

#include "model/llama.h"
#include "model/local-chat-model.h"
#include "model/lora-adapter.h"
#include "model/safetensors.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

using namespace ecpo::model;
namespace fs = std::filesystem;

namespace {

const fs::path kAssets = fs::path(ECPO_TEST_ASSETS) / "model";
const fs::path kTiny = kAssets / "tiny-llama";
const fs::path kLora = kAssets / "tiny-llama-lora";

const nlohmann::json& golden() {
  static const nlohmann::json g = ecpo::read_json_file(kAssets / "golden_lora.json");
  return g;
}

double max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

std::unique_ptr<CausalLM> load(const fs::path& adapter) {
  ModelOptions o;
  o.threads = 1;
  o.adapter_dir = adapter;
  return CausalLM::load(kTiny, o);
}

// Copies the committed adapter into `dst`, letting `edit_config` change adapter_config.json and `edit` rename,
// reshape or drop tensors (return false to drop).
void copy_adapter(const fs::path& dst, const std::function<void(nlohmann::json&)>& edit_config,
                  const std::function<bool(TensorData&)>& edit = {}) {
  fs::create_directories(dst);
  nlohmann::json cfg = ecpo::read_json_file(kLora / "adapter_config.json");
  if (edit_config) edit_config(cfg);
  ecpo::write_file_atomic(dst / "adapter_config.json", cfg.dump(2));
  SafetensorsFile f(kLora / "adapter_model.safetensors");
  std::vector<TensorData> out;
  for (const auto& t : f.header().tensors) {
    TensorView v = f.get(t.name);
    TensorData d{t.name, "F32", t.shape, pack_floats(view_to_f32(v), "F32")};
    if (!edit || edit(d)) out.push_back(std::move(d));
  }
  safetensors_write(dst / "adapter_model.safetensors", std::move(out));
}

// Loads and expects an ecpo::Error whose text contains every needle.
void expect_error(const fs::path& adapter, const std::vector<std::string>& needles) {
  try {
    load(adapter);
    ADD_FAILURE() << "expected ecpo::Error for " << adapter;
  } catch (const ecpo::Error& e) {
    const std::string all = std::string(e.what()) + " | " + e.where() + " | " + e.hint();
    for (const auto& n : needles) EXPECT_NE(all.find(n), std::string::npos) << "missing '" << n << "' in: " << all;
  }
}

}  // namespace

TEST(LoraAdapter, ReadsThePeftConfigAndPairsTheWeights) {
  auto a = LoraAdapter::load(kLora);
  EXPECT_EQ(a->config().r, 4);
  EXPECT_DOUBLE_EQ(a->config().lora_alpha, 8.0);
  EXPECT_FALSE(a->config().use_rslora);
  EXPECT_DOUBLE_EQ(a->config().scale(), 2.0);
  EXPECT_EQ(a->config().target_modules.size(), 7u);
  EXPECT_EQ(a->modules().size(), 14u);  // 2 layers × 7 projections
  const LoraModule* q = a->find("model.layers.1.self_attn.q_proj");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->a.info->shape, (std::vector<std::int64_t>{4, 64}));
  EXPECT_EQ(q->b.info->shape, (std::vector<std::int64_t>{64, 4}));
  EXPECT_EQ(a->find("model.layers.1.self_attn.q"), nullptr);
}

TEST(LoraMerge, LogitsMatchTheUnmergedPythonGolden) {
  auto base = load({});
  auto lm = load(kLora);
  for (const auto& c : golden()["cases"]) {
    auto ids = c["ids"].get<std::vector<int>>();
    std::vector<float> with = lm->logits_last(ids);
    EXPECT_LT(max_abs_diff(with, c["lora_last"].get<std::vector<double>>()), 1e-4);
    std::vector<float> without = base->logits_last(ids);
    EXPECT_LT(max_abs_diff(without, c["base_last"].get<std::vector<double>>()), 1e-4);
    std::vector<double> wd(without.begin(), without.end());
    EXPECT_GT(max_abs_diff(with, wd), 0.1) << "the adapter must change the logits";
  }
  // The merged weights serve every path: batched prefill and KV-cache generation agree with the full forward.
  std::vector<std::vector<int>> batch;
  for (const auto& c : golden()["cases"]) batch.push_back(c["ids"].get<std::vector<int>>());
  auto rows = lm->logits_last_batch(batch);
  for (std::size_t i = 0; i < batch.size(); ++i)
    EXPECT_LT(max_abs_diff(rows[i], golden()["cases"][i]["lora_last"].get<std::vector<double>>()), 1e-4);
  GenerateParams p;
  p.max_tokens = 6;
  GenerateParams nc = p;
  nc.use_kv_cache = false;
  EXPECT_EQ(lm->generate(batch[0], p).ids, lm->generate(batch[0], nc).ids);
}

TEST(LoraMerge, RsloraScalesByAlphaOverSqrtR) {
  ecpo::test::TempDir dir;
  copy_adapter(dir / "rs", [](nlohmann::json& c) { c["use_rslora"] = true; });
  EXPECT_DOUBLE_EQ(LoraAdapter::load(dir / "rs")->config().scale(), 4.0);
  auto lm = load(dir / "rs");
  for (const auto& c : golden()["cases"])
    EXPECT_LT(max_abs_diff(lm->logits_last(c["ids"].get<std::vector<int>>()),
                           c["rslora_last"].get<std::vector<double>>()), 1e-4);
}

TEST(LoraMerge, DefaultAdapterNameSpellingAndAllLinear) {
  ecpo::test::TempDir dir;
  copy_adapter(dir / "d", [](nlohmann::json& c) { c["target_modules"] = "all-linear"; },
               [](TensorData& t) {
                 auto at = t.name.rfind(".weight");
                 t.name = t.name.substr(0, at) + ".default.weight";
                 return true;
               });
  auto lm = load(dir / "d");
  const auto& c = golden()["cases"][0];
  EXPECT_LT(max_abs_diff(lm->logits_last(c["ids"].get<std::vector<int>>()), c["lora_last"].get<std::vector<double>>()),
            1e-4);
}

TEST(LoraMerge, SubsetOfTargetsMergesOnlyThose) {
  // Only q_proj/v_proj (PEFT's default targets): still loads; differs from both base and the full adapter.
  ecpo::test::TempDir dir;
  copy_adapter(dir / "qv", [](nlohmann::json& c) { c["target_modules"] = {"q_proj", "v_proj"}; },
               [](TensorData& t) {
                 return t.name.find("q_proj") != std::string::npos || t.name.find("v_proj") != std::string::npos;
               });
  EXPECT_EQ(LoraAdapter::load(dir / "qv")->modules().size(), 4u);
  const auto& c = golden()["cases"][0];
  auto ids = c["ids"].get<std::vector<int>>();
  auto l = load(dir / "qv")->logits_last(ids);
  EXPECT_GT(max_abs_diff(l, c["base_last"].get<std::vector<double>>()), 1e-3);
  EXPECT_GT(max_abs_diff(l, c["lora_last"].get<std::vector<double>>()), 1e-3);
}

TEST(LoraErrors, WrongShapeNamesTheKeyAndTheBaseShape) {
  ecpo::test::TempDir dir;
  const std::string key = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
  copy_adapter(dir / "s", nullptr, [&](TensorData& t) {
    if (t.name == key) {
      t.shape = {128, 4};
      t.bytes = pack_floats(std::vector<float>(128 * 4, 0.01f), "F32");
    }
    return true;
  });
  expect_error(dir / "s", {key, "adapter_model.safetensors", "different base model", "q_proj is [64,64]",
                           "lora_B is [128,4]"});
  // A rank that disagrees with r is caught by the reader.
  copy_adapter(dir / "r", [](nlohmann::json& c) { c["r"] = 8; });
  expect_error(dir / "r", {"r = 8", "lora_A"});
}

TEST(LoraErrors, UnknownModuleAndBadKeys) {
  ecpo::test::TempDir dir;
  copy_adapter(dir / "u", nullptr, [](TensorData& t) {
    auto p = t.name.find("layers.1.");
    if (p != std::string::npos) t.name.replace(p, 9, "layers.7.");
    return true;
  });
  expect_error(dir / "u", {"base_model.model.model.layers.7.", "does not have", "different base model"});
  copy_adapter(dir / "p", nullptr, [](TensorData& t) {
    t.name = t.name.substr(std::string("base_model.model.").size());
    return true;
  });
  expect_error(dir / "p", {"lacks the base_model.model. prefix", "model.layers.0.mlp.down_proj.lora_A.weight"});
  copy_adapter(dir / "n", nullptr, [](TensorData& t) {
    if (t.name.find("layers.0.mlp.up_proj.lora_A") != std::string::npos) t.name += "_extra";
    return true;
  });
  expect_error(dir / "n", {"not a LoRA A/B weight", "up_proj.lora_A.weight_extra"});
  copy_adapter(dir / "half", nullptr, [](TensorData& t) { return t.name.find("o_proj.lora_B") == std::string::npos; });
  expect_error(dir / "half", {"o_proj", "no lora_B"});
  copy_adapter(dir / "t", [](nlohmann::json& c) { c["target_modules"] = {"q_proj"}; });
  expect_error(dir / "t", {"target_modules"});
}

TEST(LoraErrors, MissingFilesAndUnsupportedConfigs) {
  ecpo::test::TempDir dir;
  expect_error(dir / "absent", {"adapter directory"});
  fs::create_directories(dir / "empty");
  expect_error(dir / "empty", {"adapter_config.json is missing", "empty"});
  copy_adapter(dir / "nw", nullptr);
  fs::remove(dir / "nw" / "adapter_model.safetensors");
  expect_error(dir / "nw", {"adapter_model.safetensors is missing"});
  copy_adapter(dir / "f", [](nlohmann::json& c) { c["fan_in_fan_out"] = true; });
  expect_error(dir / "f", {"fan_in_fan_out", "adapter_config.json"});
  copy_adapter(dir / "b", [](nlohmann::json& c) { c["bias"] = "all"; });
  expect_error(dir / "b", {"bias", "none"});
  copy_adapter(dir / "pt", [](nlohmann::json& c) { c["peft_type"] = "IA3"; });
  expect_error(dir / "pt", {"LORA"});
  copy_adapter(dir / "dora", [](nlohmann::json& c) { c["use_dora"] = true; });
  expect_error(dir / "dora", {"DoRA"});
  // lora_dropout is ignored at inference.
  copy_adapter(dir / "drop", [](nlohmann::json& c) { c["lora_dropout"] = 0.3; });
  EXPECT_NO_THROW(load(dir / "drop"));
}

TEST(LoraCli, LogitsTopIdsMatchTheGolden) {
  const auto& c = golden()["cases"][0];
  auto ids = c["ids"].get<std::vector<int>>();
  std::string csv;
  for (std::size_t i = 0; i < ids.size(); ++i) csv += (i ? "," : "") + std::to_string(ids[i]);
  auto r = ecpo::test::run_ecpo("logits --model " + kTiny.string() + " --adapter " + kLora.string() + " --ids " + csv +
                                " --top 5 --json --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  auto g = c["lora_last"].get<std::vector<double>>();
  std::vector<int> order(g.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return g[a] > g[b]; });
  ASSERT_EQ(j["top"].size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(j["top"][i]["id"], order[i]);
    EXPECT_NEAR(j["top"][i]["logit"].get<double>(), g[order[i]], 1e-4);
  }
  r = ecpo::test::run_ecpo("generate --model " + kTiny.string() + " --adapter " + kLora.string() + " --ids " + csv +
                           " --max-tokens 4 --json --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  GenerateParams p;
  p.max_tokens = 4;
  EXPECT_EQ(nlohmann::json::parse(r.out.substr(r.out.find('{')))["ids"].get<std::vector<int>>(),
            load(kLora)->generate(ids, p).ids);
  // A bad adapter directory is one error line with exit code 1.
  r = ecpo::test::run_ecpo("logits --model " + kTiny.string() + " --adapter " + kTiny.string() + " --ids 1");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("adapter_config.json"), std::string::npos) << r.out;
}

TEST(LoraLocal, LocalChatModelLoadsAnAdapter) {
  LocalModelOptions o;
  o.model_dir = kTiny;
  o.adapter_dir = kLora;
  o.threads = 1;
  auto m = LocalChatModel::load(o);
  ecpo::llm::ChatParams p;
  p.temperature = 0;
  p.max_tokens = 3;
  EXPECT_NO_THROW(m->chat({{"user", "hi"}}, p));
  o.adapter_dir = kAssets / "no-such-adapter";
  EXPECT_THROW(LocalChatModel::load(o), ecpo::Error);
}

TEST(LoraAdapter, BaseModelNameIsComparedByItsLastPathComponent) {
  ecpo::test::TempDir dir;
  std::filesystem::create_directories(dir.path() / "Meta-Llama-3-8B-Instruct");
  const auto llama = dir.path() / "Meta-Llama-3-8B-Instruct";
  EXPECT_TRUE(base_model_matches("meta-llama/Meta-Llama-3-8B-Instruct", llama));
  EXPECT_TRUE(base_model_matches("/models/meta-llama-3-8b-instruct/", llama));  // case and trailing slash
  EXPECT_TRUE(base_model_matches("", llama));                                 // nothing recorded
  EXPECT_TRUE(base_model_matches("Meta-Llama-3-8B-Instruct", llama / "."));   // "dir/." is the same directory
  EXPECT_FALSE(base_model_matches("Qwen/Qwen2.5-7B-Instruct", llama));
  EXPECT_FALSE(base_model_matches("meta-llama/Meta-Llama-3-8B", llama));
}
