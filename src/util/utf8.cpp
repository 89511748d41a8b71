// UTF-8 sequence rules (see utf8.h). The lead byte fixes the length; the second byte's range depends on the
// lead (E0: A0..BF against overlongs, ED: 80..9F against surrogates, F0: 90..BF, F4: 80..8F against > U+10FFFF).
#include "util/utf8.h"

namespace ecpo {

namespace {

// Expected sequence length for a lead byte; 0 for a byte that never leads (continuations, C0, C1, F5..FF).
int lead_length(unsigned char b) {
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return 2;
  if (b >= 0xE0 && b <= 0xEF) return 3;
  if (b >= 0xF0 && b <= 0xF4) return 4;
  return 0;
}

bool second_byte_ok(unsigned char lead, unsigned char c) {
  if ((c & 0xC0) != 0x80) return false;
  return !((lead == 0xE0 && c < 0xA0) || (lead == 0xED && c > 0x9F) || (lead == 0xF0 && c < 0x90) ||
           (lead == 0xF4 && c > 0x8F));
}

}  // namespace

int utf8_sequence_at(std::string_view s, std::size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  const int n = lead_length(b);
  if (n <= 1) return n;
  for (int k = 1; k < n; ++k) {
    if (i + k >= s.size()) return -1;
    const auto c = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? !second_byte_ok(b, c) : (c & 0xC0) != 0x80) return 0;
  }
  return n;
}

bool utf8_valid(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const int n = utf8_sequence_at(s, i);
    if (n <= 0) return false;
    i += static_cast<std::size_t>(n);
  }
  return true;
}

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const int n = utf8_sequence_at(s, i);
    if (n <= 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, static_cast<std::size_t>(n)));
      i += static_cast<std::size_t>(n);
    }
  }
  return out;
}

std::size_t utf8_length(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++count) {
    const int n = utf8_sequence_at(s, i);
    i += n <= 0 ? 1 : static_cast<std::size_t>(n);
  }
  return count;
}

std::size_t utf8_incomplete_tail(std::string_view s) {
  const std::size_t n = s.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    if ((static_cast<unsigned char>(s[n - back]) & 0xC0) == 0x80) continue;  // a continuation: look further back
    return utf8_sequence_at(s, n - back) < 0 ? back : 0;
  }
  return 0;  // three continuation bytes: complete (after a 4-byte lead) or invalid either way
}

}  // namespace ecpo
