// Tokenizer file readers behind load_tokenizer (tokenizer.h): tiktoken rank files, HF tokenizer.json,
// BERT vocab.txt, llama.cpp byte-level BPE .gguf vocabularies, and the GPT-2 byte ⇄ unicode mapping
// that HF byte-level vocabularies use.
// Deliberately not here: encoding logic (bpe.cpp, wordpiece.cpp).
#pragma once
#include <array>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ecpo::tok {

// Llama-3's 256 special tokens in id order, starting at the number of base ranks (128000), exactly as
// meta-llama/llama-models models/llama3/tokenizer.py lists them.
std::vector<std::string> llama3_special_tokens();

std::unique_ptr<Tokenizer> load_tiktoken(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> load_hf_tokenizer_json(const std::filesystem::path& file);
std::unique_ptr<Tokenizer> load_wordpiece_vocab(const std::filesystem::path& file);
// llama.cpp vocab-only .gguf with a byte-level BPE vocabulary (tokenizer.ggml.model "gpt2").
std::unique_ptr<Tokenizer> load_gguf_vocab(const std::filesystem::path& file);

// GPT-2 bytes_to_unicode: byte → code point (printable bytes map to themselves, the rest to 256+n).
const std::array<std::uint32_t, 256>& gpt2_byte_to_unicode();
// "Ġhello" → " hello"; nullopt when a character is outside the 256-character alphabet.
std::optional<std::string> gpt2_unicode_to_bytes(std::string_view token);
// " hello" → "Ġhello".
std::string gpt2_bytes_to_unicode(std::string_view bytes);

std::string base64_decode(std::string_view in, bool& ok);

}  // namespace ecpo::tok
