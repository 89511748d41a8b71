// Vocabulary-only GGUF reader (v2/v3 metadata; tensors ignored) for byte-level BPE vocabularies
// (tokenizer.ggml.model "gpt2": tokens in GPT-2 byte→unicode form plus a merge list), used to check the
// merge-list BPE against llama.cpp's own vocab test files. SentencePiece ("llama") and WordPiece
// ("bert") GGUF vocabularies are refused with a hint. Declared in load.h.
#include <cstring>
#include <fstream>
#include <variant>

#include "tokenizer/bpe.h"
#include "tokenizer/load.h"
#include "tokenizer/regex.h"
#include "util/error.h"

namespace ecpo::tok {

namespace {

// GGUF value types (ggml gguf.h).
enum GgufType : std::uint32_t {
  kU8 = 0, kI8, kU16, kI16, kU32, kI32, kF32, kBool, kString, kArray, kU64, kI64, kF64
};

class GgufReader {
 public:
  GgufReader(std::istream& in, std::uint64_t size, std::string where) : where_(std::move(where)), in_(in), size_(size) {}
  template <typename T>
  T pod() {
    T v;
    if (!in_.read(reinterpret_cast<char*>(&v), sizeof v)) fail("truncated file");
    pos_ += sizeof v;
    return v;
  }
  std::uint64_t left() const { return pos_ <= size_ ? size_ - pos_ : 0; }
  std::string str() {
    auto n = pod<std::uint64_t>();
    if (n > (1u << 24) || n > left()) fail("string of " + std::to_string(n) + " bytes (" + std::to_string(left()) + " left)");
    std::string s(n, '\0');
    if (n && !in_.read(s.data(), static_cast<std::streamsize>(n))) fail("truncated string");
    pos_ += n;
    return s;
  }
  // An array header's element count, capped by the bytes left: each element takes at least min_size.
  std::uint64_t count(std::uint64_t min_size, const std::string& what) {
    auto n = pod<std::uint64_t>();
    if (n > left() / std::max<std::uint64_t>(1, min_size))
      fail(what + " claims " + std::to_string(n) + " elements but only " + std::to_string(left()) + " bytes are left");
    return n;
  }
  // Smallest encoding of one value of `type` (strings: the 8-byte length; arrays: type + count).
  std::uint64_t min_size(std::uint32_t type) {
    static const std::uint64_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8};
    if (type > kF64) fail("unknown value type " + std::to_string(type));
    return sizes[type];
  }
  void skip(std::uint32_t type, int depth = 0) {
    if (depth > 8) fail("arrays nested more than 8 deep");
    if (type == kString) {
      str();
    } else if (type == kArray) {
      auto t = pod<std::uint32_t>();
      auto n = count(min_size(t), "an array");
      if (t != kString && t != kArray) {  // fixed-size elements: one seek
        skip_bytes(n * min_size(t));
      } else {
        for (std::uint64_t i = 0; i < n; ++i) skip(t, depth + 1);
      }
    } else {
      skip_bytes(min_size(type));
    }
  }
  std::int64_t integer(std::uint32_t type) {
    switch (type) {
      case kU8: return pod<std::uint8_t>();
      case kI8: return pod<std::int8_t>();
      case kU16: return pod<std::uint16_t>();
      case kI16: return pod<std::int16_t>();
      case kU32: return pod<std::uint32_t>();
      case kI32: return pod<std::int32_t>();
      case kU64: return static_cast<std::int64_t>(pod<std::uint64_t>());
      case kI64: return pod<std::int64_t>();
      default: fail("expected an integer value");
    }
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error("bad GGUF file: " + what, where_, "is this a llama.cpp vocab-only .gguf?");
  }

 private:
  void skip_bytes(std::uint64_t n) {
    if (n > left()) fail("truncated file");
    in_.seekg(static_cast<std::streamoff>(n), std::ios::cur);
    pos_ += n;
  }
  std::string where_;
  std::istream& in_;
  std::uint64_t size_, pos_ = 0;
};

}  // namespace

std::unique_ptr<Tokenizer> load_gguf_vocab(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot open GGUF file", file.string(), "check the path");
  std::error_code ec;
  auto size = std::filesystem::file_size(file, ec);
  if (ec) throw Error("cannot read the size of the GGUF file: " + ec.message(), file.string());
  return parse_gguf_vocab(in, size, file.string());
}

std::unique_ptr<Tokenizer> parse_gguf_vocab(std::istream& in, std::uint64_t size, const std::string& source) {
  GgufReader r(in, size, source);
  char magic[4];
  for (char& c : magic) c = static_cast<char>(r.pod<std::uint8_t>());
  if (std::memcmp(magic, "GGUF", 4) != 0) r.fail("no GGUF magic");
  auto version = r.pod<std::uint32_t>();
  if (version < 2 || version > 3) r.fail("unsupported version " + std::to_string(version));
  r.pod<std::uint64_t>();  // tensor count
  auto kv = r.count(8 + 8 + 4, "the key-value count");  // key length, an empty key, a type
  std::string model, pre;
  std::vector<std::string> tokens, merges;
  std::vector<std::int64_t> types;
  std::optional<std::int64_t> bos, eos;
  for (std::uint64_t i = 0; i < kv; ++i) {
    std::string key = r.str();
    auto type = r.pod<std::uint32_t>();
    auto read_strings = [&](std::vector<std::string>& out) {
      if (type != kArray || r.pod<std::uint32_t>() != kString) r.fail(key + " is not a string array");
      auto n = r.count(8, key);
      out.reserve(n);
      for (std::uint64_t k = 0; k < n; ++k) out.push_back(r.str());
    };
    if (key == "tokenizer.ggml.model" && type == kString) model = r.str();
    else if (key == "tokenizer.ggml.pre" && type == kString) pre = r.str();
    else if (key == "tokenizer.ggml.tokens") read_strings(tokens);
    else if (key == "tokenizer.ggml.merges") read_strings(merges);
    else if (key == "tokenizer.ggml.token_type" && type == kArray) {
      auto t = r.pod<std::uint32_t>();
      auto n = r.count(r.min_size(t), key);
      types.reserve(n);
      for (std::uint64_t k = 0; k < n; ++k) types.push_back(r.integer(t));
    } else if (key == "tokenizer.ggml.bos_token_id") bos = r.integer(type);
    else if (key == "tokenizer.ggml.eos_token_id") eos = r.integer(type);
    else r.skip(type);
  }
  if (model != "gpt2")
    r.fail("tokenizer.ggml.model is '" + model + "'; only byte-level BPE ('gpt2') GGUF vocabularies are supported");
  if (tokens.empty()) r.fail("no tokenizer.ggml.tokens");
  if (tokens.size() > (1u << 24)) r.fail("more than 2^24 tokens");

  BpeSpec spec;
  spec.kind = "bpe-hf";
  spec.ignore_merges = pre == "llama-bpe" || pre == "llama3";
  if (pre.empty() || pre == "gpt-2" || pre == "default") spec.patterns = {kGpt2Pattern};
  else if (pre == "llama-bpe" || pre == "llama3") spec.patterns = {kLlama3Pattern};
  else if (pre == "qwen2") spec.patterns = {kQwen2Pattern};
  else r.fail("unsupported tokenizer.ggml.pre '" + pre + "'");
  const std::size_t n = tokens.size();
  spec.id_bytes.resize(n);
  spec.id_token = tokens;
  spec.id_special.assign(n, 0);
  spec.id_present.assign(n, 1);
  StringIdMap ids;
  for (std::size_t id = 0; id < n; ++id) {
    std::int64_t type = id < types.size() ? types[id] : 1;
    if (type == 3 || type == 4) {  // control / user-defined: matched as added tokens, text as written
      spec.id_bytes[id] = tokens[id];
      spec.id_special[id] = type == 3;
      spec.added.push_back({tokens[id], static_cast<TokenId>(id), type == 3});
    } else {
      auto b = gpt2_unicode_to_bytes(tokens[id]);
      spec.id_bytes[id] = b ? *b : tokens[id];
    }
    ids.emplace(tokens[id], static_cast<TokenId>(id));
  }
  for (std::size_t k = 0; k < merges.size(); ++k) {
    auto sp = merges[k].find(' ', 1);
    auto a = sp == std::string::npos ? ids.end() : ids.find(std::string_view(merges[k]).substr(0, sp));
    auto b = sp == std::string::npos ? ids.end() : ids.find(std::string_view(merges[k]).substr(sp + 1));
    if (a == ids.end() || b == ids.end()) r.fail("merge #" + std::to_string(k) + " '" + merges[k] + "' names unknown tokens");
    spec.merges.emplace_back(a->second, b->second);
  }
  if (bos && *bos >= 0 && static_cast<std::size_t>(*bos) < n) spec.special.bos = static_cast<TokenId>(*bos);
  if (eos && *eos >= 0 && static_cast<std::size_t>(*eos) < n) {
    spec.special.eos = static_cast<TokenId>(*eos);
    spec.special.stop = {spec.special.eos.value()};
  }
  try {
    return std::make_unique<BpeTokenizer>(std::move(spec));
  } catch (const Error& e) {
    throw Error(e.message(), source, e.hint());
  }
}

}  // namespace ecpo::tok
