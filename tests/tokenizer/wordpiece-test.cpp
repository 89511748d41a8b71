// BERT uncased WordPiece (all-MiniLM-L6-v2 vocab.txt) against llama.cpp's 46 bert-bge cases and
// hand-checked behaviour: [CLS]/[SEP], accents, CJK, punctuation, [UNK], truncation, decode.
#include "tokenizer/wordpiece.h"
#include "tokenizer/tokenizer.h"
#include "test-support.h"
#include "util/error.h"
#include "tokenizer/tokenizer-support.h"

using ecpo::tok::EncodeOptions;
using ecpo::tok::TokenId;
using V = std::vector<TokenId>;

namespace {

const ecpo::tok::WordPieceTokenizer& bert() {
  static std::unique_ptr<ecpo::tok::Tokenizer> tok =
      ecpo::tok::load_tokenizer(ecpo::test::shared_data() / "bert_wordpiece_minilm_vocab");
  return dynamic_cast<const ecpo::tok::WordPieceTokenizer&>(*tok);
}

#define REQUIRE_BERT() ECPO_REQUIRE_SHARED("bert_wordpiece_minilm_vocab")

}  // namespace

TEST(TokenizerWordPiece, VocabAndSpecials) {
  REQUIRE_BERT();
  const auto& t = bert();
  EXPECT_EQ(t.kind(), "wordpiece");
  EXPECT_EQ(t.vocab_size(), 30522u);
  EXPECT_EQ(*t.special().pad, 0);
  EXPECT_EQ(*t.special().unk, 100);
  EXPECT_EQ(*t.special().bos, 101);  // [CLS]
  EXPECT_EQ(*t.special().eos, 102);  // [SEP]
  EXPECT_EQ(*t.token_to_id("the"), 1996);
  EXPECT_EQ(t.id_to_token(30521), "##～");
}

TEST(TokenizerWordPiece, LlamaCppBertBgeCases) {
  REQUIRE_BERT();
  auto dir = ecpo::test::shared_data() / "bert_wordpiece_minilm_vocab";
  auto cases = ecpo::test::read_vocab_cases(dir / "ggml-vocab-bert-bge.gguf.inp", dir / "ggml-vocab-bert-bge.gguf.out");
  ASSERT_EQ(cases.size(), 46u);
  for (const auto& c : cases)
    EXPECT_EQ(ecpo::test::ids_str(bert().encode(c.text)), ecpo::test::ids_str(c.ids)) << "text: [" << c.text << "]";
}

TEST(TokenizerWordPiece, HandChecked) {
  REQUIRE_BERT();
  const auto& t = bert();
  EXPECT_EQ(t.encode("Hello world"), (V{7592, 2088}));
  EXPECT_EQ(t.encode("Hello world", EncodeOptions{true, false}), (V{101, 7592, 2088, 102}));
  EXPECT_EQ(t.encode("HÉLLO wörld"), t.encode("hello world"));  // lower-case + strip accents
  EXPECT_EQ(t.basic_tokenize("Hello, world!"), (std::vector<std::string>{"hello", ",", "world", "!"}));
  EXPECT_EQ(t.basic_tokenize("a\x01" "b\tc"), (std::vector<std::string>{"ab", "c"}));  // control dropped
  EXPECT_EQ(t.basic_tokenize("中文ab"), (std::vector<std::string>{"中", "文", "ab"}));
  EXPECT_EQ(t.encode(std::string(101, 'a')), (V{100}));  // over max_input_chars_per_word → [UNK]
  // "[SEP]" is text unless parse_special.
  EXPECT_NE(t.encode("a [SEP] b"), (V{1037, 102, 1038}));
  EXPECT_EQ(t.encode("a [SEP] b", EncodeOptions{false, true}), (V{1037, 102, 1038}));
  // A word split into pieces: "tokenization" → token ##ization.
  auto ids = t.encode("tokenization");
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_EQ(t.id_to_token(ids[0]), "token");
  EXPECT_EQ(t.id_to_token(ids[1]), "##ization");
  EXPECT_EQ(t.decode(ids), "tokenization");
  EXPECT_EQ(t.decode(t.encode("Hello, world! It's fine.")), "hello, world! it's fine.");
  EXPECT_EQ(t.decode(t.encode("Hello world", EncodeOptions{true, false}), true), "hello world");
}

TEST(TokenizerWordPiece, TruncationKeepsClsAndSep) {
  REQUIRE_BERT();
  const auto& t = bert();
  std::string text;
  for (int i = 0; i < 400; ++i) text += "word ";
  auto ids = t.encode_truncated(text, 256);
  ASSERT_EQ(ids.size(), 256u);
  EXPECT_EQ(ids.front(), 101);
  EXPECT_EQ(ids.back(), 102);
  EXPECT_EQ(t.encode_truncated("hello", 256), (V{101, 7592, 102}));
  EXPECT_THROW(t.encode_truncated("hello", 1), ecpo::Error);
}
