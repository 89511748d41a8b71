// PCRE2 pre-tokenizer splitting (see regex.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "util/error.h"

namespace ecpo::tok {

namespace {

pcre2_code* as_code(void* p) { return static_cast<pcre2_code*>(p); }

// Length of the valid UTF-8 sequence starting at s[i], or 0 when the byte there starts none.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) n = 2, cp = b & 0x1F;
  else if (b >= 0xE0 && b <= 0xEF) n = 3, cp = b & 0x0F;
  else if (b >= 0xF0 && b <= 0xF4) n = 4, cp = b & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (c & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

}  // namespace

RegexSplitter::RegexSplitter(const std::string& pattern) : pattern_(pattern) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw Error("pre-tokenizer regex does not compile: " + std::string(reinterpret_cast<char*>(msg)) +
                    " at offset " + std::to_string(offset),
                "pattern " + pattern, "check the Split pattern in tokenizer.json");
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is unavailable
  code_ = code;
}

RegexSplitter::~RegexSplitter() {
  if (code_) pcre2_code_free(as_code(code_));
}

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& out) const {
  // Run the regex over maximal valid UTF-8 runs; each invalid byte is a piece of its own.
  std::size_t i = 0, run = 0;
  while (i < text.size()) {
    std::size_t n = utf8_sequence_length(text, i);
    if (n == 0) {
      if (i > run) split_valid(text.substr(run, i - run), out);
      out.push_back(text.substr(i, 1));
      run = ++i;
    } else {
      i += n;
    }
  }
  if (text.size() > run) split_valid(text.substr(run), out);
}

void RegexSplitter::split_valid(std::string_view text, std::vector<std::string_view>& out) const {
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(as_code(code_), nullptr);
  if (!md) throw Error("out of memory creating PCRE2 match data", "tokenizer");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t pos = 0, emitted = 0;
  while (pos < text.size()) {
    int rc = pcre2_match(as_code(code_), subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      throw Error("pre-tokenizer regex match failed: " + std::string(reinterpret_cast<char*>(msg)), "tokenizer",
                  "the input may be too long for one regex pass");
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    std::size_t b = ov[0], e = ov[1];
    if (b > emitted) out.push_back(text.substr(emitted, b - emitted));  // an unmatched gap
    if (e == b) {  // empty match: step over one code point so the loop advances
      std::size_t n = utf8_sequence_length(text, b);
      pos = b + (n ? n : 1);
      continue;
    }
    out.push_back(text.substr(b, e - b));
    emitted = pos = e;
  }
  if (text.size() > emitted) out.push_back(text.substr(emitted));
  pcre2_match_data_free(md);
}

}  // namespace ecpo::tok
