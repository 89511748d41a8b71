// GPT-2 byte-level BPE with an explicit 50,000-merge list, read from llama.cpp's vocab-only GGUF, against
// llama.cpp's 46 gpt-2 vocab cases (shared data); SentencePiece GGUFs are refused with a clear error.
#include "tokenizer/bpe.h"
#include "tokenizer/load.h"
#include "tokenizer/tokenizer.h"
#include "test-support.h"
#include "tokenizer/tokenizer-support.h"
#include "util/error.h"

using ecpo::tok::TokenId;

TEST(TokenizerGguf, Gpt2LlamaCppVocabCases) {
  ECPO_REQUIRE_SHARED("llamacpp_vocab_tests_spm_gpt2");
  auto dir = ecpo::test::shared_data() / "llamacpp_vocab_tests_spm_gpt2";
  auto tok = ecpo::tok::load_tokenizer(dir / "ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(tok->vocab_size(), 50257u);
  EXPECT_EQ(*tok->special().eos, 50256);
  EXPECT_EQ(*tok->token_to_id("<|endoftext|>"), 50256);
  auto cases = ecpo::test::read_vocab_cases(dir / "ggml-vocab-gpt-2.gguf.inp", dir / "ggml-vocab-gpt-2.gguf.out");
  ASSERT_EQ(cases.size(), 46u);
  for (const auto& c : cases) {
    auto ids = tok->encode(c.text);
    EXPECT_EQ(ecpo::test::ids_str(ids), ecpo::test::ids_str(c.ids)) << "text: [" << c.text << "]";
    EXPECT_EQ(tok->decode(ids), c.text);
  }
  // The heap merge and the O(n²) reference loop agree on the merge-list path too.
  const auto& bpe = dynamic_cast<const ecpo::tok::BpeTokenizer&>(*tok);
  for (std::string w : {"Ġunbelievably", "Ġtokenization", "ĠHello", "supercalifragilistic", "ĠðŁĺĢ"}) {
    std::string bytes = *ecpo::tok::gpt2_unicode_to_bytes(w);
    std::vector<TokenId> fast, slow;
    bpe.encode_word(bytes, fast);
    bpe.encode_word_reference(bytes, slow);
    EXPECT_EQ(fast, slow) << w;
  }
}

TEST(TokenizerGguf, SentencePieceIsRefused) {
  ECPO_REQUIRE_SHARED("llamacpp_vocab_tests_spm_gpt2");
  try {
    ecpo::tok::load_tokenizer(ecpo::test::shared_data() / "llamacpp_vocab_tests_spm_gpt2" / "ggml-vocab-llama-spm.gguf");
    FAIL() << "expected an error";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'llama'"), std::string::npos) << e.what();
  }
}
