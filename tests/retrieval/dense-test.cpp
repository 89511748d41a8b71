// retrieval/dense: exact search against a brute-force double-precision computation in the test, the
// vectors.bin round trip and its corruption checks, HNSW recall@5 against exact search on seeded random
// vectors, the HNSW graph round trip, and the hashing encoder's determinism and hand-computable values.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <random>
#include <atomic>
#include <set>
#include <thread>

#include "retrieval/dense-index.h"
#include "retrieval/dense-retriever.h"
#include "retrieval/hashing-encoder.h"
#include "retrieval/hnsw-index.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"

using namespace ecpo::retrieval;

namespace {

std::vector<float> random_rows(std::size_t n, std::size_t d, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> v(n * d);
  for (auto& x : v) x = g(rng);
  return v;
}

DenseIndex make_index(const std::vector<float>& rows, std::size_t d) {
  DenseIndex index(d);
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < rows.size() / d; ++i) ids.push_back("item-" + std::to_string(i));
  index.add_batch(ids, rows);
  return index;
}

// Cosine similarity in double precision, sorted best first, ties to the lower row.
std::vector<std::pair<std::size_t, double>> brute_force(const std::vector<float>& rows, std::size_t d,
                                                        const float* q, std::size_t k) {
  std::size_t n = rows.size() / d;
  double qn = 0;
  for (std::size_t j = 0; j < d; ++j) qn += double(q[j]) * q[j];
  std::vector<std::pair<std::size_t, double>> all;
  for (std::size_t i = 0; i < n; ++i) {
    double dot = 0, rn = 0;
    for (std::size_t j = 0; j < d; ++j) {
      dot += double(rows[i * d + j]) * q[j];
      rn += double(rows[i * d + j]) * rows[i * d + j];
    }
    all.emplace_back(i, dot / std::sqrt(rn * qn));
  }
  std::stable_sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.second > b.second; });
  all.resize(std::min(k, n));
  return all;
}

}  // namespace

TEST(DenseIndex, ExactSearchEqualsBruteForce) {
  const std::size_t n = 700, d = 37;  // odd d exercises the dot product's tail loop
  auto rows = random_rows(n, d, 7);
  DenseIndex index = make_index(rows, d);
  auto queries = random_rows(20, d, 8);
  for (std::size_t qi = 0; qi < 20; ++qi) {
    const float* q = queries.data() + qi * d;
    auto want = brute_force(rows, d, q, 10);
    auto got = index.search(q, 10);
    ASSERT_EQ(got.size(), want.size());
    for (std::size_t r = 0; r < got.size(); ++r) {
      EXPECT_EQ(got[r].row, want[r].first) << "query " << qi << " rank " << r;
      EXPECT_NEAR(got[r].score, want[r].second, 1e-5);
    }
  }
  EXPECT_EQ(index.search(queries.data(), 0).size(), 0u);
  EXPECT_EQ(index.search(queries.data(), 5000).size(), n);  // k > n returns everything, sorted
}

TEST(DenseIndex, TiesGoToTheEarlierRowAndZeroVectorsStayZero) {
  DenseIndex index(2);
  float a[2] = {1, 0}, b[2] = {2, 0}, c[2] = {0, 3}, z[2] = {0, 0};
  index.add("a", a);
  index.add("b", b);  // same direction as a: identical cosine
  index.add("c", c);
  index.add("z", z);
  EXPECT_FLOAT_EQ(index.row(1)[0], 1.0f);  // stored normalised
  EXPECT_FLOAT_EQ(index.row(3)[0], 0.0f);
  float q[2] = {5, 0};
  auto hits = index.search(q, 4);
  ASSERT_EQ(hits.size(), 4u);
  EXPECT_EQ(hits[0].row, 0u);
  EXPECT_EQ(hits[1].row, 1u);
  EXPECT_FLOAT_EQ(hits[0].score, 1.0f);
  EXPECT_EQ(hits[2].row, 2u);  // c and z both score 0: c is the earlier row
  EXPECT_EQ(hits[3].row, 3u);
}

TEST(DenseIndex, SaveLoadRoundTripIsBitExact) {
  ecpo::test::TempDir dir;
  const std::size_t d = 16;
  auto rows = random_rows(50, d, 3);
  DenseIndex index = make_index(rows, d);
  index.save(dir / "vectors.bin");
  EXPECT_EQ(std::filesystem::file_size(dir / "vectors.bin"),
            8u + 4 + 4 + 8 + [&] { std::size_t s = 0; for (auto& id : index.ids()) s += 4 + id.size(); return s; }() +
                50 * d * 4);
  DenseIndex back = DenseIndex::load(dir / "vectors.bin");
  ASSERT_EQ(back.size(), 50u);
  ASSERT_EQ(back.dim(), d);
  EXPECT_EQ(back.ids(), index.ids());
  EXPECT_EQ(std::memcmp(back.row(0), index.row(0), 50 * d * sizeof(float)), 0);
  std::size_t dim = 0;
  EXPECT_EQ(DenseIndex::load_ids(dir / "vectors.bin", &dim), index.ids());
  EXPECT_EQ(dim, d);
}

TEST(DenseIndex, CorruptFilesAreErrorsNotCrashes) {
  ecpo::test::TempDir dir;
  DenseIndex index = make_index(random_rows(10, 8, 1), 8);
  index.save(dir / "ok.bin");
  std::string good = ecpo::read_file(dir / "ok.bin");
  auto expect_bad = [&](const std::string& bytes, const std::string& what) {
    ecpo::write_file_atomic(dir / "bad.bin", bytes);
    try {
      DenseIndex::load(dir / "bad.bin");
      ADD_FAILURE() << "accepted: " << what;
    } catch (const ecpo::Error& e) {
      EXPECT_NE(std::string(e.what()).find("bad.bin"), std::string::npos) << e.what();
      EXPECT_FALSE(e.hint().empty());
    }
  };
  expect_bad(good.substr(0, good.size() - 1), "truncated data");
  expect_bad(good + "x", "trailing byte");
  expect_bad("NOTMAGIC" + good.substr(8), "magic");
  std::string v2 = good;
  v2[8] = 2;
  expect_bad(v2, "version");
  std::string huge_n = good;
  huge_n[16 + 7] = 0x7f;
  expect_bad(huge_n, "row count");
  expect_bad("", "empty");
  EXPECT_THROW(DenseIndex::load(dir / "missing.bin"), ecpo::Error);
  std::vector<float> wrong(7);
  EXPECT_THROW(index.add_batch({"x"}, wrong), ecpo::Error);
}

TEST(Hnsw, RecallAtFiveAgainstExactIsAtLeastNinetyPercent) {
  const std::size_t n = 3000, d = 48, queries = 200, k = 5;
  DenseIndex exact = make_index(random_rows(n, d, 42), d);
  HnswParams p;
  p.m = 16;
  p.ef_construction = 100;
  p.ef_search = 64;
  p.threads = 1;
  HnswIndex hnsw = HnswIndex::build(exact, p);
  EXPECT_EQ(hnsw.size(), n);
  auto qs = random_rows(queries, d, 43);
  std::size_t found = 0;
  for (std::size_t i = 0; i < queries; ++i) {
    std::set<std::size_t> truth;
    for (auto& m : exact.search(qs.data() + i * d, k)) truth.insert(m.row);
    auto approx = hnsw.search(qs.data() + i * d, k);
    ASSERT_EQ(approx.size(), k);
    for (auto& m : approx) {
      found += truth.count(m.row);
      EXPECT_NEAR(m.score, ecpo::retrieval::dot_product(qs.data() + i * d, exact.row(m.row), d) /
                               std::sqrt(ecpo::retrieval::dot_product(qs.data() + i * d, qs.data() + i * d, d)),
                  1e-4);
    }
    for (std::size_t r = 1; r < approx.size(); ++r) EXPECT_GE(approx[r - 1].score, approx[r].score);
  }
  double recall = double(found) / double(queries * k);
  EXPECT_GE(recall, 0.9) << "recall@5 = " << recall;
}

TEST(Hnsw, SaveLoadGivesTheSameResultsAndChecksShapes) {
  ecpo::test::TempDir dir;
  const std::size_t n = 1500, d = 24;
  DenseIndex exact = make_index(random_rows(n, d, 5), d);
  HnswParams p;
  p.threads = 2;  // the parallel insertion path
  p.ef_construction = 64;
  HnswIndex hnsw = HnswIndex::build(exact, p);
  hnsw.save(dir / "hnsw.bin");
  HnswIndex back = HnswIndex::load(dir / "hnsw.bin", d, n, p.ef_search);
  EXPECT_EQ(back.ef_search(), p.ef_search);
  auto qs = random_rows(30, d, 6);
  for (std::size_t i = 0; i < 30; ++i) {
    auto a = hnsw.search(qs.data() + i * d, 5), b = back.search(qs.data() + i * d, 5);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t r = 0; r < a.size(); ++r) {
      EXPECT_EQ(a[r].row, b[r].row);
      EXPECT_FLOAT_EQ(a[r].score, b[r].score);
    }
  }
  EXPECT_THROW(HnswIndex::load(dir / "hnsw.bin", d + 1, n, 64), ecpo::Error);
  EXPECT_THROW(HnswIndex::load(dir / "hnsw.bin", d, n - 1, 64), ecpo::Error);
  EXPECT_THROW(HnswIndex::load(dir / "missing.bin", d, n, 64), ecpo::Error);
  std::string bytes = ecpo::read_file(dir / "hnsw.bin");
  ecpo::write_file_atomic(dir / "cut.bin", bytes.substr(0, bytes.size() / 2));
  EXPECT_THROW(HnswIndex::load(dir / "cut.bin", d, n, 64), ecpo::Error);
}

TEST(HashingEncoder, IsDeterministicNormalisedAndHandComputable) {
  HashingEncoder enc(64), enc2(64);
  EXPECT_EQ(enc.name(), "hashing-64");
  EXPECT_EQ(enc.dim(), 64u);
  std::vector<std::string> texts = {"Wireless mouse with USB receiver", "", "Café", "cafe", "CAFE!", "tea"};
  auto a = enc.encode(texts), b = enc2.encode(texts), c = enc.encode({texts[0]});
  ASSERT_EQ(a.size(), texts.size() * 64);
  EXPECT_EQ(a, b);
  EXPECT_TRUE(std::equal(c.begin(), c.end(), a.begin()));
  auto vec = [&](std::size_t i) { return std::vector<float>(a.begin() + i * 64, a.begin() + (i + 1) * 64); };
  // One word → exactly one feature of weight 1 → one coordinate ±1 after normalising.
  for (std::size_t i : {2u, 5u}) {
    auto v = vec(i);
    EXPECT_EQ(std::count_if(v.begin(), v.end(), [](float x) { return x != 0; }), 1);
    EXPECT_FLOAT_EQ(*std::max_element(v.begin(), v.end(), [](float x, float y) { return std::abs(x) < std::abs(y); }) *
                        *std::max_element(v.begin(), v.end(), [](float x, float y) { return std::abs(x) < std::abs(y); }),
                    1.0f);
  }
  EXPECT_EQ(vec(2), vec(3));  // case and diacritics folded
  EXPECT_EQ(vec(2), vec(4));  // punctuation ignored
  EXPECT_NE(vec(2), vec(5));
  auto empty = vec(1);
  EXPECT_TRUE(std::all_of(empty.begin(), empty.end(), [](float x) { return x == 0; }));
  double norm = 0;
  for (float x : vec(0)) norm += double(x) * x;
  EXPECT_NEAR(norm, 1.0, 1e-6);
  // Two words → features u:a (1), u:b (1), b:a b (0.5): if their buckets differ, the three non-zero
  // coordinates are ±1/1.5 and ±0.5/1.5 (norm √2.25 = 1.5).
  HashingEncoder big(65536);
  auto two = big.encode({"red shoes"});
  std::vector<float> mags;
  for (float x : two)
    if (x != 0) mags.push_back(std::abs(x));
  std::sort(mags.begin(), mags.end());
  ASSERT_EQ(mags.size(), 3u);
  EXPECT_NEAR(mags[0], 0.5 / 1.5, 1e-6);
  EXPECT_NEAR(mags[1], 1.0 / 1.5, 1e-6);
  EXPECT_NEAR(mags[2], 1.0 / 1.5, 1e-6);
  EXPECT_THROW(HashingEncoder(1), ecpo::Error);
}

TEST(DenseRetriever, HashingEncoderFindsTheItemSharingWords) {
  auto enc = std::make_shared<HashingEncoder>(256);
  std::vector<std::string> ids = {"m", "k", "b"}, texts = {"wireless mouse usb receiver", "mechanical keyboard",
                                                           "the hobbit fantasy book"};
  DenseIndex index(256);
  index.add_batch(ids, enc->encode(texts));
  DenseRetriever r(enc, std::move(index), {"Mouse", "Keyboard", "Hobbit"});
  EXPECT_EQ(r.kind(), "dense-exact");
  EXPECT_EQ(r.size(), 3u);
  auto hits = r.search("a hobbit book", 2);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].item_id, "b");
  EXPECT_EQ(hits[0].title, "Hobbit");
  EXPECT_GT(hits[0].score, hits[1].score);
  EXPECT_TRUE(r.search("", 2).empty());
  EXPECT_TRUE(r.search("!!! ???", 2).empty());  // no words → zero vector → no hits
  auto other = std::make_shared<HashingEncoder>(128);
  EXPECT_THROW(DenseRetriever(other, DenseIndex(256), {}), ecpo::Error);
}

TEST(Hnsw, ConcurrentSearchesThroughTheRetrieverAgreeWithSerialOnes) {
  auto enc = std::make_shared<HashingEncoder>(64);
  std::vector<std::string> ids, texts, titles;
  for (int i = 0; i < 2000; ++i) {
    ids.push_back("i" + std::to_string(i));
    texts.push_back("word" + std::to_string(i % 97) + " word" + std::to_string(i % 89) + " thing" + std::to_string(i));
    titles.push_back("t" + std::to_string(i));
  }
  DenseIndex index(64);
  index.add_batch(ids, enc->encode(texts));
  HnswParams p;
  p.threads = 1;
  p.ef_construction = 64;
  HnswIndex hnsw = HnswIndex::build(index, p);
  DenseRetriever r(enc, ids, std::move(hnsw), titles);
  EXPECT_EQ(r.kind(), "dense-hnsw");
  std::vector<std::string> queries;
  for (int q = 0; q < 20; ++q) queries.push_back("word" + std::to_string(q * 7 % 97) + " thing" + std::to_string(q * 31));
  std::vector<std::vector<std::string>> serial;
  for (const auto& q : queries) {
    serial.emplace_back();
    for (const auto& h : r.search(q, 5)) serial.back().push_back(h.item_id + "/" + h.title);
  }
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 100; ++i) {
        std::size_t q = (i + t) % queries.size();
        std::vector<std::string> got;
        for (const auto& h : r.search(queries[q], 5)) got.push_back(h.item_id + "/" + h.title);
        if (got != serial[q]) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}
