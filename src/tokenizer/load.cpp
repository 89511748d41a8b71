// load_tokenizer dispatch, the tiktoken rank-file reader, the BERT vocab.txt reader and the GPT-2 byte
// mapping (see load.h). tokenizer.json is read in hf.cpp.
#include "tokenizer/load.h"

#include <algorithm>
#include <fstream>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "tokenizer/bpe.h"
#include "tokenizer/wordpiece.h"
#include "tokenizer/regex.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/json-read.h"
#include "util/jsonl.h"

namespace ecpo::tok {

namespace fs = std::filesystem;

std::vector<std::string> llama3_special_tokens() {
  std::vector<std::string> t = {"<|begin_of_text|>",   "<|end_of_text|>",         "<|reserved_special_token_0|>",
                                "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>", "<|step_id|>",
                                "<|start_header_id|>", "<|end_header_id|>",       "<|eom_id|>",
                                "<|eot_id|>",          "<|python_tag|>",          "<|image|>"};
  const std::size_t named = t.size();
  for (std::size_t i = 0; i < 256 - named; ++i) t.push_back("<|reserved_special_token_" + std::to_string(2 + i) + "|>");
  return t;
}

std::string base64_decode(std::string_view in, bool& ok) {
  static const auto table = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(a[i])] = i;
    return t;
  }();
  ok = false;
  std::string out;
  if (in.size() % 4 != 0) return out;
  for (std::size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return out;  // data after padding
      v[k] = table[static_cast<unsigned char>(c)];
      if (v[k] < 0) return out;
    }
    std::uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(n & 0xFF);
  }
  ok = true;
  return out;
}

const std::array<std::uint32_t, 256>& gpt2_byte_to_unicode() {
  static const auto map = [] {
    std::array<std::uint32_t, 256> m{};
    std::uint32_t n = 0;
    for (std::uint32_t b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      m[b] = printable ? b : 256 + n++;
    }
    return m;
  }();
  return map;
}

std::string gpt2_bytes_to_unicode(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    std::uint32_t cp = gpt2_byte_to_unicode()[static_cast<unsigned char>(c)];
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {  // all mapped code points are < 0x800: two UTF-8 bytes
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

std::optional<std::string> gpt2_unicode_to_bytes(std::string_view token) {
  static const auto inverse = [] {
    std::array<int, 512> inv{};
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) inv[gpt2_byte_to_unicode()[b]] = b;
    return inv;
  }();
  std::string out;
  std::size_t i = 0;
  while (i < token.size()) {
    auto b = static_cast<unsigned char>(token[i]);
    std::uint32_t cp;
    if (b < 0x80) {
      cp = b;
      i += 1;
    } else if ((b >> 5) == 6 && i + 1 < token.size()) {
      cp = ((b & 0x1F) << 6) | (static_cast<unsigned char>(token[i + 1]) & 0x3F);
      i += 2;
    } else {
      return std::nullopt;
    }
    if (cp >= inverse.size() || inverse[cp] < 0) return std::nullopt;
    out += static_cast<char>(inverse[cp]);
  }
  return out;
}

std::unique_ptr<Tokenizer> parse_tiktoken(std::istream& in, const std::string& source) {
  // Ranks may come in any order and leave holes, but the table is sized by the largest rank: it may exceed
  // the number of lines by at most kMaxHoles (checked before anything is allocated).
  constexpr std::size_t kMaxHoles = 1 << 16;
  BpeSpec spec;
  spec.kind = "bpe-tiktoken";
  spec.ignore_merges = true;
  spec.meta_chunking = true;
  spec.patterns = {kLlama3Pattern};
  std::string line;
  std::uint64_t lineno = 0;
  std::vector<std::pair<std::size_t, std::string>> entries;  // rank, bytes
  std::vector<std::uint64_t> entry_line;
  std::unordered_set<std::string> seen;
  std::size_t max_rank = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto sp = line.find(' ');
    bool ok = false;
    std::string bytes;
    long long rank = -1;
    if (sp != std::string::npos) {
      bytes = base64_decode(std::string_view(line).substr(0, sp), ok);
      const std::string digits = line.substr(sp + 1);
      if (!digits.empty() && digits.size() <= 9 && digits.find_first_not_of("0123456789") == std::string::npos)
        rank = std::stoll(digits);
    }
    if (!ok || rank < 0 || rank > 10'000'000 || bytes.empty())
      throw Error("malformed tiktoken line (expected 'base64 rank')", error_location(source, lineno),
                  lineno == 1 ? "a binary tokenizer.model is SentencePiece (Llama 2), which is not supported"
                              : "each line is the base64 of a token's bytes, a space and its rank");
    if (!seen.insert(bytes).second) throw Error("duplicate token bytes in rank file", error_location(source, lineno));
    max_rank = std::max(max_rank, static_cast<std::size_t>(rank));
    entries.emplace_back(static_cast<std::size_t>(rank), std::move(bytes));
    entry_line.push_back(lineno);
  }
  if (entries.empty()) throw Error("empty tiktoken rank file", error_location(source));
  const std::size_t base = entries.size();
  if (max_rank >= base + kMaxHoles)
    throw Error("rank " + std::to_string(max_rank) + " leaves more than " + std::to_string(kMaxHoles) +
                    " unused ranks below it (the file has " + std::to_string(base) + " tokens)",
                error_location(source), "ranks number the tokens 0, 1, 2, ... in order");
  spec.id_bytes.assign(max_rank + 1, "");
  spec.id_present.assign(max_rank + 1, 0);
  for (std::size_t k = 0; k < entries.size(); ++k) {
    auto& [r, bytes] = entries[k];
    if (spec.id_present[r]) throw Error("duplicate rank " + std::to_string(r), error_location(source, entry_line[k]));
    spec.id_bytes[r] = std::move(bytes);
    spec.id_present[r] = 1;
  }
  spec.id_token = spec.id_bytes;
  spec.id_special.assign(spec.id_bytes.size(), 0);
  // Llama-3: the 256 special tokens follow the base ranks (ids base .. base+255).
  if (base == 128000 && spec.id_bytes.size() == base) {
    auto names = llama3_special_tokens();
    for (std::size_t i = 0; i < names.size(); ++i) {
      auto id = static_cast<TokenId>(base + i);
      spec.id_bytes.push_back(names[i]);
      spec.id_token.push_back(names[i]);
      spec.id_special.push_back(1);
      spec.id_present.push_back(1);
      spec.added.push_back({names[i], id, true});
    }
    auto id_of = [&](const std::string& n) {
      for (std::size_t i = 0; i < names.size(); ++i)
        if (names[i] == n) return static_cast<TokenId>(base + i);
      return TokenId(-1);
    };
    spec.special.bos = id_of("<|begin_of_text|>");
    spec.special.eos = id_of("<|end_of_text|>");
    spec.special.eot = id_of("<|eot_id|>");
    spec.special.pad = id_of("<|finetune_right_pad_id|>");
    spec.special.stop = {id_of("<|end_of_text|>"), id_of("<|eom_id|>"), id_of("<|eot_id|>")};
    spec.prefix_ids = {*spec.special.bos};
  }
  try {
    return std::make_unique<BpeTokenizer>(std::move(spec));
  } catch (const Error& e) {
    throw Error(e.message(), error_location(source), e.hint());
  }
}

std::unique_ptr<Tokenizer> load_tiktoken(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot open tiktoken rank file", error_location(file.string()), "check the path");
  return parse_tiktoken(in, file.string());
}

std::unique_ptr<Tokenizer> parse_wordpiece_vocab(std::istream& in, const std::string& source, const json& config) {
  WordPieceSpec spec;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    spec.vocab.push_back(line);  // id = line number − 1 (an empty line still takes an id)
    if (spec.vocab.size() > (1u << 24))
      throw Error("more than 2^24 lines: not a WordPiece vocabulary", error_location(source, spec.vocab.size()));
  }
  while (!spec.vocab.empty() && spec.vocab.back().empty()) spec.vocab.pop_back();
  if (spec.vocab.empty()) throw Error("empty WordPiece vocab", error_location(source));
  if (!config.is_null()) {
    const JsonSource src{source + " (tokenizer_config.json)", "BERT's tokenizer_config.json holds booleans here"};
    JsonAt c(config, src);
    c.require_object();
    spec.lower_case = c.bool_or("do_lower_case", spec.lower_case);
    spec.strip_accents = c.bool_or("strip_accents", spec.lower_case);
    spec.tokenize_chinese_chars = c.bool_or("tokenize_chinese_chars", spec.tokenize_chinese_chars);
    if (auto unk = c.find("unk_token"); unk && unk->is_string()) spec.unk_token = unk->str();
  }
  try {
    return std::make_unique<WordPieceTokenizer>(std::move(spec));
  } catch (const Error& e) {
    throw Error(e.message(), error_location(source), e.hint());
  }
}

std::unique_ptr<Tokenizer> load_wordpiece_vocab(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot open WordPiece vocab", error_location(file.string()), "check the path");
  fs::path cfg = file.parent_path() / "tokenizer_config.json";
  return parse_wordpiece_vocab(in, file.string(), fs::exists(cfg) ? read_json_file(cfg) : json(nullptr));
}

std::unique_ptr<Tokenizer> load_tokenizer(const fs::path& path) {
  require_exists(path, "tokenizer", "pass a model directory, tokenizer.json, tokenizer.model or vocab.txt");
  fs::path file = path;
  if (fs::is_directory(path)) {
    if (fs::exists(path / "tokenizer.json")) file = path / "tokenizer.json";
    else if (fs::exists(path / "tokenizer.model")) file = path / "tokenizer.model";
    else if (fs::exists(path / "vocab.txt")) file = path / "vocab.txt";
    else
      throw Error("no tokenizer.json, tokenizer.model or vocab.txt in directory", path.string(),
                  "point --tokenizer at the model folder that holds the tokenizer files");
  }
  std::string name = file.filename().string();
  if (file.extension() == ".json") return load_hf_tokenizer_json(file);
  if (file.extension() == ".txt") return load_wordpiece_vocab(file);
  if (file.extension() == ".gguf") return load_gguf_vocab(file);
  // Anything else: a tiktoken rank file if its first line looks like "base64 rank".
  std::ifstream in(file, std::ios::binary);
  std::string first;
  std::getline(in, first);
  auto sp = first.find(' ');
  bool ok = false;
  if (sp != std::string::npos && sp > 0) base64_decode(std::string_view(first).substr(0, sp), ok);
  if (ok) return load_tiktoken(file);
  throw Error("unrecognised tokenizer file '" + name + "'", error_location(file.string()),
              "supported: tokenizer.json (HF), a tiktoken rank file (Llama 3 tokenizer.model), a BERT vocab.txt");
}

}  // namespace ecpo::tok
