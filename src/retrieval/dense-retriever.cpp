// Query encoding + exact or HNSW search + id/title mapping (see dense-retriever.h).
#include "retrieval/dense-retriever.h"

#include "util/error.h"
#include "util/text.h"

namespace ecpo::retrieval {
namespace {
void check(const Encoder* enc, std::size_t dim, std::size_t ids, std::size_t titles) {
  if (!enc) throw Error("dense retriever needs an encoder");
  if (enc->dim() != dim)
    throw Error("encoder '" + enc->name() + "' gives " + std::to_string(enc->dim()) + "-d vectors, the index holds " +
                    std::to_string(dim) + "-d",
                "dense index", "open the index with the encoder it was built with");
  if (titles != 0 && titles != ids) throw Error("dense index titles do not match its ids", "dense index");
}
}  // namespace

DenseRetriever::DenseRetriever(std::shared_ptr<const Encoder> encoder, DenseIndex index,
                               std::vector<std::string> titles)
    : encoder_(std::move(encoder)), ids_(index.ids()), titles_(std::move(titles)) {
  check(encoder_.get(), index.dim(), ids_.size(), titles_.size());
  exact_.emplace(std::move(index));
}

DenseRetriever::DenseRetriever(std::shared_ptr<const Encoder> encoder, std::vector<std::string> ids, HnswIndex hnsw,
                               std::vector<std::string> titles)
    : encoder_(std::move(encoder)), ids_(std::move(ids)), titles_(std::move(titles)) {
  check(encoder_.get(), hnsw.dim(), ids_.size(), titles_.size());
  if (hnsw.size() != ids_.size()) throw Error("HNSW graph size does not match its ids", "dense index");
  hnsw_.emplace(std::move(hnsw));
}

std::vector<Hit> DenseRetriever::search(const std::string& query, std::size_t k) const {
  std::vector<Hit> hits;
  if (k == 0 || trim(query).empty()) return hits;
  std::vector<float> q = encoder_->encode({query});
  if (q.size() != encoder_->dim())
    throw Error("encoder '" + encoder_->name() + "' returned " + std::to_string(q.size()) + " floats for one text",
                "dense retriever");
  bool zero = true;
  for (float x : q) zero = zero && x == 0.0f;
  if (zero) return hits;
  std::vector<DenseMatch> matches = hnsw_ ? hnsw_->search(q.data(), k) : exact_->search(q.data(), k);
  for (const auto& m : matches) {
    Hit h;
    h.item_id = ids_[m.row];
    h.title = titles_.empty() ? std::string() : titles_[m.row];
    h.score = m.score;
    h.rank = hits.size();
    hits.push_back(std::move(h));
  }
  return hits;
}

}  // namespace ecpo::retrieval
