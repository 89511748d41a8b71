// Tokenizer readers on slightly wrong and hostile input (issue #13): every case ends in an ecpo::Error that
// names the file, the key path (JSON) or line (text files) and a hint — never a crash, an out-of-range index,
// a huge allocation or a hang. The cases the issue reported (a vocab id of -1, an added token id of -5) and
// every crash the fuzzers found (fuzz/README.md) are pinned here.
#include <sstream>

#include "test-support.h"
#include "tokenizer/load.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/fs.h"

namespace {

using ecpo::tok::parse_hf_tokenizer_json;

// The message of the ecpo::Error `f` throws ("" when it does not throw; other exceptions fail the test).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ecpo::Error& e) {
    return e.what();
  }
  return "";
}

std::string hf_error(const std::string& text) {
  return error_of([&] { parse_hf_tokenizer_json(text, "tok.json"); });
}

// A valid byte-level BPE tokenizer.json around a vocabulary / added_tokens / post_processor fragment.
std::string bpe_json(const std::string& vocab, const std::string& added = "[]", const std::string& extra = "") {
  return R"({"model": {"type": "BPE", "vocab": )" + vocab + R"(, "merges": []}, "added_tokens": )" + added +
         R"(, "pre_tokenizer": {"type": "ByteLevel"})" + extra + "}";
}

std::string gguf_header(std::uint64_t kv_count) {
  std::string s = "GGUF";
  auto put = [&](auto v) { s.append(reinterpret_cast<const char*>(&v), sizeof v); };
  put(std::uint32_t{3});
  put(std::uint64_t{0});  // tensors
  put(kv_count);
  return s;
}

template <typename T>
void put(std::string& s, T v) {
  s.append(reinterpret_cast<const char*>(&v), sizeof v);
}

void put_str(std::string& s, const std::string& x) {
  put(s, static_cast<std::uint64_t>(x.size()));
  s += x;
}

std::string gguf_error(const std::string& bytes) {
  std::istringstream in(bytes);
  return error_of([&] { ecpo::tok::parse_gguf_vocab(in, bytes.size(), "v.gguf"); });
}

}  // namespace

// The two reports of the issue: both crashed (segfault; "cannot create std::vector larger than max_size()").
TEST(TokenizerBadInput, NegativeIdsAreLocatedErrors) {
  EXPECT_EQ(hf_error(bpe_json(R"({"a": 0, "hello": -1})")),
            "tok.json: model.vocab.hello: -1 is out of range [0, 65538] (hint: compare with a tokenizer.json "
            "written by Hugging Face tokenizers)");
  std::string e = hf_error(bpe_json(R"({"a": 0})", R"([{"id": -5, "content": "<x>"}])"));
  EXPECT_NE(e.find("tok.json: added_tokens[0].id: -5 is out of range"), std::string::npos) << e;
  // WordPiece tokenizer.json had the same pattern.
  e = hf_error(R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "x": -1}}})");
  EXPECT_NE(e.find("model.vocab.x: -1 is out of range"), std::string::npos) << e;
}

TEST(TokenizerBadInput, IdsTypesAndHolesAreChecked) {
  // An id far beyond the entry count would size the tables by it (2^24 entries × 4 tables from 40 bytes).
  std::string e = hf_error(bpe_json(R"({"a": 16000000})"));
  EXPECT_NE(e.find("model.vocab.a: 16000000 is out of range [0, 65537]"), std::string::npos) << e;
  e = hf_error(bpe_json(R"({"a": "0"})"));
  EXPECT_NE(e.find("model.vocab.a: expected an integer, got a string"), std::string::npos) << e;
  e = hf_error(bpe_json(R"({"a": 1.5})"));
  EXPECT_NE(e.find("model.vocab.a: expected an integer, got a number"), std::string::npos) << e;
  e = hf_error(bpe_json(R"({"a": 0, "b": 0})"));
  EXPECT_NE(e.find("model.vocab.b: id 0 is already taken by 'a'"), std::string::npos) << e;
  // Keys that are not identifiers are quoted in the path.
  e = hf_error(bpe_json(R"({"Ġthe x": -2})"));
  EXPECT_NE(e.find(R"(model.vocab["Ġthe x"]: -2)"), std::string::npos) << e;
  e = hf_error(bpe_json(R"({"a": 0})", R"([{"id": 0}])"));
  EXPECT_NE(e.find("added_tokens[0].content: missing"), std::string::npos) << e;
  e = hf_error(bpe_json(R"({"a": 0})", R"({"id": 0})"));
  EXPECT_NE(e.find("added_tokens: expected an array, got an object"), std::string::npos) << e;
  e = hf_error(bpe_json(R"({"a": 0})", "[]", R"(, "post_processor": {"type": "BertProcessing", "cls": ["a", 7], "sep": ["a", 0]})"));
  EXPECT_NE(e.find("post_processor.cls[1]: token id 7 is not in the vocabulary"), std::string::npos) << e;
  e = hf_error(bpe_json(R"({"a": 0})", "[]", R"(, "post_processor": {"type": "BertProcessing", "cls": ["a"]})"));
  EXPECT_NE(e.find("post_processor.cls: expected at least 2 elements, got 1"), std::string::npos) << e;
  e = hf_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a"]]}, "decoder": {"type": "ByteLevel"}})");
  EXPECT_NE(e.find("model.merges[0]: a merge is neither"), std::string::npos) << e;
  e = hf_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "ignore_merges": "yes"}})");
  EXPECT_NE(e.find("model.ignore_merges: expected true or false, got a string"), std::string::npos) << e;
  // Syntax errors name line and column.
  e = hf_error("{\n  \"model\": {,}\n}");
  EXPECT_EQ(e.rfind("tok.json:2:", 0), 0u) << e;
  // Nested Sequences are bounded (they recurse).
  std::string deep = R"({"type": "ByteLevel"})";
  for (int i = 0; i < 40; ++i) deep = R"({"type": "Sequence", "pretokenizers": [)" + deep + "]}";
  e = hf_error(R"({"model": {"type": "BPE", "vocab": {"a": 0}}, "pre_tokenizer": )" + deep + "}");
  EXPECT_NE(e.find("nested too deeply"), std::string::npos) << e;
}

// The CLI run the issue describes: exit code 1 and one located line instead of a segfault (139).
TEST(TokenizerBadInput, CliReportsTheNegativeIdInOneLine) {
  ecpo::test::TempDir dir;
  ecpo::write_file_atomic(dir / "tokenizer.json", bpe_json(R"({"h": 0, "hello": -1})"));
  auto r = ecpo::test::run_ecpo("tokenize --tokenizer " + (dir / "tokenizer.json").string() + " --text hello");
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("tokenizer.json: model.vocab.hello: -1 is out of range"), std::string::npos) << r.out;
}

TEST(TokenizerBadInput, TiktokenRanksAreBoundedByTheFile) {
  auto err = [](const std::string& text) {
    std::istringstream in(text);
    return error_of([&] { ecpo::tok::parse_tiktoken(in, "ranks"); });
  };
  // One line claiming rank 9,999,999 used to allocate ten million entries per table.
  std::string e = err("QQ== 9999999\n");
  EXPECT_NE(e.find("rank 9999999 leaves more than 65536 unused ranks"), std::string::npos) << e;
  e = err("QQ== 0\nQg== 0\n");
  EXPECT_NE(e.find("ranks:2: duplicate rank 0"), std::string::npos) << e;
  e = err("QQ== 0\nQQ== 1\n");
  EXPECT_NE(e.find("ranks:2: duplicate token bytes"), std::string::npos) << e;
  for (const char* bad : {"QQ== -1\n", "QQ== 1x\n", "QQ==\n", "Q== 1\n", "QQ== 99999999999999999999\n"}) {
    e = err(bad);
    EXPECT_NE(e.find("ranks:1: malformed tiktoken line"), std::string::npos) << bad << " → " << e;
  }
  // Valid lines but not all 256 bytes: refused by the tokenizer, located at the file.
  e = err("QQ== 0\n");
  EXPECT_EQ(e.rfind("ranks: rank file lacks the single-byte token", 0), 0u) << e;
}

TEST(TokenizerBadInput, WordPieceVocabAndConfig) {
  auto err = [](const std::string& text, const nlohmann::json& cfg) {
    std::istringstream in(text);
    return error_of([&] { ecpo::tok::parse_wordpiece_vocab(in, "vocab.txt", cfg); });
  };
  EXPECT_NE(err("", nullptr).find("empty WordPiece vocab"), std::string::npos);
  EXPECT_NE(err("a\nb\n", nullptr).find("no unknown token '[UNK]'"), std::string::npos);
  std::string e = err("[UNK]\na\n", nlohmann::json{{"do_lower_case", "no"}});
  EXPECT_NE(e.find("vocab.txt (tokenizer_config.json): do_lower_case: expected true or false, got a string"),
            std::string::npos)
      << e;
  EXPECT_EQ(err("[UNK]\na\n", nlohmann::json{{"strip_accents", nullptr}}), "");
}

TEST(TokenizerBadInput, GgufCountsAreCappedByTheFileSize) {
  // A key-value count of 2^60 used to loop reading "keys" from a 24-byte file.
  std::string e = gguf_error(gguf_header(1ull << 60));
  EXPECT_NE(e.find("the key-value count claims 1152921504606846976 elements but only 0 bytes are left"),
            std::string::npos)
      << e;
  // An array whose count exceeds what the rest of the file can hold: refused before reserve().
  std::string s = gguf_header(1);
  put_str(s, "tokenizer.ggml.tokens");
  put(s, std::uint32_t{9});          // array
  put(s, std::uint32_t{8});          // of strings
  put(s, std::uint64_t{1ull << 40});  // 2^40 of them
  e = gguf_error(s);
  EXPECT_NE(e.find("tokenizer.ggml.tokens claims 1099511627776 elements"), std::string::npos) << e;
  // The same for an array that is skipped, and for nested arrays.
  s = gguf_header(1);
  put_str(s, "general.junk");
  put(s, std::uint32_t{9});
  put(s, std::uint32_t{9});  // array of arrays
  put(s, std::uint64_t{1} << 50);
  e = gguf_error(s);
  EXPECT_NE(e.find("an array claims 1125899906842624 elements"), std::string::npos) << e;
  // A string longer than the file.
  s = gguf_header(1);
  put(s, std::uint64_t{1000});
  s += std::string(20, 'k');
  e = gguf_error(s);
  EXPECT_NE(e.find("string of 1000 bytes (20 left)"), std::string::npos) << e;
  e = gguf_error("GGU");
  EXPECT_NE(e.find("v.gguf: bad GGUF file: truncated file"), std::string::npos) << e;
}
