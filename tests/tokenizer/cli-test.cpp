// `ecpo tokenize`: ids, pieces, JSON, chat rendering, decode, and one-line errors.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "test-support.h"
#include "util/fs.h"

namespace {

std::string llama3_path() {
  return (ecpo::test::shared_data() / "llama3_tiktoken_tokenizer" / "tokenizer.model").string();
}

}  // namespace

TEST(TokenizeCli, EncodeDecodeAndPieces) {
  ECPO_REQUIRE_SHARED("llama3_tiktoken_tokenizer");
  auto r = ecpo::test::run_ecpo("tokenize --tokenizer " + llama3_path() + " --text 'Hello world'");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "9906 1917\n");
  r = ecpo::test::run_ecpo("tokenize --tokenizer " + llama3_path() + " --text \"$(printf 'a\\n\\nb')\" --pieces");
  EXPECT_EQ(r.out, "64\ta\n271\t\\n\\n\n65\tb\n");
  r = ecpo::test::run_ecpo("tokenize --tokenizer " + llama3_path() + " --text 'Hello world' --pieces --json");
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["ids"], nlohmann::json({9906, 1917}));
  EXPECT_EQ(j["pieces"], nlohmann::json({"Hello", " world"}));
  r = ecpo::test::run_ecpo("tokenize --tokenizer " + llama3_path() + " --decode '128000 9906,1917'");
  EXPECT_EQ(r.out, "<|begin_of_text|>Hello world\n");
}

TEST(TokenizeCli, ChatMessages) {
  ECPO_REQUIRE_SHARED("llama3_tiktoken_tokenizer");
  ecpo::test::TempDir dir;
  ecpo::write_file_atomic(dir / "chat.json", R"([{"role": "user", "content": "hello"}])");
  auto r = ecpo::test::run_ecpo("tokenize --tokenizer " + llama3_path() + " --messages " +
                                (dir / "chat.json").string() + " --generation-prompt");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(r.out, "128000 128006 882 128007 271 15339 128009 128006 78191 128007 271\n");
}

TEST(TokenizeCli, ErrorsAreOneLine) {
  auto r = ecpo::test::run_ecpo("tokenize --tokenizer /nonexistent/tok --text hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  if (std::filesystem::exists(ecpo::test::shared_data() / "llama3_tiktoken_tokenizer")) {
    r = ecpo::test::run_ecpo("tokenize --tokenizer " + llama3_path() + " --decode 999999");
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("not in the vocabulary"), std::string::npos) << r.out;
  }
}

TEST(TokenizeCli, FileInputWithBert) {
  ECPO_REQUIRE_SHARED("bert_wordpiece_minilm_vocab");
  ecpo::test::TempDir dir;
  ecpo::write_file_atomic(dir / "in.txt", "Hello world\n");
  auto r = ecpo::test::run_ecpo("tokenize --tokenizer " +
                                (ecpo::test::shared_data() / "bert_wordpiece_minilm_vocab").string() + " --file " +
                                (dir / "in.txt").string() + " --add-special --json");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["ids"], nlohmann::json({101, 7592, 2088, 102}));
}
