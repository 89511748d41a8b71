// Byte-level BPE tokenizer: special/added-token matching, regex pre-tokenisation (regex.h), then
// per pre-token merging over raw bytes — tiktoken style (rank of the merged bytes = its id, lowest first)
// or HF style (explicit merge list, rank = list position). Whole pre-tokens found in the vocabulary are
// taken directly (tiktoken; HF ignore_merges). Pre-tokens of up to 8 bytes use the plain O(n²) loop;
// longer ones a heap merge whose results are cached per pre-token (bounded, locked).
// Deliberately not here: file parsing (load.cpp, hf.cpp), SentencePiece-style BPE.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/regex.h"
#include "tokenizer/tokenizer.h"

namespace ecpo::tok {

// Heterogeneous-lookup hash so maps keyed by std::string accept std::string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, TokenId, StringHash, std::equal_to<>>;

// Everything a BpeTokenizer needs, filled by a loader.
struct BpeSpec {
  std::string kind = "bpe-hf";            // "bpe-tiktoken" or "bpe-hf"
  std::vector<std::string> id_bytes;      // raw bytes per id (added tokens: their text); "" for holes
  std::vector<std::string> id_token;      // vocabulary form per id (HF "Ġhello"; tiktoken raw bytes)
  std::vector<std::uint8_t> id_special;   // 1 for special tokens
  std::vector<std::uint8_t> id_present;   // 0 for ids with no token (holes in a HF vocab)
  // Merge list (HF): pairs of ids in priority order. Empty → tiktoken ranks (rank = id of merged bytes).
  std::vector<std::pair<TokenId, TokenId>> merges;
  bool ignore_merges = true;              // take a pre-token whole when its bytes are one token
  // Added tokens matched in the text before pre-tokenisation: non-special always, special only with
  // EncodeOptions::parse_special.
  struct Added {
    std::string content;
    TokenId id;
    bool special;
  };
  std::vector<Added> added;
  std::vector<std::string> patterns;      // pre-tokenizer regexes, applied one inside the other
  bool add_prefix_space = false;          // HF ByteLevel add_prefix_space
  bool meta_chunking = false;             // Meta's 25,000-char whitespace/non-whitespace run split
  bool nfc = false;                       // HF NFC normalizer (Qwen2), applied outside added tokens
  std::vector<TokenId> prefix_ids, suffix_ids;  // added by EncodeOptions::add_special
  std::optional<TokenId> unk;             // for bytes missing from the vocabulary (else they are dropped)
  SpecialTokens special;
};

class BpeTokenizer final : public Tokenizer {
 public:
  explicit BpeTokenizer(BpeSpec spec);
  ~BpeTokenizer() override;

  std::vector<TokenId> encode(std::string_view text, const EncodeOptions& options = {}) const override;
  std::string decode(const std::vector<TokenId>& ids, bool skip_special = false) const override;
  std::string decode_piece(TokenId id) const override;
  std::string id_to_token(TokenId id) const override;
  std::optional<TokenId> token_to_id(std::string_view token) const override;
  std::size_t vocab_size() const override { return spec_.id_bytes.size(); }
  bool is_special(TokenId id) const override;
  std::string kind() const override { return spec_.kind; }

  // BPE of one pre-token (raw bytes), appended to `out`; exposed for tests and benches.
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;
  // Same without the cache and with the simple O(n²) loop: the readable reference for tests and benches.
  void encode_word_reference(std::string_view word, std::vector<TokenId>& out) const;

 private:
  struct Merge {
    std::uint32_t rank;
    TokenId merged;
  };
  bool pair_merge(std::string_view word, std::size_t start, std::size_t left_len, std::size_t right_len,
                  TokenId left, TokenId right, Merge& m) const;
  bool initial_ids(std::string_view word, std::vector<TokenId>& ids) const;
  void encode_ordinary(std::string_view text, std::vector<TokenId>& out) const;
  void encode_normalized(std::string_view text, std::vector<TokenId>& out) const;
  void encode_chunk(std::string_view text, std::vector<TokenId>& out) const;
  void check_id(TokenId id) const;

  BpeSpec spec_;
  StringIdMap bytes_to_id_;                           // ordinary tokens by raw bytes
  StringIdMap token_to_id_;                           // vocabulary form and added tokens
  std::unordered_map<std::uint64_t, Merge> pair_rank_;  // HF merges: (left << 32 | right) → rank, merged id
  std::vector<std::unique_ptr<RegexSplitter>> splitters_;
  std::vector<std::vector<std::size_t>> added_by_first_byte_;  // indices into spec_.added, longest first
  TokenId byte_id_[256];
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<TokenId>, StringHash, std::equal_to<>> cache_;
};

}  // namespace ecpo::tok
