// The offline chain through the ecpo binary on the bundled sample: simulate (rule × agenda) → sgpt →
// rewrite --offline → pairs export in every format; bad input gives one line and a non-zero exit.
#include <gtest/gtest.h>

#include "ecpo-fixture.h"
#include "util/fs.h"

namespace ecpo::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::size_t count_lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }

TEST(EcpoCli, OfflineChainOnTheSample) {
  const fs::path run = sample_run();
  TempDir tmp;
  auto r = run_ecpo("sgpt --run " + run.string() + " --out " + (tmp / "sgpt" / "sft.jsonl").string());
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("heuristic roles: agent (rule), user_sim (agenda)"), std::string::npos) << r.out;
  EXPECT_GT(jsonl_rows(tmp / "sgpt" / "sft.jsonl").size(), 0u);

  r = run_ecpo("rewrite --run " + run.string() + " --lambda 1,2,3,4,5 --out " + (tmp / "rw").string() + " --offline");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("rewriter (heuristic)"), std::string::npos) << r.out;
  json rep = read_json_file(tmp / "rw" / "rewrite-report.json");
  EXPECT_EQ(rep["rewriter"], "heuristic");
  for (const char* k : {"candidates", "accepted", "rejected", "pairs_per_lambda"}) EXPECT_TRUE(rep.contains(k)) << k;
  EXPECT_EQ(rep["pairs_per_lambda"].size(), 5u);
  const std::size_t pairs = jsonl_rows(tmp / "rw" / "pairs.jsonl").size();
  EXPECT_EQ(rep["accepted"], pairs);
  EXPECT_EQ(rep["pairs_per_lambda"]["5"], pairs);
  EXPECT_TRUE(fs::exists(tmp / "rw" / "cost.json"));

  for (const char* f : {"trl-dpo", "llamafactory", "kto"}) {
    fs::path out = tmp / "export" / (std::string(f) + ".jsonl");
    r = run_ecpo("pairs export --pairs " + (tmp / "rw" / "pairs.jsonl").string() + " --lambda 5 --format " + f +
                 " --out " + out.string());
    ASSERT_EQ(r.exit_code, 0) << f << ": " << r.out;
    EXPECT_EQ(jsonl_rows(out).size(), std::string(f) == "kto" ? 2 * pairs : pairs) << f;
  }
  EXPECT_TRUE(fs::exists(tmp / "export" / "dataset_info.json"));
}

TEST(EcpoCli, BadInputIsOneLineWithAHint) {
  const fs::path run = sample_run();
  TempDir tmp;
  auto r = run_ecpo("rewrite --run " + run.string() + " --lambda 0,5 --out " + (tmp / "rw").string() + " --offline");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("outside 1–5"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(tmp / "rw" / "pairs.jsonl"));

  r = run_ecpo("sgpt --run " + (tmp / "no-such-run").string() + " --out " + (tmp / "x.jsonl").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("run directory"), std::string::npos) << r.out;

  r = run_ecpo("rewrite --run " + run.string() + " --out " + (tmp / "rw").string() + " --offline rewrite.nope=1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.out.find("unknown setting"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace ecpo::test
