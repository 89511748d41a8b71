// bench_retrieval — query latency of the three retrieval paths and what HNSW trades for its speed.
//   BM25 (SQLite FTS5): synthetic items whose words follow a Zipf(1.0) law over a 20k pseudo-word list;
//     queries are 3 words drawn from one random item (title + description), k = 10.
//   Dense: random unit 384-d vectors and random unit queries (the hard case for HNSW: no cluster structure),
//     k = 5; exact scan is the baseline; HNSW (M=16, ef_construction=100) at ef_search 16/32/64/128 with
//     recall@5 against the exact top 5 and the speed-up over the exact scan measured in the same run.
//   Dense (clustered): the same at n/50 random centroids (rows = centroid + noise), queries = stored rows
//     plus noise — closer to real sentence embeddings, where neighbourhoods exist. --clustered 0 skips it.
// Usage: bench_retrieval [--sizes 10000,100000] [--queries 200] [--threads N] [--clustered 0|1].
// Queries run one at a time on one thread.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "retrieval/bm25-index.h"
#include "retrieval/dense-index.h"
#include "retrieval/hnsw-index.h"
#include "util/table.h"
#include "util/text.h"

namespace fs = std::filesystem;
using namespace ecpo::retrieval;
using Clock = std::chrono::steady_clock;

namespace {

struct Latency {
  double mean = 0, p50 = 0, p99 = 0;  // µs
};

Latency summarise(std::vector<double> us) {
  Latency l;
  if (us.empty()) return l;
  std::sort(us.begin(), us.end());
  for (double x : us) l.mean += x;
  l.mean /= static_cast<double>(us.size());
  l.p50 = us[us.size() / 2];
  l.p99 = us[std::min(us.size() - 1, static_cast<std::size_t>(std::ceil(0.99 * us.size())) - 1)];
  return l;
}

template <typename F>
Latency time_queries(std::size_t n, F&& f) {
  std::vector<double> us;
  us.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    f(i);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  return summarise(us);
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string fmt(double v, int prec = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

// 20k pronounceable pseudo-words ("ka", "romi", "tesuvo", ...), deterministic.
std::vector<std::string> word_list(std::size_t n) {
  const char* cons[] = {"k", "r", "m", "t", "s", "v", "n", "l", "p", "d", "g", "b", "f", "h", "z"};
  const char* vow[] = {"a", "e", "i", "o", "u"};
  std::vector<std::string> words;
  std::set<std::string> seen;
  std::mt19937 rng(1);
  while (words.size() < n) {
    std::size_t syl = 1 + rng() % 4;
    std::string w;
    for (std::size_t s = 0; s < syl; ++s) w += std::string(cons[rng() % 15]) + vow[rng() % 5];
    if (seen.insert(w).second) words.push_back(w);
  }
  return words;
}

class Zipf {
 public:
  explicit Zipf(std::size_t n) : cdf_(n) {
    double s = 0;
    for (std::size_t i = 0; i < n; ++i) cdf_[i] = (s += 1.0 / static_cast<double>(i + 1));
    for (auto& c : cdf_) c /= s;
  }
  std::size_t operator()(std::mt19937& rng) const {
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return std::min(cdf_.size() - 1, static_cast<std::size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin()));
  }

 private:
  std::vector<double> cdf_;
};

std::vector<float> unit_rows(std::size_t n, std::size_t d, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n * d);
  for (auto& x : v) x = g(rng);
  for (std::size_t i = 0; i < n; ++i) l2_normalize(v.data() + i * d, d);
  return v;
}

// Rows around n/50 random unit centroids: normalise(centroid + noise·g/√d), g ~ N(0, I).
std::vector<float> clustered_rows(std::size_t n, std::size_t d, float noise, unsigned seed) {
  std::size_t clusters = std::max<std::size_t>(1, n / 50);
  auto centroids = unit_rows(clusters, d, seed);
  std::mt19937 rng(seed + 1);
  std::normal_distribution<float> g(0.0f, noise / std::sqrt(static_cast<float>(d)));
  std::vector<float> v(n * d);
  for (std::size_t i = 0; i < n; ++i) {
    const float* c = centroids.data() + (rng() % clusters) * d;
    for (std::size_t j = 0; j < d; ++j) v[i * d + j] = c[j] + g(rng);
    l2_normalize(v.data() + i * d, d);
  }
  return v;
}

// Queries near stored rows: normalise(row + noise·g/√d) for random rows.
std::vector<float> queries_near(const DenseIndex& index, std::size_t q, float noise, unsigned seed) {
  std::size_t d = index.dim();
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, noise / std::sqrt(static_cast<float>(d)));
  std::vector<float> v(q * d);
  for (std::size_t i = 0; i < q; ++i) {
    const float* r = index.row(rng() % index.size());
    for (std::size_t j = 0; j < d; ++j) v[i * d + j] = r[j] + g(rng);
    l2_normalize(v.data() + i * d, d);
  }
  return v;
}

void bench_bm25(std::size_t n, std::size_t queries, ecpo::Table& table, const fs::path& tmp) {
  static const std::vector<std::string> words = word_list(20000);
  static const Zipf zipf(words.size());
  std::mt19937 rng(static_cast<unsigned>(n));
  auto phrase = [&](std::size_t len) {
    std::vector<std::string> w;
    for (std::size_t i = 0; i < len; ++i) w.push_back(words[zipf(rng)]);
    return w;
  };
  fs::path path = tmp / ("bm25-" + std::to_string(n) + ".sqlite");
  std::vector<std::vector<std::string>> item_words;  // title + description words, for queries
  auto t0 = Clock::now();
  {
    Bm25Builder b(path, {});
    for (std::size_t i = 0; i < n; ++i) {
      ecpo::data::Item it;
      it.item_id = "I" + std::to_string(i);
      auto title = phrase(3 + rng() % 4), desc = phrase(15 + rng() % 16);
      it.title = ecpo::join(title, " ");
      it.categories = {words[rng() % 50], words[rng() % 200]};
      it.description = ecpo::join(desc, " ");
      b.add(it);
      if (item_words.size() < 5000) {
        title.insert(title.end(), desc.begin(), desc.end());
        item_words.push_back(std::move(title));
      }
    }
    b.finish({{"kind", "bm25"}, {"source", "bench"}});
  }
  double build_s = seconds_since(t0);
  Bm25Retriever r(path);
  std::vector<std::string> qs;
  for (std::size_t i = 0; i < queries; ++i) {
    const auto& w = item_words[rng() % item_words.size()];
    qs.push_back(w[rng() % w.size()] + " " + w[rng() % w.size()] + " " + w[rng() % w.size()]);
  }
  std::size_t total_hits = 0;
  for (std::size_t i = 0; i < std::min<std::size_t>(queries, 10); ++i) r.search(qs[i], 10);  // warm the page cache
  Latency l = time_queries(queries, [&](std::size_t i) { total_hits += r.search(qs[i], 10).size(); });
  table.row({"bm25 (FTS5)", std::to_string(n), fmt(build_s, 2), fmt(l.mean), fmt(l.p50), fmt(l.p99), "-", "-"});
  std::fprintf(stderr, "bm25 n=%zu: %.1f hits/query, %.1f MB\n", n, double(total_hits) / queries,
               double(fs::file_size(path)) / 1e6);
}

void bench_dense(std::size_t n, std::size_t queries, std::size_t threads, bool clustered, ecpo::Table& table) {
  const std::size_t d = 384, k = 5;
  auto rows = clustered ? clustered_rows(n, d, 1.0f, 11) : unit_rows(n, d, 11);
  DenseIndex exact(d);
  for (std::size_t i = 0; i < n; ++i) exact.add("I" + std::to_string(i), rows.data() + i * d);
  rows.clear();
  rows.shrink_to_fit();
  auto qs = clustered ? queries_near(exact, queries, 0.5f, 12) : unit_rows(queries, d, 12);
  const std::string tag = clustered ? " (clustered)" : " (random)";

  std::vector<std::set<std::size_t>> truth(queries);
  Latency le = time_queries(queries, [&](std::size_t i) {
    for (auto& m : exact.search(qs.data() + i * d, k)) truth[i].insert(m.row);
  });
  table.row({"dense exact" + tag, std::to_string(n), "-", fmt(le.mean), fmt(le.p50), fmt(le.p99), "1.000", "1.0x"});

  HnswParams p;
  p.m = 16;
  p.ef_construction = 100;
  p.threads = threads;
  auto t0 = Clock::now();
  HnswIndex hnsw = HnswIndex::build(exact, p);
  double build_s = seconds_since(t0);
  for (std::size_t ef : {16, 32, 64, 128}) {
    hnsw.set_ef_search(ef);
    std::size_t found = 0;
    Latency lh = time_queries(queries, [&](std::size_t i) {
      for (auto& m : hnsw.search(qs.data() + i * d, k)) found += truth[i].count(m.row);
    });
    double recall = double(found) / double(queries * k);
    table.row({"hnsw ef=" + std::to_string(ef) + tag, std::to_string(n), fmt(build_s, 2), fmt(lh.mean), fmt(lh.p50),
               fmt(lh.p99), fmt(recall, 3), fmt(le.mean / lh.mean, 1) + "x"});
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::size_t> sizes = {10000, 100000};
  std::size_t queries = 200, threads = 0;
  bool clustered = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--sizes") {
      sizes.clear();
      for (auto& s : ecpo::split(v, ',')) sizes.push_back(std::stoul(s));
    } else if (a == "--queries") {
      queries = std::stoul(v);
    } else if (a == "--clustered") {
      clustered = v != "0";
    } else if (a == "--threads") {
      threads = std::stoul(v);
    } else {
      std::fprintf(stderr, "usage: bench_retrieval [--sizes 10000,100000] [--queries 200] [--threads N] [--clustered 0|1]\n");
      return 2;
    }
  }
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  fs::path tmp = fs::temp_directory_path() / ("ecpo-bench-retrieval-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  auto t0 = Clock::now();
  ecpo::Table table({"index", "items", "build s", "mean us", "p50 us", "p99 us", "recall@5", "speed-up vs exact"});
  for (std::size_t n : sizes) {
    bench_bm25(n, queries, table, tmp);
    bench_dense(n, queries, threads, /*clustered=*/false, table);
    if (clustered) bench_dense(n, queries, threads, /*clustered=*/true, table);
  }
  fs::remove_all(tmp);
  std::printf("retrieval query latency, single-threaded queries, %zu queries each; HNSW M=16 ef_construction=100 built "
              "with %zu threads; dense d=384, k=5; bm25 k=10\n",
              queries, threads);
  table.print(std::cout);
  std::printf("total %.1f s\n", seconds_since(t0));
  return 0;
}
