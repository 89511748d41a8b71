// Shared tokenizer helpers (see tokenizer.h): default decode, streaming UTF-8 assembly, byte escaping.
#include <cstdio>

#include "tokenizer/tokenizer.h"
#include "util/text.h"
#include "util/utf8.h"

namespace ecpo::tok {


std::string Tokenizer::decode(const std::vector<TokenId>& ids, bool skip_special) const {
  std::string out;
  for (TokenId id : ids) {
    if (skip_special && is_special(id)) continue;
    out += decode_piece(id);
  }
  return out;
}

std::string Utf8StreamDecoder::push(std::string_view bytes) {
  pending_.append(bytes);
  std::string out;
  std::size_t i = 0;
  while (i < pending_.size()) {
    int n = utf8_sequence_at(pending_, i);
    if (n < 0) break;  // incomplete tail: wait for more bytes
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // an invalid byte can never become valid: replace it now
      ++i;
      continue;
    }
    out.append(pending_, i, n);
    i += n;
  }
  pending_.erase(0, i);
  return out;
}

std::string Utf8StreamDecoder::flush() {
  std::string out = utf8_sanitize(pending_);
  pending_.clear();
  return out;
}

std::string escape_bytes(std::string_view bytes) {
  std::string out;
  std::size_t i = 0;
  while (i < bytes.size()) {
    auto b = static_cast<unsigned char>(bytes[i]);
    int n = utf8_sequence_at(bytes, i);
    if (b == '\n') out += "\\n";
    else if (b == '\t') out += "\\t";
    else if (b == '\r') out += "\\r";
    else if (b == '\\') out += "\\\\";
    else if (n > 1) {
      out.append(bytes.substr(i, n));
      i += n;
      continue;
    } else if (b >= 0x20 && b < 0x7F) out += static_cast<char>(b);
    else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", b);
      out += buf;
    }
    ++i;
  }
  return out;
}

}  // namespace ecpo::tok
