// BERT BasicTokenizer + WordPiece (see wordpiece.h). Character classes follow HF
// transformers' tokenization_bert.py (_is_control, _is_whitespace, _is_punctuation, _is_chinese_char).
#include "tokenizer/wordpiece.h"

#include <utf8proc.h>

#include "util/error.h"

namespace ecpo::tok {

namespace {

std::vector<std::int32_t> to_code_points(std::string_view s) {
  std::vector<std::int32_t> cps;
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {  // an invalid byte: U+FFFD, which clean_text then drops
      cp = 0xFFFD;
      n = 1;
    }
    cps.push_back(cp);
    p += n;
    left -= n;
  }
  return cps;
}

void append_utf8(std::string& out, std::int32_t cp) {
  utf8proc_uint8_t buf[4];
  utf8proc_ssize_t n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<char*>(buf), static_cast<std::size_t>(n));
}

bool is_whitespace(std::int32_t c) {
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
  return utf8proc_category(c) == UTF8PROC_CATEGORY_ZS;
}

bool is_control(std::int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  auto cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF || cat == UTF8PROC_CATEGORY_CN ||
         cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS;
}

bool is_punctuation(std::int32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  auto cat = utf8proc_category(c);
  return cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
}

bool is_chinese_char(std::int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// NFD, then drop combining marks (Mn): BertTokenizer._run_strip_accents.
std::string strip_accents(const std::string& s) {
  utf8proc_uint8_t* mapped = nullptr;
  utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                    static_cast<utf8proc_ssize_t>(s.size()), &mapped,
                                    static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE));
  if (n < 0) return s;
  std::string nfd(reinterpret_cast<char*>(mapped), static_cast<std::size_t>(n));
  std::free(mapped);
  std::string out;
  for (std::int32_t cp : to_code_points(nfd))
    if (utf8proc_category(cp) != UTF8PROC_CATEGORY_MN) append_utf8(out, cp);
  return out;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(WordPieceSpec spec) : spec_(std::move(spec)) {
  special_flag_.assign(spec_.vocab.size(), 0);
  for (std::size_t i = 0; i < spec_.vocab.size(); ++i) {
    ids_.emplace(spec_.vocab[i], static_cast<TokenId>(i));  // the first of duplicate lines wins
    const std::string& t = spec_.vocab[i];
    if (t == "[PAD]" || t == "[UNK]" || t == "[CLS]" || t == "[SEP]" || t == "[MASK]") {
      special_flag_[i] = 1;
      special_tokens_.emplace_back(t, static_cast<TokenId>(i));
    }
  }
  auto find = [&](const char* t) -> std::optional<TokenId> {
    auto it = ids_.find(std::string_view(t));
    return it == ids_.end() ? std::nullopt : std::optional<TokenId>(it->second);
  };
  auto unk = ids_.find(spec_.unk_token);
  if (unk == ids_.end())
    throw Error("WordPiece vocabulary has no unknown token '" + spec_.unk_token + "'", "tokenizer",
                "is this a BERT vocab.txt?");
  unk_id_ = unk->second;
  special_.unk = unk_id_;
  special_.pad = find("[PAD]");
  special_.bos = find("[CLS]");
  special_.eos = find("[SEP]");
  if (special_.eos) special_.stop.push_back(*special_.eos);
}

bool WordPieceTokenizer::is_special(TokenId id) const {
  return id >= 0 && static_cast<std::size_t>(id) < special_flag_.size() && special_flag_[id];
}

std::string WordPieceTokenizer::id_to_token(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= spec_.vocab.size())
    throw Error("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                    std::to_string(spec_.vocab.size()) + ")",
                "tokenizer");
  return spec_.vocab[id];
}

std::optional<TokenId> WordPieceTokenizer::token_to_id(std::string_view token) const {
  auto it = ids_.find(token);
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::string WordPieceTokenizer::decode_piece(TokenId id) const {
  const std::string& t = id_to_token(id);
  if (t.starts_with(spec_.continuing_prefix)) return t.substr(spec_.continuing_prefix.size());
  return " " + t;
}

std::string WordPieceTokenizer::decode(const std::vector<TokenId>& ids, bool skip_special) const {
  std::string out;
  for (TokenId id : ids) {
    if (skip_special && is_special(id)) continue;
    out += decode_piece(id);
  }
  if (!out.empty() && out[0] == ' ') out.erase(0, 1);
  // clean_up_tokenization_spaces (transformers PreTrainedTokenizerBase.clean_up_tokenization).
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
      {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [from, to] : kRules) {
    std::string f(from), t(to), res;
    std::size_t pos = 0, hit;
    while ((hit = out.find(f, pos)) != std::string::npos) {
      res.append(out, pos, hit - pos);
      res += t;
      pos = hit + f.size();
    }
    res.append(out, pos, std::string::npos);
    out.swap(res);
  }
  return out;
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(std::string_view text) const {
  // 1. clean text and isolate CJK characters; 2. split on whitespace; 3. per word lower-case, strip
  // accents and split punctuation into single-character words.
  std::string cleaned;
  for (std::int32_t cp : to_code_points(text)) {
    if (spec_.clean_text) {
      if (cp == 0 || cp == 0xFFFD || is_control(cp)) continue;
      if (is_whitespace(cp)) {
        cleaned += ' ';
        continue;
      }
    }
    if (spec_.tokenize_chinese_chars && is_chinese_char(cp)) {
      cleaned += ' ';
      append_utf8(cleaned, cp);
      cleaned += ' ';
      continue;
    }
    append_utf8(cleaned, cp);
  }
  std::vector<std::string> out;
  std::vector<std::int32_t> cps = to_code_points(cleaned);
  std::size_t i = 0;
  while (i < cps.size()) {
    while (i < cps.size() && is_whitespace(cps[i])) ++i;
    std::size_t j = i;
    while (j < cps.size() && !is_whitespace(cps[j])) ++j;
    if (j == i) break;
    std::string word;
    bool ascii = true;
    for (std::size_t k = i; k < j; ++k) {
      ascii &= cps[k] < 0x80;
      append_utf8(word, spec_.lower_case ? utf8proc_tolower(cps[k]) : cps[k]);
    }
    if (spec_.strip_accents && !ascii) word = strip_accents(word);  // ASCII has no accents to strip
    std::string cur;
    for (std::int32_t cp : to_code_points(word)) {
      if (is_punctuation(cp)) {
        if (!cur.empty()) out.push_back(std::move(cur));
        cur.clear();
        std::string p;
        append_utf8(p, cp);
        out.push_back(std::move(p));
      } else {
        append_utf8(cur, cp);
      }
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    i = j;
  }
  return out;
}

void WordPieceTokenizer::wordpiece(const std::string& word, std::vector<TokenId>& out) const {
  std::vector<std::int32_t> cps = to_code_points(word);
  if (cps.size() > spec_.max_input_chars_per_word) {
    out.push_back(unk_id_);
    return;
  }
  std::vector<std::size_t> offset(cps.size() + 1, 0);  // byte offset of each code point
  for (std::size_t k = 0; k < cps.size(); ++k) {
    utf8proc_uint8_t buf[4];
    offset[k + 1] = offset[k] + static_cast<std::size_t>(utf8proc_encode_char(cps[k], buf));
  }
  std::vector<TokenId> pieces;
  std::size_t start = 0;
  std::string key;
  while (start < cps.size()) {
    std::size_t end = cps.size();
    TokenId found = -1;
    while (start < end) {
      key.assign(start > 0 ? spec_.continuing_prefix : std::string());
      key.append(word, offset[start], offset[end] - offset[start]);
      auto it = ids_.find(key);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {  // no piece matches here: the whole word is unknown
      out.push_back(unk_id_);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

void WordPieceTokenizer::encode_plain(std::string_view text, std::vector<TokenId>& out) const {
  for (const auto& w : basic_tokenize(text)) wordpiece(w, out);
}

std::vector<TokenId> WordPieceTokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<TokenId> out;
  if (options.add_special && special_.bos) out.push_back(*special_.bos);
  if (!options.parse_special) {
    encode_plain(text, out);
  } else {
    std::size_t seg = 0, i = 0;
    while (i < text.size()) {
      const std::pair<std::string, TokenId>* hit = nullptr;
      if (text[i] == '[')
        for (const auto& st : special_tokens_)
          if (text.substr(i).starts_with(st.first)) hit = &st;
      if (!hit) {
        ++i;
        continue;
      }
      encode_plain(text.substr(seg, i - seg), out);
      out.push_back(hit->second);
      i += hit->first.size();
      seg = i;
    }
    encode_plain(text.substr(seg), out);
  }
  if (options.add_special && special_.eos) out.push_back(*special_.eos);
  return out;
}

std::vector<TokenId> WordPieceTokenizer::encode_truncated(std::string_view text, std::size_t max_length) const {
  if (max_length < 2) throw Error("max_length must be at least 2 ([CLS] and [SEP])", "tokenizer");
  std::vector<TokenId> body;
  encode_plain(text, body);
  if (body.size() > max_length - 2) body.resize(max_length - 2);
  std::vector<TokenId> out;
  out.reserve(body.size() + 2);
  if (special_.bos) out.push_back(*special_.bos);
  out.insert(out.end(), body.begin(), body.end());
  if (special_.eos) out.push_back(*special_.eos);
  return out;
}

}  // namespace ecpo::tok
