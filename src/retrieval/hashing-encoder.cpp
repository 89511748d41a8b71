// Feature-hashing text encoder (see hashing-encoder.h).
#include "retrieval/hashing-encoder.h"

#include <algorithm>
#include <cstdint>

#include "retrieval/dense-index.h"
#include "retrieval/text-terms.h"
#include "util/error.h"

namespace ecpo::retrieval {

HashingEncoder::HashingEncoder(std::size_t dim) : dim_(dim) {
  if (dim < 2 || dim > 65536) throw Error("hashing encoder dimension must be in 2..65536", "encoder", "use e.g. --dim 384");
}

std::uint64_t HashingEncoder::feature_hash(const std::string& feature) {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a 64
  for (unsigned char c : feature) {
    h ^= c;
    h *= 1099511628211ull;
  }
  h += 0x9e3779b97f4a7c15ull;  // splitmix64 finaliser: spreads FNV's weak low bits over all bits
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

void HashingEncoder::encode_one(const std::string& text, float* out) const {
  std::fill(out, out + dim_, 0.0f);
  std::vector<std::string> words = split_terms(text, /*fold=*/true);
  auto add = [&](const std::string& feature, float weight) {
    std::uint64_t h = feature_hash(feature);
    float sign = (h >> 63) ? -1.0f : 1.0f;
    out[(h & 0x7fffffffffffffffull) % dim_] += sign * weight;
  };
  for (std::size_t i = 0; i < words.size(); ++i) {
    add("u:" + words[i], 1.0f);
    if (i + 1 < words.size()) add("b:" + words[i] + ' ' + words[i + 1], 0.5f);
  }
  l2_normalize(out, dim_);
}

std::vector<float> HashingEncoder::encode(const std::vector<std::string>& texts) const {
  std::vector<float> out(texts.size() * dim_);
  for (std::size_t i = 0; i < texts.size(); ++i) encode_one(texts[i], out.data() + i * dim_);
  return out;
}

}  // namespace ecpo::retrieval
