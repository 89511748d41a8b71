// Byte-level BPE training and the HF tokenizer.json writer used by `ecpo model init` (see model-init.h).
// Training is the textbook loop: count adjacent pairs over word types (weighted by frequency), merge the most
// frequent (ties → smaller pair), repeat. Words come from an ASCII rendering of the Llama-3 pre-split regex.
// It is for random test models, not a production trainer (O(merges × symbols)).
#include <algorithm>
#include <cstdlib>
#include <map>

#include "model/model-init.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/resources.h"

namespace fs = std::filesystem;

namespace ecpo::model {

namespace {

bool is_letter(unsigned char c) { return std::isalpha(c) || c >= 0x80; }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_nl(unsigned char c) { return c == '\n' || c == '\r'; }

// Splits text like the Llama-3 regex does for ASCII (non-ASCII bytes count as letters).
std::vector<std::string> pre_split(const std::string& s) {
  std::vector<std::string> out;
  const std::size_t n = s.size();
  std::size_t i = 0;
  auto u = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < n) {
    std::size_t j = i;
    if (s[i] == '\'' && i + 1 < n) {  // (?i:'s|'t|'re|'ve|'m|'ll|'d)
      std::string rest = s.substr(i + 1, 2);
      for (auto& ch : rest) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (rest == "re" || rest == "ve" || rest == "ll") j = i + 3;
      else if (!rest.empty() && (rest[0] == 's' || rest[0] == 't' || rest[0] == 'm' || rest[0] == 'd')) j = i + 2;
    }
    if (j == i && (is_letter(u(i)) || (!is_nl(u(i)) && !is_digit(u(i)) && i + 1 < n && is_letter(u(i + 1))))) {
      j = is_letter(u(i)) ? i : i + 1;  // [^\r\n\p{L}\p{N}]?\p{L}+
      while (j < n && is_letter(u(j))) ++j;
    }
    if (j == i && is_digit(u(i))) {  // \p{N}{1,3}
      while (j < n && j < i + 3 && is_digit(u(j))) ++j;
    }
    auto punct = [&](std::size_t k) { return k < n && !is_space(u(k)) && !is_letter(u(k)) && !is_digit(u(k)); };
    if (j == i && (punct(i) || (s[i] == ' ' && punct(i + 1)))) {  //  ?[^\s\p{L}\p{N}]+[\r\n]*
      j = s[i] == ' ' ? i + 1 : i;
      while (punct(j)) ++j;
      while (j < n && is_nl(u(j))) ++j;
    }
    if (j == i) {  // whitespace
      std::size_t e = i;
      while (e < n && is_space(u(e))) ++e;
      std::size_t last_nl = std::string::npos;
      for (std::size_t k = i; k < e; ++k)
        if (is_nl(u(k))) last_nl = k;
      if (last_nl != std::string::npos) j = last_nl + 1;       // \s*[\r\n]+
      else if (e == n || e - i == 1) j = e;                     // \s+ (at end) or a lone space
      else j = e - 1;                                           // \s+(?!\S): leave one space for the next word
    }
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace

const std::vector<std::string>& byte_to_unicode() {
  static const std::vector<std::string> table = [] {
    std::vector<int> cps(256, -1);
    std::vector<bool> direct(256, false);
    for (int b = '!'; b <= '~'; ++b) direct[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) direct[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) direct[b] = true;
    int extra = 0;
    for (int b = 0; b < 256; ++b) cps[b] = direct[b] ? b : 256 + extra++;
    std::vector<std::string> t(256);
    for (int b = 0; b < 256; ++b) {
      int cp = cps[b];
      std::string s;
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {  // < 0x800 always here
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
      t[b] = s;
    }
    return t;
  }();
  return table;
}

BpeVocab bpe_train(const std::string& corpus, int n_tokens) {
  if (n_tokens < 256) throw Error("a byte-level BPE vocabulary needs at least 256 tokens", "model init");
  BpeVocab v;
  const auto& b2u = byte_to_unicode();
  std::map<std::string, int> id_of;
  for (int b = 0; b < 256; ++b) {
    v.tokens.push_back(b2u[b]);
    id_of[b2u[b]] = b;
  }
  std::map<std::string, long> counts;
  for (const auto& w : pre_split(corpus)) ++counts[w];
  std::vector<std::vector<int>> words;
  std::vector<long> freq;
  for (const auto& [w, c] : counts) {
    std::vector<int> ids;
    for (unsigned char ch : w) ids.push_back(ch);
    words.push_back(std::move(ids));
    freq.push_back(c);
  }
  while (static_cast<int>(v.tokens.size()) < n_tokens) {
    std::map<std::pair<int, int>, long> pairs;
    for (std::size_t w = 0; w < words.size(); ++w)
      for (std::size_t k = 0; k + 1 < words[w].size(); ++k) pairs[{words[w][k], words[w][k + 1]}] += freq[w];
    std::pair<int, int> best{-1, -1};
    long best_count = 1;  // a merge must occur at least twice
    for (const auto& [p, c] : pairs) {
      if (c < best_count) continue;
      if (c > best_count || best.first < 0 ||
          std::make_pair(v.tokens[p.first], v.tokens[p.second]) < std::make_pair(v.tokens[best.first], v.tokens[best.second])) {
        best = p;
        best_count = c;
      }
    }
    if (best.first < 0) break;  // the corpus ran out of repeated pairs
    const std::string merged = v.tokens[best.first] + v.tokens[best.second];
    v.merges.emplace_back(v.tokens[best.first], v.tokens[best.second]);
    int id;
    if (auto it = id_of.find(merged); it != id_of.end()) {
      id = it->second;
    } else {
      id = static_cast<int>(v.tokens.size());
      v.tokens.push_back(merged);
      id_of[merged] = id;
    }
    for (auto& w : words) {
      std::vector<int> nw;
      for (std::size_t k = 0; k < w.size(); ++k) {
        if (k + 1 < w.size() && w[k] == best.first && w[k + 1] == best.second) {
          nw.push_back(id);
          ++k;
        } else {
          nw.push_back(w[k]);
        }
      }
      w.swap(nw);
    }
  }
  return v;
}

const std::string& llama3_split_regex() {
  static const std::string r =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  return r;
}

nlohmann::json bpe_tokenizer_json(const BpeVocab& vocab, const std::vector<std::string>& special_tokens,
                                  const std::string& bos_token) {
  using json = nlohmann::json;
  json j;
  j["version"] = "1.0";
  j["truncation"] = nullptr;
  j["padding"] = nullptr;
  json added = json::array();
  for (std::size_t i = 0; i < special_tokens.size(); ++i)
    added.push_back({{"id", vocab.tokens.size() + i}, {"content", special_tokens[i]}, {"single_word", false},
                     {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}});
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers",
       {{{"type", "Split"}, {"pattern", {{"Regex", llama3_split_regex()}}}, {"behavior", "Isolated"}, {"invert", false}},
        {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  if (bos_token.empty()) {
    j["post_processor"] = byte_level;
  } else {
    std::int64_t bos_id = -1;
    for (std::size_t i = 0; i < special_tokens.size(); ++i)
      if (special_tokens[i] == bos_token) bos_id = static_cast<std::int64_t>(vocab.tokens.size() + i);
    json tp = {{"type", "TemplateProcessing"},
               {"single", {{{"SpecialToken", {{"id", bos_token}, {"type_id", 0}}}}, {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
               {"pair",
                {{{"SpecialToken", {{"id", bos_token}, {"type_id", 0}}}},
                 {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                 {{"SpecialToken", {{"id", bos_token}, {"type_id", 1}}}},
                 {{"Sequence", {{"id", "B"}, {"type_id", 1}}}}}},
               {"special_tokens", {{bos_token, {{"id", bos_token}, {"ids", {bos_id}}, {"tokens", {bos_token}}}}}}};
    j["post_processor"] = {{"type", "Sequence"}, {"processors", {byte_level, tp}}};
  }
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  json voc = json::object();
  for (std::size_t i = 0; i < vocab.tokens.size(); ++i) voc[vocab.tokens[i]] = i;
  json merges = json::array();
  for (const auto& [a, b] : vocab.merges) merges.push_back(a + " " + b);
  j["model"] = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", voc},
                {"merges", merges}};
  return j;
}

namespace {

void collect_texts(const nlohmann::json& j, bool text_key, std::string& out) {
  static const std::vector<std::string> keys = {"content", "text",        "prompt", "chosen", "rejected",
                                                "completion", "instruction", "input",  "output"};
  if (j.is_string()) {
    if (text_key) {
      out += j.get<std::string>();
      out.push_back('\n');
    }
  } else if (j.is_array()) {
    for (const auto& e : j) collect_texts(e, text_key, out);
  } else if (j.is_object()) {
    for (const auto& [k, v] : j.items())
      collect_texts(v, text_key || std::find(keys.begin(), keys.end(), k) != keys.end(), out);
  }
}

}  // namespace

std::string bpe_corpus_from_file(const fs::path& file) {
  if (!fs::exists(file)) throw Error("BPE corpus not found", file.string(), "pass a text file or JSONL rows to --corpus");
  const std::string raw = read_file(file);
  std::string out;
  bool jsonl = true, first = true;
  std::size_t line_no = 0, start = 0;
  while (jsonl && start < raw.size()) {
    std::size_t end = raw.find('\n', start);
    if (end == std::string::npos) end = raw.size();
    const std::string line = raw.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      if (first) {  // the first line is not a JSON object: the file is plain text
        jsonl = false;
        break;
      }
      throw Error("not a JSON object (the file's first line is, so it is read as JSONL)",
                  file.string() + ":" + std::to_string(line_no), "fix the line, or pass plain text");
    }
    first = false;
    collect_texts(j, false, out);
  }
  if (!jsonl) out = raw;
  if (out.empty())
    throw Error("the BPE corpus has no text", file.string(),
                "JSONL rows need content/text/prompt/chosen/rejected/completion strings");
  return out;
}

std::string bpe_default_corpus() { return read_file(data_file(DataDir::resources, "model/bpe-corpus.txt")); }

}  // namespace ecpo::model
