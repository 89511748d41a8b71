// Pair exports validated against the documented schemas (docs/training-reference.md §15): TRL
// conversational preference rows, LLaMA-Factory alpaca preference rows + dataset_info.json ("ranking":
// true), TRL unpaired KTO rows; λ filtering and its refusals; pair rows round-trip.
#include <gtest/gtest.h>

#include "ecpo/export.h"
#include "ecpo/formats.h"
#include "ecpo-fixture.h"
#include "util/fs.h"

namespace ecpo::pref {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

Pair make_pair(const std::string& id, int score, int lambda_max = 5) {
  Pair p;
  p.pair_id = id;
  p.episode_id = "ep-" + id;
  p.task_id = "task-" + id;
  p.turn = 1;
  p.step = 0;
  p.prompt = {{"system", "You are a helpful assistant."}, {"user", "Observation 1: [User] hi " + id + "\nAction 1:"}};
  p.chosen = "Ask[What genre do you like, " + id + "? Mystery or romance?]";
  p.rejected = "Ask[What genre do you like, " + id + "?]";
  p.score = score;
  p.reason = "no options (guidance -1)";
  p.lambda_max = lambda_max;
  p.rewriter = "heuristic";
  p.dialogue = {{"user", "hi", "ask_for_recommendation"}};
  return p;
}

fs::path write_pairs(const fs::path& p, const std::vector<Pair>& pairs) {
  JsonlWriter w(p);
  for (const auto& x : pairs) w.write(to_json(x));
  w.commit();
  return p;
}

std::set<std::string> keys(const json& j) {
  std::set<std::string> k;
  for (auto it = j.begin(); it != j.end(); ++it) k.insert(it.key());
  return k;
}

void expect_message_list(const json& v, const char* last_role) {
  ASSERT_TRUE(v.is_array());
  ASSERT_FALSE(v.empty());
  for (const auto& m : v) {
    EXPECT_EQ(keys(m), (std::set<std::string>{"role", "content"}));
    EXPECT_TRUE(m["content"].is_string());
  }
  EXPECT_EQ(v.back()["role"], last_role);
}

TEST(PairRows, RoundTripAndRequiredFields) {
  Pair p = make_pair("a", 3);
  Pair q = pair_from_json(to_json(p), "<test>");
  EXPECT_EQ(to_json(q), to_json(p));
  json j = to_json(p);
  for (const char* k : {"pair_id", "episode_id", "task_id", "turn", "step", "prompt", "chosen", "rejected", "score",
                        "reason", "lambda_max"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_TRUE(j["prompt"].contains("messages"));
  j.erase("score");
  EXPECT_THROW(pair_from_json(j, "<test>"), Error);
}

TEST(Export, TrlDpoRowsAreConversationalPreferenceRows) {
  test::TempDir tmp;
  auto pairs = std::vector<Pair>{make_pair("a", 0), make_pair("b", 1), make_pair("c", 3), make_pair("d", 4)};
  ExportOptions o;
  o.pairs = write_pairs(tmp / "pairs.jsonl", pairs);
  o.lambda = 2;
  o.format = "trl-dpo";
  o.out = tmp / "dpo.jsonl";
  ExportSummary s = export_pairs(o);
  EXPECT_EQ(s.pairs_read, 4u);
  EXPECT_EQ(s.pairs_kept, 2u);  // scores 0 and 1 are < 2
  auto rows = test::jsonl_rows(o.out);
  ASSERT_EQ(rows.size(), 2u);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(keys(rows[i]), (std::set<std::string>{"prompt", "chosen", "rejected"}));
    expect_message_list(rows[i]["prompt"], "user");
    expect_message_list(rows[i]["chosen"], "assistant");
    expect_message_list(rows[i]["rejected"], "assistant");
    EXPECT_EQ(rows[i]["chosen"].size(), 1u);
    EXPECT_EQ(rows[i]["chosen"][0]["content"], pairs[i].chosen);
    EXPECT_EQ(rows[i]["rejected"][0]["content"], pairs[i].rejected);
    EXPECT_EQ(rows[i]["prompt"][1]["content"], pairs[i].prompt[1].content);
  }
  EXPECT_EQ(read_json_file(s.meta)["heuristic_roles"], json({"rewriter (heuristic)"}));
}

TEST(Export, LlamaFactoryAlpacaPreferenceRowsAndDatasetInfo) {
  test::TempDir tmp;
  Pair multi = make_pair("m", 2);
  multi.prompt = {{"system", "sys"}, {"user", "u1"}, {"assistant", "a1"}, {"user", "u2"}};
  ExportOptions o;
  o.pairs = write_pairs(tmp / "pairs.jsonl", {make_pair("a", 2), multi});
  o.lambda = 5;
  o.format = "llamafactory";
  o.out = tmp / "out" / "ecpo-book.jsonl";
  fs::create_directories(tmp / "out");
  test::write_text(tmp / "out" / "dataset_info.json", R"({"other": {"file_name": "x.json"}})");
  ExportSummary s = export_pairs(o);
  auto rows = test::jsonl_rows(o.out);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(keys(rows[0]), (std::set<std::string>{"instruction", "input", "chosen", "rejected", "system"}));
  EXPECT_EQ(rows[0]["system"], "You are a helpful assistant.");
  EXPECT_EQ(rows[0]["instruction"], make_pair("a", 2).prompt[1].content);
  EXPECT_EQ(rows[0]["input"], "");
  EXPECT_TRUE(rows[0]["chosen"].is_string());
  EXPECT_EQ(rows[1]["instruction"], "u2");
  EXPECT_EQ(rows[1]["history"], json::array({json::array({"u1", "a1"})}));
  json info = read_json_file(tmp / "out" / "dataset_info.json");
  EXPECT_TRUE(info.contains("other")) << "existing entries are kept";
  const json& e = info["ecpo_book"];
  EXPECT_EQ(e["file_name"], "ecpo-book.jsonl");
  EXPECT_EQ(e["formatting"], "alpaca");
  EXPECT_EQ(e["ranking"], true);
  EXPECT_EQ(e["columns"], json({{"prompt", "instruction"}, {"query", "input"}, {"chosen", "chosen"},
                                {"rejected", "rejected"}, {"system", "system"}, {"history", "history"}}));
  EXPECT_EQ(s.dataset_info, tmp / "out" / "dataset_info.json");
}

TEST(Export, KtoRowsRewriteDesirableOriginalUndesirable) {
  test::TempDir tmp;
  auto pairs = std::vector<Pair>{make_pair("a", 1), make_pair("b", 4), make_pair("c", 2)};
  ExportOptions o;
  o.pairs = write_pairs(tmp / "pairs.jsonl", pairs);
  o.lambda = 3;
  o.format = "kto";
  o.out = tmp / "kto.jsonl";
  export_pairs(o);
  auto rows = test::jsonl_rows(o.out);
  ASSERT_EQ(rows.size(), 4u);  // pairs a and c, each twice
  const std::vector<std::pair<std::string, bool>> want = {
      {pairs[0].chosen, true}, {pairs[2].chosen, true}, {pairs[0].rejected, false}, {pairs[2].rejected, false}};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(keys(rows[i]), (std::set<std::string>{"prompt", "completion", "label"}));
    expect_message_list(rows[i]["prompt"], "user");
    expect_message_list(rows[i]["completion"], "assistant");
    EXPECT_EQ(rows[i]["completion"][0]["content"], want[i].first);
    EXPECT_EQ(rows[i]["label"], want[i].second);
  }
}

TEST(Export, LambdaOutsideTheRangeOrAboveTheFileIsRefused) {
  test::TempDir tmp;
  ExportOptions o;
  o.pairs = write_pairs(tmp / "pairs.jsonl", {make_pair("a", 1, 3)});
  o.out = tmp / "x.jsonl";
  for (int bad : {0, 6, -1}) {
    o.lambda = bad;
    try {
      export_pairs(o);
      FAIL() << "λ " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("outside 1–5"), std::string::npos);
    }
  }
  o.lambda = 4;
  try {
    export_pairs(o);
    FAIL() << "λ above lambda_max";
  } catch (const Error& e) {
    EXPECT_NE(e.hint().find("--lambda"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(o.out));
  o.lambda = 3;
  o.format = "parquet";
  EXPECT_THROW(export_pairs(o), Error);
  EXPECT_THROW(parse_lambdas("1,x"), Error);
  EXPECT_THROW(parse_lambdas("0,1"), Error);
  EXPECT_EQ(parse_lambdas("5, 1,3,3"), (std::vector<int>{1, 3, 5}));
}

TEST(Formats, AlpacaPromptShapes) {
  EXPECT_THROW(alpaca_prompt({{"system", "s"}, {"user", "u"}, {"assistant", "a"}}, "<t>"), Error);
  EXPECT_THROW(alpaca_prompt({{"user", "u"}, {"user", "v"}, {"user", "w"}}, "<t>"), Error);
  AlpacaPrompt a = alpaca_prompt({{"user", "only"}}, "<t>");
  EXPECT_EQ(a.system, "");
  EXPECT_EQ(a.instruction, "only");
  EXPECT_EQ(dataset_name_for("dir/dpo-l5.jsonl"), "dpo_l5");
}

}  // namespace
}  // namespace ecpo::pref
