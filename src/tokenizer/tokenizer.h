// The tokenizer interface every model-side caller uses (torch-free): text ⇄ token ids for byte-level BPE
// (Llama-3 tiktoken ranks, HF tokenizer.json) and BERT WordPiece, plus a streaming UTF-8 helper.
// load_tokenizer(path) picks the implementation from the files found. Chat templates live in
// chat-template.h. Deliberately not here: SentencePiece (Llama-2), Jinja templates, training of vocabularies.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ecpo::tok {

using TokenId = std::int32_t;

struct EncodeOptions {
  // Prepend/append the model's special tokens: BOS for Llama-3 (no EOS), [CLS] … [SEP] for BERT, the
  // tokenizer.json post-processor's template for HF files.
  bool add_special = false;
  // Recognise special-token text such as "<|eot_id|>" or "[SEP]" inside `text` and emit its id. Off by
  // default, so user content can never inject control tokens (it is encoded as ordinary text).
  bool parse_special = false;
};

// Ids of well-known special tokens; empty when the vocabulary has none.
struct SpecialTokens {
  std::optional<TokenId> bos;  // <|begin_of_text|>, [CLS] for BERT
  std::optional<TokenId> eos;  // <|end_of_text|>, <|endoftext|>, [SEP] for BERT
  std::optional<TokenId> eot;  // end of a chat turn: <|eot_id|>, <|im_end|>
  std::optional<TokenId> pad;  // [PAD], <|finetune_right_pad_id|>
  std::optional<TokenId> unk;  // [UNK]
  std::vector<TokenId> stop;   // ids that end generation (eos, eot, <|eom_id|> …), deduplicated
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // UTF-8 text → ids. Thread-safe (encode caches are internally locked).
  virtual std::vector<TokenId> encode(std::string_view text, const EncodeOptions& options = {}) const = 0;

  // ids → text. For byte-level BPE this is the exact concatenation of each token's bytes, so
  // decode(encode(x)) == x for any UTF-8 x; special tokens appear as their text unless skip_special.
  // WordPiece joins pieces with spaces and glues "##" continuations (lossy, like HF).
  // Throws ecpo::Error for an id outside [0, vocab_size()).
  virtual std::string decode(const std::vector<TokenId>& ids, bool skip_special = false) const;

  // The raw bytes one token contributes to decoded text (may be part of a UTF-8 sequence); for streaming,
  // feed these through Utf8StreamDecoder. WordPiece: "##ing" → "ing", "hello" → " hello" (leading space).
  virtual std::string decode_piece(TokenId id) const = 0;

  // Vocabulary entry as stored in the file (HF byte-level form "Ġhello" for tokenizer.json, raw bytes
  // for tiktoken, "##ing" for WordPiece), and back. token_to_id also finds special tokens.
  virtual std::string id_to_token(TokenId id) const = 0;
  virtual std::optional<TokenId> token_to_id(std::string_view token) const = 0;

  virtual std::size_t vocab_size() const = 0;  // number of ids, special tokens included
  virtual bool is_special(TokenId id) const = 0;
  const SpecialTokens& special() const { return special_; }
  // "bpe-tiktoken", "bpe-hf", "wordpiece".
  virtual std::string kind() const = 0;

 protected:
  SpecialTokens special_;
};

// Loads a tokenizer from
//   - a directory holding tokenizer.json (HF), else tokenizer.model (tiktoken ranks), else vocab.txt;
//   - a tokenizer.json file (model type BPE or WordPiece);
//   - a tiktoken rank file (lines "base64 rank"; Llama-3's 256 special tokens are appended from id
//     = number of ranks, following meta-llama/llama-models models/llama3/tokenizer.py);
//   - a BERT vocab.txt (one token per line, id = line number; uncased BasicTokenizer unless a
//     tokenizer_config.json beside it says do_lower_case false);
//   - a llama.cpp vocab-only .gguf holding a byte-level BPE ("gpt2") vocabulary.
// Throws ecpo::Error naming the file and the problem.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path);

// Streaming decode: push the bytes of each new token, get back the longest valid UTF-8 prefix not yet
// returned; bytes of an incomplete sequence wait for the next push. flush() returns what is left with
// invalid bytes replaced by U+FFFD.
class Utf8StreamDecoder {
 public:
  std::string push(std::string_view bytes);
  std::string flush();

 private:
  std::string pending_;
};

// Shows bytes readably for the CLI and logs: printable ASCII and valid UTF-8 as is, "\n", "\t", "\r",
// "\\", other bytes as "\xNN".
std::string escape_bytes(std::string_view bytes);

}  // namespace ecpo::tok
