// Retrieval contracts. A Retriever returns the top-k items for a text query with scores (higher = better).
// An Encoder turns texts into fixed-size float vectors (the MiniLM encoder in model/ implements it);
// dense indexes store those vectors. Implementations live beside this header; none depends on dialogue.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace ecpo::retrieval {

struct Hit {
  std::string item_id;
  double score = 0;  // higher is better (BM25: -bm25(); dense: inner product of L2-normalised vectors)
  std::size_t rank = 0;  // 0-based
  std::string title;     // the item's title as indexed ("" when the index keeps none)
};

class Retriever {
 public:
  virtual ~Retriever() = default;
  virtual std::vector<Hit> search(const std::string& query, std::size_t k) const = 0;
  virtual std::string kind() const = 0;  // "bm25", "dense-exact", "dense-hnsw"
  virtual std::size_t size() const = 0;   // number of indexed items
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual std::size_t dim() const = 0;
  // One vector of dim() floats per text, row-major [N, dim]. Thread-safe.
  virtual std::vector<float> encode(const std::vector<std::string>& texts) const = 0;
  virtual std::string name() const = 0;
};

}  // namespace ecpo::retrieval
