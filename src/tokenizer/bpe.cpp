// Byte-level BPE encode/decode (see bpe.h).
#include "tokenizer/bpe.h"

#include <algorithm>
#include <deque>
#include <queue>

#include <utf8proc.h>

#include "util/error.h"

namespace ecpo::tok {

namespace {

constexpr std::size_t kCacheCap = 65536;  // cached pre-tokens; the cache is cleared when full
constexpr std::size_t kShortWord = 8;      // bytes; shorter pre-tokens are merged directly, uncached

std::uint64_t pair_key(TokenId a, TokenId b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

// Python's str.isspace() over one code point (bidi WS/B/S or category Zs), for Meta's run splitting.
bool py_isspace(std::uint32_t cp) {
  if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1F)) return true;
  if (cp < 0x80) return false;
  return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
         cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

// Decodes one code point at s[i] (lenient: an invalid byte counts as one code point of its own).
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
  auto b = static_cast<unsigned char>(s[i]);
  std::size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
  if (i + n > s.size()) n = 1;
  std::uint32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    auto c = static_cast<unsigned char>(s[i + k]);
    if ((c & 0xC0) != 0x80) {
      n = 1;
      cp = b;
      break;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  i += n;
  return cp;
}

}  // namespace

BpeTokenizer::BpeTokenizer(BpeSpec spec) : spec_(std::move(spec)) {
  special_ = spec_.special;
  const std::size_t n = spec_.id_bytes.size();
  if (spec_.id_token.size() != n || spec_.id_special.size() != n || spec_.id_present.size() != n)
    throw Error("inconsistent BPE vocabulary tables", "tokenizer");
  // Every id the spec names must be a token of the vocabulary (loaders check with the file's location; this
  // is the last line of defence against an out-of-range index).
  auto check = [&](TokenId id, const char* what) {
    if (id < 0 || static_cast<std::size_t>(id) >= n || !spec_.id_present[id])
      throw Error(std::string(what) + " id " + std::to_string(id) + " is not a token of the vocabulary (size " +
                      std::to_string(n) + ")",
                  "tokenizer", "the tokenizer file is inconsistent");
  };
  for (auto [a, b] : spec_.merges) {
    check(a, "merge");
    check(b, "merge");
  }
  for (const auto& a : spec_.added) check(a.id, "added token");
  for (TokenId id : spec_.prefix_ids) check(id, "post-processor");
  for (TokenId id : spec_.suffix_ids) check(id, "post-processor");
  for (const auto* o : {&spec_.unk, &spec_.special.bos, &spec_.special.eos, &spec_.special.eot, &spec_.special.pad})
    if (*o) check(**o, "special token");
  for (TokenId id : spec_.special.stop) check(id, "stop token");
  std::fill(std::begin(byte_id_), std::end(byte_id_), -1);
  bytes_to_id_.reserve(2 * n);
  token_to_id_.reserve(2 * n);
  for (std::size_t id = 0; id < n; ++id) {
    if (!spec_.id_present[id]) continue;
    if (!spec_.id_special[id]) {
      bytes_to_id_.emplace(spec_.id_bytes[id], static_cast<TokenId>(id));
      if (spec_.id_bytes[id].size() == 1) {
        auto b = static_cast<unsigned char>(spec_.id_bytes[id][0]);
        if (byte_id_[b] < 0) byte_id_[b] = static_cast<TokenId>(id);
      }
    }
    token_to_id_.emplace(spec_.id_token[id], static_cast<TokenId>(id));
  }
  for (const auto& a : spec_.added) token_to_id_[a.content] = a.id;
  if (spec_.merges.empty()) {
    for (int b = 0; b < 256; ++b)
      if (byte_id_[b] < 0)
        throw Error("rank file lacks the single-byte token for byte " + std::to_string(b), "tokenizer",
                    "a byte-level BPE vocabulary must hold all 256 bytes");
  }
  for (std::size_t r = 0; r < spec_.merges.size(); ++r) {
    auto [a, b] = spec_.merges[r];
    auto it = bytes_to_id_.find(spec_.id_bytes[a] + spec_.id_bytes[b]);
    if (it == bytes_to_id_.end()) continue;  // a merge whose result is not in the vocabulary never applies
    pair_rank_.emplace(pair_key(a, b), Merge{static_cast<std::uint32_t>(r), it->second});  // first wins
  }
  for (const auto& p : spec_.patterns) splitters_.push_back(std::make_unique<RegexSplitter>(p));
  added_by_first_byte_.assign(256, {});
  for (std::size_t k = 0; k < spec_.added.size(); ++k)
    if (!spec_.added[k].content.empty())
      added_by_first_byte_[static_cast<unsigned char>(spec_.added[k].content[0])].push_back(k);
  for (auto& v : added_by_first_byte_)
    std::stable_sort(v.begin(), v.end(), [&](std::size_t x, std::size_t y) {
      return spec_.added[x].content.size() > spec_.added[y].content.size();
    });
}

BpeTokenizer::~BpeTokenizer() = default;

bool BpeTokenizer::is_special(TokenId id) const {
  return id >= 0 && static_cast<std::size_t>(id) < spec_.id_special.size() && spec_.id_special[id];
}

void BpeTokenizer::check_id(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= spec_.id_bytes.size() || !spec_.id_present[id])
    throw Error("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                    std::to_string(spec_.id_bytes.size()) + ")",
                "tokenizer", "was the id produced by a model with a larger vocabulary?");
}

std::string BpeTokenizer::decode_piece(TokenId id) const {
  check_id(id);
  return spec_.id_bytes[id];
}

std::string BpeTokenizer::decode(const std::vector<TokenId>& ids, bool skip_special) const {
  std::string out;
  for (TokenId id : ids) {
    check_id(id);
    if (skip_special && spec_.id_special[id]) continue;
    out += spec_.id_bytes[id];
  }
  return out;
}

std::string BpeTokenizer::id_to_token(TokenId id) const {
  check_id(id);
  return spec_.id_token[id];
}

std::optional<TokenId> BpeTokenizer::token_to_id(std::string_view token) const {
  auto it = token_to_id_.find(token);
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

std::vector<TokenId> BpeTokenizer::encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<TokenId> out;
  if (options.add_special) out = spec_.prefix_ids;
  std::size_t seg = 0, i = 0;
  while (i < text.size()) {
    const auto& cands = added_by_first_byte_[static_cast<unsigned char>(text[i])];
    const BpeSpec::Added* hit = nullptr;
    for (std::size_t k : cands) {
      const auto& a = spec_.added[k];
      if ((!a.special || options.parse_special) && text.substr(i).starts_with(a.content)) {
        hit = &a;
        break;
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    if (i > seg) encode_ordinary(text.substr(seg, i - seg), out);
    out.push_back(hit->id);
    i += hit->content.size();
    seg = i;
  }
  if (text.size() > seg) encode_ordinary(text.substr(seg), out);
  if (options.add_special) out.insert(out.end(), spec_.suffix_ids.begin(), spec_.suffix_ids.end());
  return out;
}

void BpeTokenizer::encode_ordinary(std::string_view text, std::vector<TokenId>& out) const {
  if (spec_.nfc && !text.empty()) {
    utf8proc_uint8_t* mapped = nullptr;
    utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                                      static_cast<utf8proc_ssize_t>(text.size()), &mapped,
                                      static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n >= 0) {  // invalid UTF-8 is left as is
      std::string composed(reinterpret_cast<char*>(mapped), static_cast<std::size_t>(n));
      std::free(mapped);
      encode_normalized(composed, out);
      return;
    }
  }
  encode_normalized(text, out);
}

void BpeTokenizer::encode_normalized(std::string_view text, std::vector<TokenId>& out) const {
  if (spec_.add_prefix_space && !text.empty() && text[0] != ' ') {
    std::string spaced;
    spaced.reserve(text.size() + 1);
    spaced.push_back(' ');
    spaced.append(text);
    encode_chunk(spaced, out);
    return;
  }
  if (!spec_.meta_chunking) {
    encode_chunk(text, out);
    return;
  }
  // meta-llama tokenizer.py: 400,000-character slices, then no run of more than 25,000 consecutive
  // whitespace or non-whitespace characters (tiktoken issue #195).
  constexpr std::size_t kMaxChars = 400000, kMaxRun = 25000;
  std::size_t i = 0, chars = 0, slice_start = 0, run = 0;
  bool run_space = false;
  while (i < text.size()) {
    if (chars == kMaxChars) {  // a new 400k slice: flush and restart run counting
      encode_chunk(text.substr(slice_start, i - slice_start), out);
      slice_start = i;
      chars = 0;
    }
    std::size_t at = i;
    bool space = py_isspace(next_code_point(text, i));
    if (chars == 0) {
      run_space = space;
      run = 1;
    } else if (space != run_space) {
      run_space = space;
      run = 1;
    } else if (++run > kMaxRun) {
      encode_chunk(text.substr(slice_start, at - slice_start), out);
      slice_start = at;
      run = 1;
    }
    ++chars;
  }
  encode_chunk(text.substr(slice_start), out);
}

void BpeTokenizer::encode_chunk(std::string_view text, std::vector<TokenId>& out) const {
  if (text.empty()) return;
  std::vector<std::string_view> pieces{text}, next;
  for (const auto& sp : splitters_) {
    next.clear();
    for (auto p : pieces) sp->split(p, next);
    pieces.swap(next);
  }
  for (auto p : pieces) encode_word(p, out);
}

bool BpeTokenizer::pair_merge(std::string_view word, std::size_t start, std::size_t left_len,
                              std::size_t right_len, TokenId left, TokenId right, Merge& m) const {
  if (spec_.merges.empty()) {
    auto it = bytes_to_id_.find(word.substr(start, left_len + right_len));
    if (it == bytes_to_id_.end()) return false;
    m = Merge{static_cast<std::uint32_t>(it->second), it->second};
    return true;
  }
  auto it = pair_rank_.find(pair_key(left, right));
  if (it == pair_rank_.end()) return false;
  m = it->second;
  return true;
}

bool BpeTokenizer::initial_ids(std::string_view word, std::vector<TokenId>& ids) const {
  ids.clear();
  bool all = true;
  for (char c : word) {
    TokenId id = byte_id_[static_cast<unsigned char>(c)];
    if (id < 0) {
      all = false;
      if (spec_.unk) ids.push_back(*spec_.unk);  // else the byte is dropped, as HF BPE does
      continue;
    }
    ids.push_back(id);
  }
  return all;
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (spec_.ignore_merges || word.size() == 1) {
    auto it = bytes_to_id_.find(word);
    if (it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  if (word.size() <= kShortWord) {  // a few merges: the plain loop beats a cache insert and a heap
    encode_word_reference(word, out);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  // Symbols are byte ranges of `word` in a doubly linked list; candidate merges sit in a min-heap on
  // (rank, position) and are re-validated when popped (a symbol's length only grows, 0 = merged away).
  struct Sym {
    std::uint32_t start, len;
    int prev, next;
    TokenId id;
  };
  struct Cand {
    std::uint32_t rank;
    int left, right;
    std::uint32_t left_len, right_len;
    TokenId merged;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::vector<TokenId> ids;
  bool all_bytes = initial_ids(word, ids);
  std::vector<Sym> syms;
  syms.reserve(ids.size());
  if (all_bytes) {
    for (std::size_t k = 0; k < ids.size(); ++k)
      syms.push_back(Sym{static_cast<std::uint32_t>(k), 1, static_cast<int>(k) - 1, static_cast<int>(k) + 1, ids[k]});
  } else {  // unknown bytes: positions no longer match the word; only HF (id-pair) merges apply
    for (std::size_t k = 0; k < ids.size(); ++k)
      syms.push_back(Sym{0, 1, static_cast<int>(k) - 1, static_cast<int>(k) + 1, ids[k]});
  }
  if (!syms.empty()) syms.back().next = -1;
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto try_push = [&](int l) {
    if (l < 0) return;
    int r = syms[l].next;
    if (r < 0) return;
    Merge m;
    if (!all_bytes && spec_.merges.empty()) return;
    if (pair_merge(word, syms[l].start, syms[l].len, syms[r].len, syms[l].id, syms[r].id, m))
      heap.push(Cand{m.rank, l, r, syms[l].len, syms[r].len, m.merged});
  };
  for (int k = 0; k + 1 < static_cast<int>(syms.size()); ++k) try_push(k);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    Sym& l = syms[c.left];
    if (l.len != c.left_len || l.next != c.right || syms[c.right].len != c.right_len) continue;  // stale
    Sym& r = syms[c.right];
    l.len += r.len;
    l.id = c.merged;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) syms[r.next].prev = c.left;
    try_push(l.prev);
    try_push(c.left);
  }
  std::vector<TokenId> result;
  for (int k = syms.empty() ? -1 : 0; k >= 0; k = syms[k].next) result.push_back(syms[k].id);
  out.insert(out.end(), result.begin(), result.end());
  std::lock_guard<std::mutex> lock(cache_mu_);
  if (cache_.size() >= kCacheCap) cache_.clear();
  cache_.emplace(std::string(word), std::move(result));
}

void BpeTokenizer::encode_word_reference(std::string_view word, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  if (spec_.ignore_merges) {
    auto it = bytes_to_id_.find(word);
    if (it != bytes_to_id_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<TokenId> ids;
  bool all_bytes = initial_ids(word, ids);
  std::vector<std::size_t> starts(ids.size()), lens(ids.size(), 1);
  for (std::size_t k = 0; k < ids.size(); ++k) starts[k] = k;
  while (ids.size() > 1) {
    std::size_t best = ids.size();
    Merge best_m{UINT32_MAX, -1};
    for (std::size_t k = 0; k + 1 < ids.size(); ++k) {
      Merge m;
      if (!all_bytes && spec_.merges.empty()) break;
      if (pair_merge(word, starts[k], lens[k], lens[k + 1], ids[k], ids[k + 1], m) && m.rank < best_m.rank) {
        best = k;
        best_m = m;
      }
    }
    if (best == ids.size()) break;
    ids[best] = best_m.merged;
    lens[best] += lens[best + 1];
    ids.erase(ids.begin() + best + 1);
    starts.erase(starts.begin() + best + 1);
    lens.erase(lens.begin() + best + 1);
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

}  // namespace ecpo::tok
