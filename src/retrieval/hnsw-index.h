// Approximate dense index: an HNSW graph (hnswlib 0.6, InnerProductSpace, distance = 1 − ⟨q, x⟩) over the
// rows of a DenseIndex; labels are DenseIndex row numbers, so ids stay in vectors.bin. The graph file
// (hnsw.bin) is hnswlib's own saveIndex() layout, written atomically. hnswlib is included only in
// hnsw-index.cpp (its header defines non-inline functions). It does not normalise stored vectors twice:
// build() takes the already-normalised rows of a DenseIndex; search() normalises the query.
#pragma once
#include <cstddef>
#include <filesystem>
#include <memory>
#include <vector>

#include "retrieval/dense-index.h"

namespace ecpo::retrieval {

struct HnswParams {
  std::size_t m = 16;                 // graph degree (2·m on the base layer)
  std::size_t ef_construction = 200;  // candidate list while inserting
  std::size_t ef_search = 64;         // candidate list while searching (≥ k is used)
  std::size_t seed = 100;             // level generator seed
  std::size_t threads = 0;            // insertion threads; 0 = hardware threads, 1 = deterministic graph
};

class HnswIndex {
 public:
  ~HnswIndex();
  HnswIndex(HnswIndex&&) noexcept;
  HnswIndex& operator=(HnswIndex&&) noexcept;

  // Inserts every row of `rows` (row i gets label i).
  static HnswIndex build(const DenseIndex& rows, const HnswParams& params);
  // Loads a graph saved by save(); `dim` and `rows` come from the matching vectors.bin and are checked.
  static HnswIndex load(const std::filesystem::path& path, std::size_t dim, std::size_t rows, std::size_t ef_search);
  void save(const std::filesystem::path& path) const;

  // Top-k (row, score = ⟨q, x⟩) best first. Thread-safe against other searches, not against set_ef_search.
  std::vector<DenseMatch> search(const float* query, std::size_t k) const;
  void set_ef_search(std::size_t ef);
  std::size_t ef_search() const;
  std::size_t size() const;
  std::size_t dim() const { return dim_; }

 private:
  struct Impl;
  explicit HnswIndex(std::unique_ptr<Impl> impl, std::size_t dim);
  std::unique_ptr<Impl> impl_;
  std::size_t dim_ = 0;
};

}  // namespace ecpo::retrieval
