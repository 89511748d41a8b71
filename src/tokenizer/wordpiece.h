// BERT WordPiece tokenizer (uncased all-MiniLM-L6-v2 style): BasicTokenizer (drop control characters,
// whitespace → space, CJK characters isolated, lower-case + strip accents via utf8proc NFD minus Mn,
// split on punctuation) then greedy longest-match-first WordPiece with the "##" continuation prefix.
// Deliberately not here: pair inputs / token type ids, Python's full (multi-code-point) lower-casing.
#pragma once
#include <string>
#include <vector>

#include "tokenizer/bpe.h"  // StringIdMap
#include "tokenizer/tokenizer.h"

namespace ecpo::tok {

struct WordPieceSpec {
  std::vector<std::string> vocab;        // id → token ("##ing" for continuations)
  bool lower_case = true;                // BertTokenizer do_lower_case
  bool strip_accents = true;             // strip_accents null follows lower_case
  bool tokenize_chinese_chars = true;
  bool clean_text = true;
  std::string unk_token = "[UNK]";
  std::string continuing_prefix = "##";
  std::size_t max_input_chars_per_word = 100;
};

class WordPieceTokenizer final : public Tokenizer {
 public:
  explicit WordPieceTokenizer(WordPieceSpec spec);

  // add_special wraps the ids in [CLS] … [SEP]; parse_special recognises "[CLS]", "[SEP]", "[PAD]",
  // "[MASK]", "[UNK]" written in the text.
  std::vector<TokenId> encode(std::string_view text, const EncodeOptions& options = {}) const override;
  // HF convert_tokens_to_string + clean_up_tokenization_spaces: pieces joined by spaces, "##" glued on,
  // then " ." → "." and similar for , ! ? and English contractions.
  std::string decode(const std::vector<TokenId>& ids, bool skip_special = false) const override;
  std::string decode_piece(TokenId id) const override;
  std::string id_to_token(TokenId id) const override;
  std::optional<TokenId> token_to_id(std::string_view token) const override;
  std::size_t vocab_size() const override { return spec_.vocab.size(); }
  bool is_special(TokenId id) const override;
  std::string kind() const override { return "wordpiece"; }

  // [CLS] + the first max_length − 2 word-piece ids + [SEP] (sentence-transformers truncation; MiniLM's
  // sentence_bert_config max_seq_length is 256).
  std::vector<TokenId> encode_truncated(std::string_view text, std::size_t max_length = 256) const;

  // The BasicTokenizer stage alone (words after cleaning, lower-casing and punctuation splitting).
  std::vector<std::string> basic_tokenize(std::string_view text) const;

 private:
  void wordpiece(const std::string& word, std::vector<TokenId>& out) const;
  void encode_plain(std::string_view text, std::vector<TokenId>& out) const;

  WordPieceSpec spec_;
  StringIdMap ids_;
  TokenId unk_id_ = -1;
  std::vector<std::uint8_t> special_flag_;
  std::vector<std::pair<std::string, TokenId>> special_tokens_;  // text form, for parse_special
};

}  // namespace ecpo::tok
