// CLI verbs end to end: model init, logits (--json top ids equal the library's), generate (ids and text,
// --chat), and one-line errors with exit code 1 for bad input.
#include <algorithm>

#include "model/llama.h"
#include "test-support.h"
#include "util/jsonl.h"

using ecpo::test::run_ecpo;

namespace {
const std::string kTiny = std::string(ECPO_TEST_ASSETS) + "/model/tiny-llama";
}

TEST(EngineCli, ModelInitWritesALoadableDirectory) {
  ecpo::test::TempDir dir;
  auto r = run_ecpo("model init --preset tiny --arch qwen2 --seed 4 --out " + (dir / "m").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("Qwen2ForCausalLM"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(dir / "m" / "tokenizer_config.json"));
  EXPECT_NO_THROW(ecpo::model::CausalLM::load(dir / "m"));
}

TEST(EngineCli, LogitsJsonTopMatchesLibrary) {
  auto r = run_ecpo("logits --model " + kTiny + " --ids 507,10,200 --top 5 --json --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  auto lm = ecpo::model::CausalLM::load(kTiny, {"float32", 1, {}});
  auto logits = lm->logits_last({507, 10, 200});
  std::vector<int> order(logits.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return logits[a] > logits[b]; });
  ASSERT_EQ(j["top"].size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(j["top"][i]["id"], order[i]);
    EXPECT_NEAR(j["top"][i]["logit"].get<double>(), logits[order[i]], 1e-5);
  }
}

TEST(EngineCli, GenerateIdsTextAndChat) {
  auto r = run_ecpo("generate --model " + kTiny + " --ids 507,10,200 --max-tokens 6 --json --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto j = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  auto lm = ecpo::model::CausalLM::load(kTiny, {"float32", 1, {}});
  ecpo::model::GenerateParams p;
  p.max_tokens = 6;
  EXPECT_EQ(j["ids"].get<std::vector<int>>(), lm->generate({507, 10, 200}, p).ids);
  EXPECT_EQ(j["prompt_tokens"], 3);

  r = run_ecpo("generate --model " + kTiny + " --prompt 'Recommend a book' --max-tokens 8 --temperature 0.8 --seed 3");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("completion tokens"), std::string::npos) << r.out;
  r = run_ecpo("generate --model " + kTiny + " --prompt 'Hi there' --chat --system 'Be brief' --max-tokens 4");
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST(EngineCli, BadInputIsOneLineAndExitCodeOne) {
  for (const std::string& args : std::vector<std::string>
       {"generate --model " + kTiny + " --ids 1,x", "generate --model " + kTiny + " --ids 1 --adapter /no/such/adapter",
        "generate --model /no/such/dir --ids 1", "logits --model " + kTiny + " --ids 1,99999",
        "model init --preset huge --out /tmp/ecpo-never"}) {
    auto r = run_ecpo(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.out;
    EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << args << "\n" << r.out;
    EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << args << "\n" << r.out;
  }
}
