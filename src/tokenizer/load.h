// Tokenizer file readers behind load_tokenizer (tokenizer.h): tiktoken rank files, HF tokenizer.json,
// BERT vocab.txt, llama.cpp byte-level BPE .gguf vocabularies, and the GPT-2 byte ⇄ unicode mapping
// that HF byte-level vocabularies use.
// Deliberately not here: encoding logic (bpe.cpp, wordpiece.cpp).
#pragma once
#include <array>
#include <filesystem>
#include <istream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace ecpo::tok {

// Llama-3's 256 special tokens in id order, starting at the number of base ranks (128000), exactly as
// meta-llama/llama-models models/llama3/tokenizer.py lists them.
std::vector<std::string> llama3_special_tokens();

// Each reader takes a file; the parse_* forms read the same bytes from memory or a stream (fuzzers, tests),
// `source` naming it in errors. Every id, count and length is checked against the input's own size before
// anything is allocated or indexed: a corrupt file gives an ecpo::Error naming it, never a crash or a hang.
std::unique_ptr<Tokenizer> load_tiktoken(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> parse_tiktoken(std::istream& in, const std::string& source);
// tokenizer.json; tokenizer_config.json beside it (when present) names bos/eos/pad.
std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> parse_hf_tokenizer_json(std::string_view text, const std::string& source,
                                                   const nlohmann::json& config = nullptr);
// BERT vocab.txt (id = line number - 1); tokenizer_config.json beside it sets casing and the unknown token.
std::unique_ptr<Tokenizer> load_wordpiece_vocab(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> parse_wordpiece_vocab(std::istream& in, const std::string& source,
                                                 const nlohmann::json& config = nullptr);
// llama.cpp vocab-only .gguf with a byte-level BPE vocabulary (tokenizer.ggml.model "gpt2"). `size` is the
// number of bytes the stream holds: every count in the file is capped by what is left of it.
std::unique_ptr<Tokenizer> load_gguf_vocab(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> parse_gguf_vocab(std::istream& in, std::uint64_t size, const std::string& source);

// GPT-2 bytes_to_unicode: byte → code point (printable bytes map to themselves, the rest to 256+n).
const std::array<std::uint32_t, 256>& gpt2_byte_to_unicode();
// "Ġhello" → " hello"; nullopt when a character is outside the 256-character alphabet.
std::optional<std::string> gpt2_unicode_to_bytes(std::string_view token);
// " hello" → "Ġhello".
std::string gpt2_bytes_to_unicode(std::string_view bytes);

std::string base64_decode(std::string_view in, bool& ok);

}  // namespace ecpo::tok
