// HNSW graph over dense rows via hnswlib (see hnsw-index.h). The only file that includes hnswlib.
#include "retrieval/hnsw-index.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include <hnswlib/hnswlib.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/thread-pool.h"

namespace fs = std::filesystem;

namespace ecpo::retrieval {

struct HnswIndex::Impl {
  explicit Impl(std::size_t dim) : space(dim) {}
  hnswlib::InnerProductSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph;
};

HnswIndex::HnswIndex(std::unique_ptr<Impl> impl, std::size_t dim) : impl_(std::move(impl)), dim_(dim) {}
HnswIndex::~HnswIndex() = default;
HnswIndex::HnswIndex(HnswIndex&&) noexcept = default;
HnswIndex& HnswIndex::operator=(HnswIndex&&) noexcept = default;

HnswIndex HnswIndex::build(const DenseIndex& rows, const HnswParams& p) {
  if (p.m < 2 || p.m > 512) throw Error("HNSW M must be in 2..512", "hnsw", "use e.g. --hnsw-m 16");
  if (p.ef_construction < 1) throw Error("HNSW ef_construction must be >= 1", "hnsw");
  if (p.ef_search < 1) throw Error("HNSW ef_search must be >= 1", "hnsw");
  auto impl = std::make_unique<Impl>(rows.dim());
  std::size_t n = rows.size();
  impl->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&impl->space, std::max<std::size_t>(n, 1), p.m,
                                                                  p.ef_construction, p.seed);
  impl->graph->setEf(p.ef_search);
  auto* g = impl->graph.get();
  if (n > 0) {
    g->addPoint(rows.row(0), 0);  // the entry point first, as hnswlib's own bindings do
    std::size_t threads = p.threads ? p.threads : std::max(1u, std::thread::hardware_concurrency());
    if (threads <= 1 || n < 1000) {
      for (std::size_t i = 1; i < n; ++i) g->addPoint(rows.row(i), i);
    } else {
      ThreadPool pool(threads);
      std::atomic<std::size_t> next{1};
      constexpr std::size_t kChunk = 64;
      pool.parallel_for(threads, [&](std::size_t) {
        for (;;) {
          std::size_t begin = next.fetch_add(kChunk);
          if (begin >= n) break;
          for (std::size_t i = begin; i < std::min(n, begin + kChunk); ++i) g->addPoint(rows.row(i), i);
        }
      });
    }
  }
  return HnswIndex(std::move(impl), rows.dim());
}

HnswIndex HnswIndex::load(const fs::path& path, std::size_t dim, std::size_t rows, std::size_t ef_search) {
  require_exists(path, "HNSW graph file", "rebuild the index with 'ecpo index build --kind dense'");
  auto impl = std::make_unique<Impl>(dim);
  try {
    impl->graph = std::make_unique<hnswlib::HierarchicalNSW<float>>(&impl->space, path.string());
  } catch (const std::exception& e) {
    throw Error(std::string("cannot load HNSW graph: ") + e.what(), path.string(),
                "rebuild the index with 'ecpo index build --kind dense'");
  }
  auto* g = impl->graph.get();
  if (g->label_offset_ - g->offsetData_ != dim * sizeof(float))
    throw Error("HNSW graph holds vectors of dimension " + std::to_string((g->label_offset_ - g->offsetData_) / 4) +
                    ", vectors.bin has " + std::to_string(dim),
                path.string(), "rebuild the index; the files come from different builds");
  if (g->cur_element_count != rows)
    throw Error("HNSW graph holds " + std::to_string(g->cur_element_count) + " items, vectors.bin " +
                    std::to_string(rows),
                path.string(), "rebuild the index; the files come from different builds");
  g->setEf(std::max<std::size_t>(ef_search, 1));
  return HnswIndex(std::move(impl), dim);
}

void HnswIndex::save(const fs::path& path) const {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  fs::path tmp = temp_path_for(path);
  impl_->graph->saveIndex(tmp.string());
  std::error_code ec;
  if (!fs::exists(tmp, ec)) throw Error("cannot write HNSW graph", tmp.string());
  commit_temp_file(tmp, path);
}

std::vector<DenseMatch> HnswIndex::search(const float* query, std::size_t k) const {
  std::vector<DenseMatch> out;
  k = std::min(k, size());
  if (k == 0) return out;
  std::vector<float> q(query, query + dim_);
  l2_normalize(q.data(), dim_);
  auto pq = impl_->graph->searchKnn(q.data(), k);  // max-heap on distance: worst on top
  out.resize(pq.size());
  for (std::size_t i = out.size(); i-- > 0;) {
    out[i] = {static_cast<std::size_t>(pq.top().second), 1.0f - pq.top().first};
    pq.pop();
  }
  // Equal distances come out in heap order; make ties deterministic (lower row first) like the exact index.
  std::stable_sort(out.begin(), out.end(), [](const DenseMatch& a, const DenseMatch& b) {
    return a.score != b.score ? a.score > b.score : a.row < b.row;
  });
  return out;
}

void HnswIndex::set_ef_search(std::size_t ef) { impl_->graph->setEf(std::max<std::size_t>(ef, 1)); }
std::size_t HnswIndex::ef_search() const { return impl_->graph->ef_; }
std::size_t HnswIndex::size() const { return impl_->graph->cur_element_count; }

}  // namespace ecpo::retrieval
