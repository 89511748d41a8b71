// HF tokenizer.json reading on hand-made fixtures (tests/assets/model/tokenizer/tiny-bpe*.json, written by
// make-tiny-bpe.py): merge order, both merge spellings, ignore_merges, added tokens, bytes without merges,
// the post-processor's BOS; a WordPiece tokenizer.json written inline. Expected ids are worked by hand:
// ids 0..255 are the bytes themselves; merges (rank order) 256 Ġt, 257 er, 258 he, 259 Ġthe, 260 ll,
// 261 hell, 262 hello; 263 Ġhi (no merge makes it); added 264 <|eot|> (special), 265 <sep>, 266 <s>.
#include <algorithm>
#include <tuple>

#include "tokenizer/bpe.h"
#include "tokenizer/load.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "tokenizer/tokenizer-support.h"

using ecpo::tok::EncodeOptions;
using ecpo::tok::TokenId;
using V = std::vector<TokenId>;

namespace {

std::filesystem::path asset(const std::string& name) {
  return std::filesystem::path(ECPO_TEST_ASSETS) / "model" / "tokenizer" / name;
}

}  // namespace

TEST(TokenizerHf, Gpt2ByteMapping) {
  EXPECT_EQ(ecpo::tok::gpt2_bytes_to_unicode(" hello\n"), "Ġhello\xC4\x8A");  // U+010A for \\n
  EXPECT_EQ(*ecpo::tok::gpt2_unicode_to_bytes("Ġhello"), " hello");
  EXPECT_EQ(*ecpo::tok::gpt2_unicode_to_bytes("ĠĊ"), " \n");
  EXPECT_FALSE(ecpo::tok::gpt2_unicode_to_bytes("日").has_value());
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    EXPECT_EQ(*ecpo::tok::gpt2_unicode_to_bytes(ecpo::tok::gpt2_bytes_to_unicode(one)), one);
  }
}

TEST(TokenizerHf, MergeOrderAndIgnoreMerges) {
  auto t = ecpo::tok::load_tokenizer(asset("tiny-bpe.json"));
  EXPECT_EQ(t->kind(), "bpe-hf");
  EXPECT_EQ(t->vocab_size(), 267u);
  EXPECT_EQ(t->encode("hello"), (V{262}));
  EXPECT_EQ(t->encode(" the"), (V{259}));
  // " there": Ġ t (rank 0) first, then e r (rank 1) takes the 'e' before h e (rank 2) can: Ġt h er e.
  EXPECT_EQ(t->encode(" there"), (V{256, 104, 257, 101}));
  EXPECT_EQ(t->encode("her"), (V{104, 257}));
  EXPECT_EQ(t->encode(" hi"), (V{263}));                    // whole pre-token in the vocab (ignore_merges)
  EXPECT_EQ(t->encode("é"), (V{0xC3, 0xA9}));               // no merges: one token per byte
  EXPECT_EQ(t->encode("😀"), (V{0xF0, 0x9F, 0x98, 0x80}));
  EXPECT_EQ(t->decode({262, 256, 0xF0, 0x9F, 0x98, 0x80}), "hello t😀");
  EXPECT_EQ(t->id_to_token(256), "Ġt");
  EXPECT_EQ(*t->token_to_id("Ġt"), 256);
}

TEST(TokenizerHf, AddedTokensAndPostProcessor) {
  auto t = ecpo::tok::load_tokenizer(asset("tiny-bpe.json"));
  EXPECT_EQ(t->encode("a<sep>b"), (V{97, 265, 98}));  // non-special added tokens always match
  // Special ones only when allowed; otherwise GPT-2 pre-tokens "x" "<|" "eot" "|>" as bytes.
  EXPECT_EQ(t->encode("x<|eot|>"), (V{120, 60, 124, 101, 111, 116, 124, 62}));
  EXPECT_EQ(t->encode("x<|eot|>", EncodeOptions{false, true}), (V{120, 264}));
  EXPECT_EQ(t->encode("hello", EncodeOptions{true, false}), (V{266, 262}));  // TemplateProcessing "<s> $A"
  EXPECT_EQ(*t->special().bos, 266);
  EXPECT_TRUE(t->is_special(264));
  EXPECT_FALSE(t->is_special(265));
  EXPECT_EQ(t->decode({120, 264}), "x<|eot|>");
  EXPECT_EQ(t->decode({120, 264}, true), "x");
}

TEST(TokenizerHf, ArrayMergesSplitRegexNoIgnoreMerges) {
  ecpo::test::TempDir dir;
  std::filesystem::copy_file(asset("tiny-bpe-array.json"), dir / "tokenizer.json");
  auto t = ecpo::tok::load_tokenizer(dir.path());  // a directory with tokenizer.json
  EXPECT_EQ(t->encode(" hi"), (V{32, 104, 105}));     // ignore_merges false: Ġhi is never built
  EXPECT_EQ(t->encode("hello"), (V{262}));            // h e → he, l l → ll, he ll → hell, hell o → hello
  EXPECT_EQ(t->encode("Hello"), (V{72, 101, 260, 111}));
  EXPECT_EQ(t->encode(" there"), (V{256, 104, 257, 101}));
  std::string s = "Mixed 123 text — with ünïcode\n\n";
  EXPECT_EQ(t->decode(t->encode(s)), s);
}

TEST(TokenizerHf, WordPieceJson) {
  ecpo::test::TempDir dir;
  ecpo::write_file_atomic(dir / "tokenizer.json", R"({
    "added_tokens": [], "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
      "strip_accents": null, "lowercase": true},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
      "max_input_chars_per_word": 100,
      "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 4, "world": 5, "##s": 6, "!": 7}}})");
  auto t = ecpo::tok::load_tokenizer(dir / "tokenizer.json");
  EXPECT_EQ(t->kind(), "wordpiece");
  EXPECT_EQ(t->encode("Héllo Worlds!"), (V{4, 5, 6, 7}));
  EXPECT_EQ(t->encode("hello zzz", EncodeOptions{true, false}), (V{2, 4, 1, 3}));
}

TEST(TokenizerHf, BadFilesGiveLocatedErrors) {
  ecpo::test::TempDir dir;
  ecpo::write_file_atomic(dir / "bad.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1},
    "merges": ["a c"]}, "pre_tokenizer": {"type": "ByteLevel"}})");
  try {
    ecpo::tok::load_tokenizer(dir / "bad.json");
    FAIL() << "expected an error";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.merges[0]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
  ecpo::write_file_atomic(dir / "unigram.json", R"({"model": {"type": "Unigram", "vocab": []}})");
  EXPECT_THROW(ecpo::tok::load_tokenizer(dir / "unigram.json"), ecpo::Error);
  ecpo::write_file_atomic(dir / "spm.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
    "pre_tokenizer": {"type": "Metaspace"}})");
  EXPECT_THROW(ecpo::tok::load_tokenizer(dir / "spm.json"), ecpo::Error);
  ecpo::write_file_atomic(dir / "trunc.json", R"({"model": )");
  EXPECT_THROW(ecpo::tok::load_tokenizer(dir / "trunc.json"), ecpo::Error);
}

// The HF merge-list path on the real Llama-3 vocabulary: derive the merge list from the tiktoken ranks the
// way transformers' TikTokenConverter does (every split of a token into two vocabulary tokens, ordered by
// the merged token's rank, then by the left and right ranks), build a "bpe-hf" tokenizer with
// ignore_merges (as Llama-3's tokenizer.json has), and check it against llama.cpp's 46 cases.
TEST(TokenizerHf, MergeListFromLlama3RanksMatchesTiktoken) {
  ECPO_REQUIRE_SHARED("llama3_tiktoken_tokenizer");
  auto dir = ecpo::test::shared_data() / "llama3_tiktoken_tokenizer";
  auto tik = ecpo::tok::load_tokenizer(dir / "tokenizer.model");
  ecpo::tok::BpeSpec spec;
  const TokenId base = 128000;
  ecpo::tok::StringIdMap rank;
  for (TokenId id = 0; id < base; ++id) {
    spec.id_bytes.push_back(tik->decode_piece(id));
    spec.id_token.push_back(ecpo::tok::gpt2_bytes_to_unicode(spec.id_bytes.back()));
    rank.emplace(spec.id_bytes.back(), id);
  }
  spec.id_special.assign(base, 0);
  spec.id_present.assign(base, 1);
  struct M {
    TokenId merged, left, right;
  };
  std::vector<M> merges;
  for (TokenId id = 0; id < base; ++id) {
    const std::string& t = spec.id_bytes[id];
    for (std::size_t k = 1; k < t.size(); ++k) {
      auto l = rank.find(std::string_view(t).substr(0, k)), r = rank.find(std::string_view(t).substr(k));
      if (l != rank.end() && r != rank.end()) merges.push_back({id, l->second, r->second});
    }
  }
  std::stable_sort(merges.begin(), merges.end(), [](const M& a, const M& b) {
    return std::tie(a.merged, a.left, a.right) < std::tie(b.merged, b.left, b.right);
  });
  for (const auto& m : merges) spec.merges.emplace_back(m.left, m.right);
  spec.ignore_merges = true;
  spec.patterns = {ecpo::tok::kLlama3Pattern};
  ecpo::tok::BpeTokenizer hf(std::move(spec));
  auto cases = ecpo::test::read_vocab_cases(dir / "ggml-vocab-llama-bpe.gguf.inp", dir / "ggml-vocab-llama-bpe.gguf.out");
  ASSERT_EQ(cases.size(), 46u);
  for (const auto& c : cases)
    EXPECT_EQ(ecpo::test::ids_str(hf.encode(c.text)), ecpo::test::ids_str(c.ids)) << "text: [" << c.text << "]";
  for (std::string s : {"Unbelievably long words like antidisestablishmentarianism tokenise", "日本語のテキスト 😀👍🏽"})
    EXPECT_EQ(hf.encode(s), tik->encode(s)) << s;
}

TEST(TokenizerHf, SpecialIdsFromTokenizerConfig) {
  // Llama 3.1 Instruct style: tokenizer_config.json names <|eot_id|> as EOS; <|end_of_text|> still stops.
  auto j = ecpo::read_json_file(asset("tiny-bpe.json"));
  j["added_tokens"].push_back({{"id", 267}, {"content", "<|end_of_text|>"}, {"special", true}});
  j["added_tokens"].push_back({{"id", 268}, {"content", "<|eot_id|>"}, {"special", true}});
  ecpo::test::TempDir dir;
  ecpo::write_json_file(dir / "tokenizer.json", j);
  ecpo::write_json_file(dir / "tokenizer_config.json",
                        {{"eos_token", "<|eot_id|>"}, {"bos_token", {{"content", "<s>"}}}, {"pad_token", nullptr}});
  auto t = ecpo::tok::load_tokenizer(dir.path());
  EXPECT_EQ(*t->special().bos, 266);
  EXPECT_EQ(*t->special().eos, 268);
  EXPECT_EQ(*t->special().eot, 268);
  EXPECT_FALSE(t->special().pad.has_value());
  EXPECT_EQ(t->special().stop, (V{268, 267}));
}
