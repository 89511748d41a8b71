// Llama-3 tiktoken BPE against llama.cpp's 46 vocab cases and Meta's test vectors (shared data), plus
// round-trip, streaming and merge-algorithm invariants.
#include <atomic>
#include <random>

#include "tokenizer/bpe.h"
#include "tokenizer/load.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"
#include "test-support.h"
#include "tokenizer/tokenizer-support.h"
#include "util/jsonl.h"
#include "util/text.h"
#include "util/thread-pool.h"
#include "util/error.h"

using ecpo::tok::EncodeOptions;
using ecpo::tok::TokenId;
using ecpo::tok::Tokenizer;

namespace {

const Tokenizer& llama3() {
  static std::unique_ptr<Tokenizer> tok =
      ecpo::tok::load_tokenizer(ecpo::test::shared_data() / "llama3_tiktoken_tokenizer" / "tokenizer.model");
  return *tok;
}

#define REQUIRE_LLAMA3() ECPO_REQUIRE_SHARED("llama3_tiktoken_tokenizer")

// Random valid UTF-8: ASCII, Latin, Cyrillic, CJK, emoji, whitespace and punctuation mixed.
std::string random_utf8(std::mt19937& rng, int chars) {
  static const std::uint32_t ranges[][2] = {{0x20, 0x7E}, {0x09, 0x0D}, {0xC0, 0x17F}, {0x400, 0x4FF},
                                            {0x4E00, 0x9FFF}, {0x1F600, 0x1F64F}, {0x2000, 0x206F}, {0x30, 0x39}};
  std::string s;
  for (int i = 0; i < chars; ++i) {
    const auto& r = ranges[rng() % 8];
    std::uint32_t cp = r[0] + rng() % (r[1] - r[0] + 1);
    if (cp < 0x80) s += static_cast<char>(cp);
    else if (cp < 0x800) s += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    else if (cp < 0x10000)
      s += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
            static_cast<char>(0x80 | (cp & 0x3F))};
    else
      s += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
            static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
  }
  return s;
}

}  // namespace

TEST(TokenizerLlama3, SpecialTokensFollowMetaList) {
  REQUIRE_LLAMA3();
  const auto& t = llama3();
  EXPECT_EQ(t.kind(), "bpe-tiktoken");
  EXPECT_EQ(t.vocab_size(), 128256u);
  EXPECT_EQ(*t.token_to_id("<|begin_of_text|>"), 128000);
  EXPECT_EQ(*t.token_to_id("<|end_of_text|>"), 128001);
  EXPECT_EQ(*t.token_to_id("<|reserved_special_token_0|>"), 128002);
  EXPECT_EQ(*t.token_to_id("<|finetune_right_pad_id|>"), 128004);
  EXPECT_EQ(*t.token_to_id("<|start_header_id|>"), 128006);
  EXPECT_EQ(*t.token_to_id("<|end_header_id|>"), 128007);
  EXPECT_EQ(*t.token_to_id("<|eom_id|>"), 128008);
  EXPECT_EQ(*t.token_to_id("<|eot_id|>"), 128009);
  EXPECT_EQ(*t.token_to_id("<|python_tag|>"), 128010);
  EXPECT_EQ(*t.token_to_id("<|image|>"), 128011);
  EXPECT_EQ(*t.token_to_id("<|reserved_special_token_2|>"), 128012);
  EXPECT_EQ(*t.token_to_id("<|reserved_special_token_245|>"), 128255);
  EXPECT_EQ(t.id_to_token(128255), "<|reserved_special_token_245|>");
  EXPECT_EQ(*t.special().bos, 128000);
  EXPECT_EQ(*t.special().eos, 128001);
  EXPECT_EQ(*t.special().eot, 128009);
  EXPECT_EQ(t.special().stop, (std::vector<TokenId>{128001, 128008, 128009}));
  EXPECT_TRUE(t.is_special(128009));
  EXPECT_FALSE(t.is_special(271));
  EXPECT_THROW(t.decode({128256}), ecpo::Error);
  EXPECT_THROW(t.decode({-1}), ecpo::Error);
}

TEST(TokenizerLlama3, LlamaCppVocabCases) {
  REQUIRE_LLAMA3();
  auto dir = ecpo::test::shared_data() / "llama3_tiktoken_tokenizer";
  auto cases = ecpo::test::read_vocab_cases(dir / "ggml-vocab-llama-bpe.gguf.inp", dir / "ggml-vocab-llama-bpe.gguf.out");
  ASSERT_EQ(cases.size(), 46u);
  for (const auto& c : cases) {
    auto ids = llama3().encode(c.text);
    EXPECT_EQ(ecpo::test::ids_str(ids), ecpo::test::ids_str(c.ids)) << "text: [" << c.text << "]";
    EXPECT_EQ(llama3().decode(ids), c.text);
  }
}

TEST(TokenizerLlama3, TrainingReferenceGoldens) {
  REQUIRE_LLAMA3();
  const auto& t = llama3();
  using V = std::vector<TokenId>;
  EXPECT_EQ(t.encode("Hello world"), (V{9906, 1917}));
  EXPECT_EQ(t.encode(" Hello world"), (V{22691, 1917}));
  EXPECT_EQ(t.encode("\n\n"), (V{271}));
  EXPECT_EQ(t.encode("333"), (V{8765}));
  EXPECT_EQ(t.encode("3333"), (V{8765, 18}));
  EXPECT_EQ(t.encode("system"), (V{9125}));
  EXPECT_EQ(t.encode("user"), (V{882}));
  EXPECT_EQ(t.encode("assistant"), (V{78191}));
  EXPECT_EQ(t.encode("This is a test sentence."), (V{2028, 374, 264, 1296, 11914, 13}));
  EXPECT_EQ(t.encode("This is a test sentence.", EncodeOptions{true, false}),
            (V{128000, 2028, 374, 264, 1296, 11914, 13}));
}

TEST(TokenizerLlama3, MetaTestVectors) {
  REQUIRE_LLAMA3();
  const auto& t = llama3();
  auto j = ecpo::read_json_file(ecpo::test::shared_data() / "llama3_tiktoken_tokenizer" / "test_vectors_llama3.json");
  for (const auto& [name, id] : j["special_tokens"].items()) EXPECT_EQ(*t.token_to_id(name), id.get<TokenId>());
  int checked = 0;
  for (const auto& c : j["cases"]) {
    if (c.contains("text") && c.contains("ids") && !c.contains("decode_ids")) {  // test_encode: bos + eos
      auto ids = t.encode(c["text"].get<std::string>(), EncodeOptions{c.value("bos", false), false});
      if (c.value("eos", false)) ids.push_back(*t.special().eos);
      EXPECT_EQ(ids, c["ids"].get<std::vector<TokenId>>());
      ++checked;
    } else if (c.contains("decode_ids")) {
      EXPECT_EQ(t.decode(c["decode_ids"].get<std::vector<TokenId>>()), c["text"].get<std::string>());
      EXPECT_EQ(t.decode(c["decode_ids"].get<std::vector<TokenId>>(), true), "This is a test sentence.");
      ++checked;
    } else if (c.contains("text_with_specials")) {
      auto ids = t.encode(c["text_with_specials"].get<std::string>(), EncodeOptions{c.value("bos", false), true});
      EXPECT_EQ(ids, c["ids"].get<std::vector<TokenId>>());
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3);  // the two chat vectors are checked in tokenizer-chat-test.cpp
}

TEST(TokenizerLlama3, SpecialTextIsOrdinaryUnlessParsed) {
  REQUIRE_LLAMA3();
  const auto& t = llama3();
  auto plain = t.encode("a<|eot_id|>b");
  for (auto id : plain) EXPECT_LT(id, 128000);
  EXPECT_EQ(t.decode(plain), "a<|eot_id|>b");
  auto parsed = t.encode("a<|eot_id|>b", EncodeOptions{false, true});
  EXPECT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[1], 128009);
  EXPECT_EQ(t.decode(parsed), "a<|eot_id|>b");
}

TEST(TokenizerLlama3, RoundTripArbitraryUtf8) {
  REQUIRE_LLAMA3();
  const auto& t = llama3();
  std::mt19937 rng(7);
  for (int i = 0; i < 300; ++i) {
    std::string s = random_utf8(rng, 1 + static_cast<int>(rng() % 60));
    ASSERT_EQ(t.decode(t.encode(s)), s) << s;
  }
  for (std::string s : {"😀👍🏽 🇫🇷", "日本語のテキスト、漢字。", "Ünïcödé — “quotes” …", "\t\r\n  \u00a0\u3000x",
                        "tabs\tand\nnewlines\r\n\r\n", "ied 4 ½ months"})
    EXPECT_EQ(t.decode(t.encode(s)), s);
  // Invalid UTF-8 survives too: each bad byte becomes its single-byte token.
  std::string bad = "ok\xff\xfe bytes \xc3";
  EXPECT_EQ(t.decode(t.encode(bad)), bad);
}

TEST(TokenizerLlama3, LongRunsAreSplitLikeMeta) {
  REQUIRE_LLAMA3();
  const auto& t = llama3();
  std::string spaces(30000, ' ');
  std::string text = "a" + spaces + "b" + std::string(26000, 'x');
  auto ids = t.encode(text);
  EXPECT_EQ(t.decode(ids), text);
}

TEST(TokenizerLlama3, HeapMergeMatchesReferenceLoop) {
  REQUIRE_LLAMA3();
  const auto& t = dynamic_cast<const ecpo::tok::BpeTokenizer&>(llama3());
  std::mt19937 rng(11);
  for (int i = 0; i < 500; ++i) {
    std::string w = random_utf8(rng, 1 + static_cast<int>(rng() % 12));
    std::vector<TokenId> fast, slow;
    t.encode_word(w, fast);
    t.encode_word_reference(w, slow);
    ASSERT_EQ(fast, slow) << w;
  }
}

TEST(TokenizerLlama3, StreamingDecodeAssemblesUtf8) {
  REQUIRE_LLAMA3();
  const auto& t = llama3();
  std::string text = "Emoji 😀 and 日本 and ½.";
  auto ids = t.encode(text);
  ecpo::tok::Utf8StreamDecoder dec;
  std::string streamed;
  for (auto id : ids) {
    std::string part = dec.push(t.decode_piece(id));
    EXPECT_TRUE(ecpo::utf8_valid(part));
    streamed += part;
  }
  streamed += dec.flush();
  EXPECT_EQ(streamed, text);
}

TEST(TokenizerLlama3, LoadErrorsAreClear) {
  ecpo::test::TempDir dir;
  ecpo::write_file_atomic(dir / "tokenizer.model", "IQ== 0\nnot-base64! 1\n");
  try {
    ecpo::tok::load_tiktoken(dir / "tokenizer.model");
    FAIL() << "expected an error";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.model:2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ecpo::tok::load_tokenizer(dir / "missing"), ecpo::Error);
  EXPECT_THROW(ecpo::tok::load_tokenizer(dir.path()), ecpo::Error);  // tokenizer.model is broken
}

TEST(TokenizerLlama3, PreTokenizerPatterns) {
  using ecpo::tok::RegexSplitter;
  auto pieces = [](const char* pattern, std::string_view text) {
    RegexSplitter s(pattern);
    std::vector<std::string_view> out;
    s.split(text, out);
    return std::vector<std::string>(out.begin(), out.end());
  };
  using S = std::vector<std::string>;
  EXPECT_EQ(pieces(ecpo::tok::kLlama3Pattern, "I'LL pay 12345!\n\n  ok"),
            (S{"I", "'LL", " pay", " ", "123", "45", "!\n\n", " ", " ok"}));
  EXPECT_EQ(pieces(ecpo::tok::kQwen2Pattern, "12345"), (S{"1", "2", "3", "4", "5"}));
  EXPECT_EQ(pieces(ecpo::tok::kGpt2Pattern, "I'LL pay 12345!"), (S{"I", "'", "LL", " pay", " 12345", "!"}));
  EXPECT_THROW(RegexSplitter("(unclosed"), ecpo::Error);
}

TEST(TokenizerLlama3, ConcurrentEncodeIsConsistent) {
  REQUIRE_LLAMA3();
  const auto& t = llama3();
  std::mt19937 rng(3);
  std::vector<std::string> docs;
  for (int i = 0; i < 64; ++i) docs.push_back(random_utf8(rng, 200));
  std::vector<std::vector<TokenId>> expected;
  for (const auto& d : docs) expected.push_back(t.encode(d));
  ecpo::ThreadPool pool(4);
  std::atomic<int> bad{0};
  pool.parallel_for(docs.size() * 8, [&](std::size_t i) {
    if (t.encode(docs[i % docs.size()]) != expected[i % docs.size()]) ++bad;
  });
  EXPECT_EQ(bad.load(), 0);
}
