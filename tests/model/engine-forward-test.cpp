// The Llama/Qwen2 forward against independent Python goldens (tests/assets/model/golden.json, float64 reference),
// bf16 compute close to f32, left-padded batched prefill = one-by-one, KV-cache generation = no-cache
// generation, the llama3 RoPE table, and llama2.c parity (200 greedy ids of stories260K, when shared data exists).
#include "model/llama.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include "model/llama2c.h"
#include "model/rope.h"
#include "test-support.h"
#include "util/error.h"
#include "util/jsonl.h"

using namespace ecpo::model;

namespace {

const std::filesystem::path kAssets = std::filesystem::path(ECPO_TEST_ASSETS) / "model";

const nlohmann::json& golden() {
  static const nlohmann::json g = ecpo::read_json_file(kAssets / "golden.json");
  return g;
}

std::vector<int> ints(const nlohmann::json& j) { return j.get<std::vector<int>>(); }

float max_abs_diff(const std::vector<float>& a, const std::vector<double>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, static_cast<float>(std::fabs(a[i] - b[i])));
  return m;
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class Golden : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(Golden, LogitsMatchPythonFloat64Reference) {
  const auto& g = golden()["models"][GetParam()];
  auto lm = CausalLM::load(kAssets / GetParam(), {"float32", 1, {}});
  auto all = lm->logits_all(ints(g["seq_a"]));
  ASSERT_EQ(all.size(), g["logits_a"].size());
  for (std::size_t t = 0; t < all.size(); ++t)
    EXPECT_LT(max_abs_diff(all[t], g["logits_a"][t].get<std::vector<double>>()), 1e-4) << "position " << t;
  auto last = lm->logits_last(ints(g["seq_b"]));
  EXPECT_LT(max_abs_diff(last, g["logits_b_last"].get<std::vector<double>>()), 1e-4);
  // greedy continuation (python: full forward each step)
  GenerateParams p;
  p.max_tokens = 12;
  p.stop_at_eos = false;
  EXPECT_EQ(lm->generate(ints(g["seq_a"]), p).ids, ints(g["greedy_a"]));
}

TEST_P(Golden, Bfloat16ComputeStaysCloseToFloat32) {
  const auto& g = golden()["models"][GetParam()];
  auto lm = CausalLM::load(kAssets / GetParam(), {"bfloat16", 1, {}});
  EXPECT_EQ(lm->dtype(), "bfloat16");
  auto last = lm->logits_last(ints(g["seq_b"]));
  // bf16 has 8 mantissa bits: logits of magnitude ~4 drift by a few hundredths through two layers.
  EXPECT_LT(max_abs_diff(last, g["logits_b_last"].get<std::vector<double>>()), 0.15);
}

TEST_P(Golden, BatchedLeftPaddedPrefillEqualsOneByOne) {
  auto lm = CausalLM::load(kAssets / GetParam(), {"float32", 1, {}});
  std::vector<std::vector<int>> batch = {{5, 6, 7, 8, 9, 10, 11}, {300}, {42, 43, 44}};
  auto b = lm->logits_last_batch(batch);
  ASSERT_EQ(b.size(), 3u);
  for (std::size_t i = 0; i < batch.size(); ++i) EXPECT_LT(max_abs_diff(b[i], lm->logits_last(batch[i])), 1e-4) << i;
}

TEST_P(Golden, KvCacheGenerationEqualsFullRecompute) {
  auto lm = CausalLM::load(kAssets / GetParam(), {"float32", 1, {}});
  GenerateParams p;
  p.max_tokens = 24;
  p.stop_at_eos = false;
  std::vector<int> prompt = {1, 2, 3, 100, 200};
  auto cached = lm->generate(prompt, p);
  p.use_kv_cache = false;
  auto full = lm->generate(prompt, p);
  EXPECT_EQ(cached.ids, full.ids);
  EXPECT_EQ(cached.ids.size(), 24u);
  // sampled generation with the same seed also agrees
  p.temperature = 0.9;
  p.top_p = 0.95;
  p.top_k = 50;
  p.seed = 11;
  auto s_full = lm->generate(prompt, p);
  p.use_kv_cache = true;
  auto s_cached = lm->generate(prompt, p);
  EXPECT_EQ(s_full.ids, s_cached.ids);
  p.seed = 12;
  EXPECT_NE(lm->generate(prompt, p).ids, s_cached.ids);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, Golden, ::testing::Values("tiny-llama", "tiny-qwen2"));

TEST(Forward, LogitsAllRowsEqualPrefixLogits) {
  auto lm = CausalLM::load(kAssets / "tiny-llama", {"float32", 1, {}});
  std::vector<int> ids = {507, 20, 30, 40};
  auto all = lm->logits_all(ids);
  for (std::size_t t = 0; t < ids.size(); ++t) {
    std::vector<int> prefix(ids.begin(), ids.begin() + t + 1);
    EXPECT_LT(max_abs_diff(all[t], lm->logits_last(prefix)), 1e-4) << t;
  }
}

TEST(Forward, BadIdsAndMissingFilesAreEcpoErrors) {
  auto lm = CausalLM::load(kAssets / "tiny-llama", {"float32", 1, {}});
  EXPECT_THROW(lm->logits_last({1, 512}), ecpo::Error);
  EXPECT_THROW(lm->logits_last({}), ecpo::Error);
  EXPECT_THROW(CausalLM::load(kAssets / "no-such-model"), ecpo::Error);
  EXPECT_THROW(CausalLM::load(kAssets / "tiny-llama", {"int8", 1, {}}), ecpo::Error);
}

TEST(Forward, WeightShapeMismatchNamesTheTensor) {
  ecpo::test::TempDir dir;
  std::filesystem::copy(kAssets / "tiny-llama", dir.path() / "m");
  auto cfg = ecpo::read_json_file(dir.path() / "m" / "config.json");
  cfg["intermediate_size"] = 100;
  ecpo::write_json_file(dir.path() / "m" / "config.json", cfg);
  try {
    CausalLM::load(dir.path() / "m");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mlp"), std::string::npos) << e.what();
  }
}

TEST(Rope, Llama3TableMatchesTransformersFormula) {
  const auto& r = golden()["rope_llama3"];
  RopeScaling s;
  s.type = "llama3";
  s.factor = r["factor"];
  s.low_freq_factor = r["low_freq_factor"];
  s.high_freq_factor = r["high_freq_factor"];
  s.original_max_position_embeddings = r["original_max_position_embeddings"];
  auto got = rope_llama3_scale(rope_default_inv_freq(r["head_dim"], r["rope_theta"]), s);
  auto want = r["inv_freq"].get<std::vector<double>>();
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 2e-7 * std::fabs(want[i]) + 1e-12) << i;
}

TEST(Llama2c, Stories260KReproducesRunCGreedyIds) {
  ECPO_REQUIRE_SHARED("llama2c_format_260K_unverified");
  const auto src = ecpo::test::shared_data() / "llama2c_format_260K_unverified";
  ecpo::test::TempDir dir;
  HfConfig cfg = llama2c_convert(src / "stories260K.bin", dir.path());
  EXPECT_EQ(cfg.num_hidden_layers, 5);
  EXPECT_EQ(cfg.num_key_value_heads, 4);
  std::ifstream in(src / "greedy_ids_from_bos_200steps.txt");
  std::vector<int> want;
  for (int id; in >> id;) want.push_back(id);
  ASSERT_EQ(want.size(), 200u);
  auto lm = CausalLM::load(dir.path(), {"float32", 1, {}});
  GenerateParams p;
  p.max_tokens = 200;
  p.stop_at_eos = false;
  EXPECT_EQ(lm->generate({1}, p).ids, want);
}

TEST(Forward, DtypeAutoFollowsConfigAndFloat16IsRefused) {
  EXPECT_EQ(CausalLM::load(kAssets / "tiny-qwen2", {"auto", 1, {}})->dtype(), "bfloat16");  // torch_dtype bfloat16
  EXPECT_EQ(CausalLM::load(kAssets / "tiny-llama", {"auto", 1, {}})->dtype(), "float32");
  EXPECT_THROW(CausalLM::load(kAssets / "tiny-llama", {"float16", 1, {}}), ecpo::Error);
}

TEST(Forward, GenerationConfigEosIdsAreMerged) {
  ecpo::test::TempDir dir;
  std::filesystem::copy(kAssets / "tiny-llama", dir.path() / "m");
  ecpo::write_json_file(dir.path() / "m" / "generation_config.json", {{"eos_token_id", {508, 509, 511}}});
  EXPECT_EQ(HfConfig::load(dir.path() / "m").eos_token_ids, (std::vector<std::int64_t>{508, 511, 509}));
}
