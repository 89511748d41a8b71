// DenseRetriever = Encoder + a dense index: encodes the query, searches either the exact index
// ("dense-exact") or the HNSW graph ("dense-hnsw"), and maps rows back to item ids and titles.
// A blank query, or one the encoder maps to the zero vector, returns no hits (all scores would tie).
// It does not build indexes (index.h does) and never re-encodes items.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "retrieval/dense-index.h"
#include "retrieval/hnsw-index.h"
#include "retrieval/retriever.h"

namespace ecpo::retrieval {

class DenseRetriever : public Retriever {
 public:
  // Exact search. `titles` is empty or parallel to index.ids(). Throws when encoder and index dims differ.
  DenseRetriever(std::shared_ptr<const Encoder> encoder, DenseIndex index, std::vector<std::string> titles);
  // HNSW search; `ids` (and `titles`, when not empty) are parallel to the graph's labels.
  DenseRetriever(std::shared_ptr<const Encoder> encoder, std::vector<std::string> ids, HnswIndex hnsw,
                 std::vector<std::string> titles);

  std::vector<Hit> search(const std::string& query, std::size_t k) const override;
  std::string kind() const override { return hnsw_ ? "dense-hnsw" : "dense-exact"; }
  std::size_t size() const override { return ids_.size(); }
  const Encoder& encoder() const { return *encoder_; }

 private:
  std::shared_ptr<const Encoder> encoder_;
  std::optional<DenseIndex> exact_;
  std::optional<HnswIndex> hnsw_;
  std::vector<std::string> ids_, titles_;
};

}  // namespace ecpo::retrieval
