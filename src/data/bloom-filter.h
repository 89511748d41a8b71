// A fixed-size Bloom filter over strings: "maybe present" or "certainly absent". The importer and the task
// builder use it to skip, without sorting them, the metadata of items no review names; a false positive only
// costs the work the filter would have saved, never a wrong result. Memory is the size given, whatever is
// added. Cache-blocked (Putze, Sanders & Singler 2007): all probes of a key fall in one 64-byte block, so a
// lookup costs one cache miss instead of one per probe.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace ecpo::data {

class BloomFilter {
 public:
  explicit BloomFilter(std::size_t bytes) : blocks_(bytes < 64 ? 1 : bytes / 64) {}

  void add(std::string_view s) {
    auto [block, bits] = locate(s);
    for (int i = 0; i < kWords; ++i) blocks_[block].w[i] |= bits.w[i];
  }
  bool maybe_contains(std::string_view s) const {
    auto [block, bits] = locate(s);
    for (int i = 0; i < kWords; ++i)
      if ((blocks_[block].w[i] & bits.w[i]) != bits.w[i]) return false;
    return true;
  }

 private:
  static constexpr int kWords = 8, kProbes = 6;
  struct alignas(64) Block {
    std::uint64_t w[kWords] = {0, 0, 0, 0, 0, 0, 0, 0};
  };
  // FNV-1a picks the block; a splitmix64 finaliser of it gives the probe bits inside the block.
  std::pair<std::size_t, Block> locate(std::string_view s) const {
    std::uint64_t h = 1469598103934665603ull;
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    std::uint64_t g = h + 0x9e3779b97f4a7c15ull;
    g = (g ^ (g >> 30)) * 0xbf58476d1ce4e5b9ull;
    g = (g ^ (g >> 27)) * 0x94d049bb133111ebull;
    g ^= g >> 31;
    Block bits;
    for (int i = 0; i < kProbes; ++i) {
      const unsigned bit = static_cast<unsigned>(g >> (9 * i)) & 511u;  // 6 probes x 9 bits of g
      bits.w[bit / 64] |= 1ull << (bit % 64);
    }
    return {static_cast<std::size_t>(h % blocks_.size()), bits};
  }
  std::vector<Block> blocks_;
};

}  // namespace ecpo::data
