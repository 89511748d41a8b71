// Exact dense index: N item ids and N×d float32 vectors, L2-normalised on insertion, searched by inner
// product (= cosine) over every row with a bounded min-heap (O(N·d + N·log k)). Ties go to the lower row.
// File layout (vectors.bin, all integers and floats little-endian):
//   bytes 0..7  magic "ECPODENS" | u32 version (=1) | u32 d | u64 n |
//   n × (u32 byte length, UTF-8 item id bytes) | n·d float32, row-major (row i belongs to id i)
// It does no approximate search (hnsw-index.h) and no encoding (the Encoder does that).
#pragma once
#include <cstddef>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace ecpo::retrieval {

// Scales v[0..d) to unit L2 norm in place; a zero vector stays zero. Returns the original norm.
float l2_normalize(float* v, std::size_t d);
// Inner product of two d-float vectors (8 independent partial sums, so the compiler can vectorise it).
float dot_product(const float* a, const float* b, std::size_t d);

// One search result: row index in the index and its score (higher is better).
struct DenseMatch {
  std::size_t row = 0;
  float score = 0;
};

class DenseIndex {
 public:
  explicit DenseIndex(std::size_t dim);

  // Appends one row (a normalised copy of vec[0..dim)).
  void add(std::string id, const float* vec);
  // Appends rows: ids.size() × dim floats in `rows`, row-major. Throws ecpo::Error on a size mismatch.
  void add_batch(const std::vector<std::string>& ids, const std::vector<float>& rows);

  std::size_t size() const { return ids_.size(); }
  std::size_t dim() const { return dim_; }
  const std::vector<std::string>& ids() const { return ids_; }
  const float* row(std::size_t i) const { return data_.data() + i * dim_; }

  // Top-k rows by inner product with the normalised `query` (dim floats), best first. Thread-safe.
  std::vector<DenseMatch> search(const float* query, std::size_t k) const;

  // Atomic write (temp file + rename); throws ecpo::Error on I/O failure.
  void save(const std::filesystem::path& path) const;
  // Reads and validates a file written by save(); throws ecpo::Error naming the file and the problem.
  static DenseIndex load(const std::filesystem::path& path);
  // Reads only the ids (and d) — what an HNSW index needs beside its own graph file.
  static std::vector<std::string> load_ids(const std::filesystem::path& path, std::size_t* dim = nullptr);

 private:
  std::size_t dim_;
  std::vector<std::string> ids_;
  std::vector<float> data_;  // [N, dim]
};

}  // namespace ecpo::retrieval
