// Pre-tokenizer regex splitting through PCRE2 (UTF + UCP, JIT when available): the Llama-3 / GPT-2 /
// Qwen2 patterns split text into pre-tokens that BPE then merges independently. Matches and the gaps
// between them both become pieces (HF "Isolated" behaviour); invalid UTF-8 bytes become one-byte pieces.
// Deliberately not here: BPE merging, special-token matching (bpe.cpp).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace ecpo::tok {

// Meta's Llama-3 pat_str (meta-llama/llama-models models/llama3/tokenizer.py).
inline constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2 / Qwen2.5: the Llama-3 pattern with single digits (\p{N} instead of \p{N}{1,3}).
inline constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// GPT-2's pattern, used by HF ByteLevel(use_regex = true).
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class RegexSplitter {
 public:
  // Compiles `pattern`; throws ecpo::Error (with the PCRE2 message and offset) when it does not compile.
  explicit RegexSplitter(const std::string& pattern);
  ~RegexSplitter();
  RegexSplitter(const RegexSplitter&) = delete;
  RegexSplitter& operator=(const RegexSplitter&) = delete;

  // Appends the pieces of `text` (views into it, in order, covering it exactly) to `out`. Thread-safe.
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  const std::string& pattern() const { return pattern_; }

 private:
  void split_valid(std::string_view text, std::vector<std::string_view>& out) const;
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
};

}  // namespace ecpo::tok
