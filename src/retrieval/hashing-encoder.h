// HashingEncoder: a deterministic, model-free lexical encoder ("hashing-<d>"). Each text is split into
// folded words (text-terms.h); every unigram (weight 1) and adjacent-word bigram (weight 0.5) is hashed
// (FNV-1a 64 + splitmix64 finaliser) to one of d buckets with a hash-derived sign, and the vector is
// L2-normalised (an empty text gives the zero vector). Same text → same bits on every machine.
// It knows nothing about meaning beyond shared words; the MiniLM encoder in model/ is the semantic one.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "retrieval/retriever.h"

namespace ecpo::retrieval {

class HashingEncoder : public Encoder {
 public:
  explicit HashingEncoder(std::size_t dim = 384);
  std::size_t dim() const override { return dim_; }
  std::vector<float> encode(const std::vector<std::string>& texts) const override;  // stateless: thread-safe
  std::string name() const override { return "hashing-" + std::to_string(dim_); }

  // The bucket and sign one feature string maps to (exposed for tests).
  static std::uint64_t feature_hash(const std::string& feature);

 private:
  void encode_one(const std::string& text, float* out) const;
  std::size_t dim_;
};

}  // namespace ecpo::retrieval
