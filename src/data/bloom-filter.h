// A fixed-size Bloom filter over strings: "maybe present" or "certainly absent". The importer uses it to
// skip, without sorting them, the meta records of items no review names; a false positive only costs the
// work the filter would have saved, never a wrong result. Memory is the size given, whatever is added.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace ecpo::data {

class BloomFilter {
 public:
  explicit BloomFilter(std::size_t bytes) : words_((bytes < 64 ? 64 : bytes) / 8) {}

  void add(std::string_view s) {
    auto [h1, h2] = hashes(s);
    for (int i = 0; i < kHashes; ++i) set(h1 + static_cast<std::uint64_t>(i) * h2);
  }
  bool maybe_contains(std::string_view s) const {
    auto [h1, h2] = hashes(s);
    for (int i = 0; i < kHashes; ++i)
      if (!get(h1 + static_cast<std::uint64_t>(i) * h2)) return false;
    return true;
  }

 private:
  static constexpr int kHashes = 4;
  // FNV-1a, then a splitmix64 finaliser for the second hash (double hashing, Kirsch & Mitzenmacher 2006).
  static std::pair<std::uint64_t, std::uint64_t> hashes(std::string_view s) {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    std::uint64_t g = h + 0x9e3779b97f4a7c15ull;
    g = (g ^ (g >> 30)) * 0xbf58476d1ce4e5b9ull;
    g = (g ^ (g >> 27)) * 0x94d049bb133111ebull;
    g ^= g >> 31;
    return {h, g | 1};
  }
  void set(std::uint64_t h) {
    const std::uint64_t bit = h % (words_.size() * 64);
    words_[bit / 64] |= 1ull << (bit % 64);
  }
  bool get(std::uint64_t h) const {
    const std::uint64_t bit = h % (words_.size() * 64);
    return (words_[bit / 64] >> (bit % 64)) & 1;
  }
  std::vector<std::uint64_t> words_;
};

}  // namespace ecpo::data
