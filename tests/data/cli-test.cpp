// The data/tasks CLI verbs end to end through the ecpo binary: synth → import → tasks build with defaults,
// and the bad-input paths (missing file, unknown source, malformed line skipped vs --strict, no partial output).
#include <algorithm>

#include <gtest/gtest.h>

#include "data-test-util.h"
#include "test-support.h"
#include "util/fs.h"

using ecpo::test::data_asset;
using ecpo::test::run_ecpo;

namespace {
std::string q(const std::filesystem::path& p) { return "'" + p.string() + "'"; }
std::size_t lines_of(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }
}  // namespace

TEST(DataCli, SynthImportTasksWithDefaults) {
  ecpo::test::TempDir dir;
  auto r = run_ecpo("data synth --domain game --users 10 --seed 3 --out " + q(dir / "raw"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("users 10"), std::string::npos) << r.out;
  r = run_ecpo("data import --source amazon2023 --reviews " + q(dir / "raw/Video_Games.jsonl") + " --meta " +
               q(dir / "raw/meta_Video_Games.jsonl") + " --out " + q(dir / "data"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("users 10, reviews "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("skipped 0"), std::string::npos) << r.out;
  r = run_ecpo("tasks build --data " + q(dir / "data") + " --out " + q(dir / "tasks"));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("| split"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| test "), std::string::npos) << r.out;
  EXPECT_EQ(lines_of(ecpo::read_file(dir / "tasks/tasks_test.jsonl")), 8u) << r.out;  // 8 of 10 users have 30
}

TEST(DataCli, MissingFileIsOneLineWithHint) {
  ecpo::test::TempDir dir;
  auto r = run_ecpo("data import --source yelp --reviews /nonexistent/review.json --meta /nonexistent/b.json --out " +
                    q(dir / "o"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines_of(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/review.json"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("hint"), std::string::npos) << r.out;
}

TEST(DataCli, UnknownSourceIsOneLineWithHint) {
  ecpo::test::TempDir dir;
  auto r = run_ecpo("data import --source amazon2018 --reviews " + q(data_asset("amazon_reviews.jsonl")) + " --meta " +
                    q(data_asset("meta_Video_Games.jsonl")) + " --out " + q(dir / "o"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(lines_of(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("amazon2023 or yelp"), std::string::npos) << r.out;
}

TEST(DataCli, MalformedLinesSkippedOrStrict) {
  ecpo::test::TempDir dir;
  const std::string args = "data import --source amazon2023 --reviews " + q(data_asset("amazon_reviews.jsonl")) +
                           " --meta " + q(data_asset("meta_Video_Games.jsonl"));
  auto r = run_ecpo(args + " --out " + q(dir / "ok"));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("amazon_reviews.jsonl:5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("amazon_reviews.jsonl:6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("users 2, reviews 6, items 6, skipped 1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bad lines 2"), std::string::npos) << r.out;

  r = run_ecpo(args + " --strict --out " + q(dir / "strict"));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(lines_of(r.out), 1u) << r.out;
  EXPECT_NE(r.out.find("amazon_reviews.jsonl:5"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "strict" / "items.jsonl"));
  EXPECT_FALSE(std::filesystem::exists(dir / "strict" / "users.jsonl"));
}

TEST(DataCli, TasksBuildWithoutImportSaysWhatToRun) {
  ecpo::test::TempDir dir;
  auto r = run_ecpo("tasks build --data " + q(dir / "none") + " --out " + q(dir / "t"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("ecpo data import"), std::string::npos) << r.out;
}

TEST(DataCli, ImportMinReviewsPrintsWhatWasDroppedAndCleansTmp) {
  ecpo::test::TempDir dir;
  auto r = run_ecpo("data import --source amazon2023 --reviews " + q(data_asset("amazon_reviews.jsonl")) + " --meta " +
                    q(data_asset("meta_Video_Games.jsonl")) + " --out " + q(dir / "o") + " --min-reviews 3 --tmp " +
                    q(dir / "scratch") + " --memory 1 --fan-in 2");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("users 1, reviews 4, items 4, skipped 1 (item not in meta), bad lines 2; dropped 1 users with "
                       "fewer than 3 reviews (2 reviews)"),
            std::string::npos)
      << r.out;
  EXPECT_TRUE(std::filesystem::is_empty(dir / "scratch"));
  r = run_ecpo("data import --source amazon2023 --reviews " + q(data_asset("amazon_reviews.jsonl")) + " --meta " +
               q(data_asset("meta_Video_Games.jsonl")) + " --out " + q(dir / "o2") + " --min-reviews 5 --max-reviews 4");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("--min-reviews (5) is above --max-reviews (4)"), std::string::npos) << r.out;
}
