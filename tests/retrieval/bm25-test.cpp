// retrieval/bm25: FTS5 bm25() ranking against an independent re-implementation of its formula (k1=1.2,
// b=0.75, IDF floor 1e-6, weighted per-column term counts), a hand-checked order, query sanitising with
// hostile text, diacritic folding, concurrent searches and bad index files.
#include <cmath>
#include <fstream>
#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "retrieval/bm25-index.h"
#include "retrieval/fts-query.h"
#include "test-support.h"
#include "util/error.h"
#include "util/text.h"

using ecpo::data::Item;
using ecpo::retrieval::Bm25Builder;
using ecpo::retrieval::Bm25Retriever;
using ecpo::retrieval::Bm25Weights;
using ecpo::retrieval::Hit;

namespace {

Item make_item(std::string id, std::string title, std::vector<std::string> cats, std::string desc) {
  Item it;
  it.item_id = std::move(id);
  it.title = std::move(title);
  it.categories = std::move(cats);
  it.description = std::move(desc);
  return it;
}

// Eight products; ASCII only so the reference tokeniser below (lower-case, split on non-alphanumerics)
// agrees with unicode61 exactly.
std::vector<Item> catalogue() {
  return {
      make_item("A1", "Wireless Mouse", {"Electronics", "Computer Accessories"}, "A quiet wireless mouse with USB receiver."),
      make_item("A2", "Wireless Keyboard", {"Electronics", "Computer Accessories"}, "Slim keyboard, two year battery."),
      make_item("A3", "Gaming Mouse Pad", {"Computer Accessories"}, "Large cloth pad for any mouse."),
      make_item("A4", "USB-C Cable", {"Electronics", "Cables"}, "Braided cable, fast charging."),
      make_item("A5", "The Hobbit", {"Books", "Fantasy"}, "A hobbit goes on an unexpected journey with dwarves."),
      make_item("A6", "Rock and Roll History", {"Books", "Music"}, "The story of rock and roll from 1950 to 1980."),
      make_item("A7", "Mouse Trap", {"Home", "Garden"}, "Humane trap: catches a mouse without harm."),
      make_item("A8", "Bluetooth Speaker", {"Electronics", "Audio"}, "Portable wireless speaker for music."),
  };
}

std::filesystem::path build(const ecpo::test::TempDir& dir, const std::vector<Item>& items, Bm25Weights w = {}) {
  auto path = dir / "bm25.sqlite";
  Bm25Builder b(path, w);
  for (const auto& it : items) b.add(it, "test");
  b.finish({{"kind", "bm25"}, {"source", "test"}});
  return path;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// The FTS5 bm25() formula written out from its documentation, over the three indexed columns.
std::vector<std::pair<std::string, double>> reference_bm25(const std::vector<Item>& items, const std::string& query,
                                                           Bm25Weights w) {
  const double k1 = 1.2, b = 0.75;
  std::vector<std::array<std::vector<std::string>, 3>> cols;
  double total = 0;
  for (const auto& it : items) {
    cols.push_back({words(it.title), words(ecpo::join(it.categories, ", ")), words(it.description)});
    total += cols.back()[0].size() + cols.back()[1].size() + cols.back()[2].size();
  }
  double n = static_cast<double>(items.size()), avgdl = total / n;
  std::vector<std::string> terms;
  for (const auto& t : words(query))
    if (std::find(terms.begin(), terms.end(), t) == terms.end()) terms.push_back(t);
  const double weight[3] = {w.title, w.categories, w.description};
  std::vector<std::pair<std::string, double>> scored;
  for (std::size_t d = 0; d < items.size(); ++d) {
    double score = 0;
    bool any = false;
    double len = cols[d][0].size() + cols[d][1].size() + cols[d][2].size();
    for (const auto& t : terms) {
      int hits = 0;
      for (const auto& c : cols)
        if (std::count(c[0].begin(), c[0].end(), t) + std::count(c[1].begin(), c[1].end(), t) +
                std::count(c[2].begin(), c[2].end(), t) > 0)
          ++hits;
      double idf = std::log((n - hits + 0.5) / (hits + 0.5));
      if (idf <= 0) idf = 1e-6;
      double freq = 0;
      for (int c = 0; c < 3; ++c) freq += weight[c] * std::count(cols[d][c].begin(), cols[d][c].end(), t);
      if (std::count(cols[d][0].begin(), cols[d][0].end(), t) + std::count(cols[d][1].begin(), cols[d][1].end(), t) +
              std::count(cols[d][2].begin(), cols[d][2].end(), t) > 0)
        any = true;
      score += idf * (freq * (k1 + 1)) / (freq + k1 * (1 - b + b * len / avgdl));
    }
    if (any) scored.emplace_back(items[d].item_id, score);
  }
  std::stable_sort(scored.begin(), scored.end(), [](auto& a, auto& b) { return a.second > b.second; });
  return scored;
}

void expect_matches_reference(const Bm25Retriever& r, const std::vector<Item>& items, const std::string& q,
                              Bm25Weights w) {
  auto ref = reference_bm25(items, q, w);
  auto hits = r.search(q, 100);
  ASSERT_EQ(hits.size(), ref.size()) << q;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    EXPECT_EQ(hits[i].item_id, ref[i].first) << q << " rank " << i;
    EXPECT_NEAR(hits[i].score, ref[i].second, 1e-9 * std::max(1.0, std::abs(ref[i].second))) << q << " rank " << i;
    EXPECT_EQ(hits[i].rank, i);
  }
}

}  // namespace

TEST(Bm25, ScoresEqualTheDocumentedFormula) {
  ecpo::test::TempDir dir;
  auto items = catalogue();
  Bm25Retriever r(build(dir, items));
  EXPECT_EQ(r.size(), 8u);
  EXPECT_EQ(r.kind(), "bm25");
  for (const char* q : {"wireless mouse", "mouse", "rock and roll", "usb cable", "music speaker", "books hobbit",
                        "electronics", "computer accessories mouse pad"})
    expect_matches_reference(r, items, q, {});
}

TEST(Bm25, ColumnWeightsFollowTheFormula) {
  ecpo::test::TempDir dir;
  auto items = catalogue();
  Bm25Weights w{5.0, 0.5, 1.0};
  Bm25Retriever r(build(dir, items, w));
  for (const char* q : {"wireless mouse", "mouse", "music", "electronics cable"}) expect_matches_reference(r, items, q, w);
}

TEST(Bm25, HandCheckedOrder) {
  // "wireless mouse", by hand. Token counts (title + categories + description): A1 12, A2 10, A3 11, A4 9,
  // A5 13, A6 16, A7 11, A8 9 → avgdl 91/8. "wireless" is in A1, A2, A8 and "mouse" in A1, A3, A7, so both
  // words have the same idf. A1 holds both twice → first. A3 and A7 hold "mouse" twice in 11 tokens: equal
  // scores, ties go to the earlier row → A3, A7. A8 and A2 hold "wireless" once; A8 is shorter (9 < 10) →
  // A8, A2. A4, A5, A6 match neither word and are not returned.
  ecpo::test::TempDir dir;
  Bm25Retriever r(build(dir, catalogue()));
  std::vector<std::string> got;
  for (const auto& h : r.search("wireless mouse", 10)) got.push_back(h.item_id);
  EXPECT_EQ(got, (std::vector<std::string>{"A1", "A3", "A7", "A8", "A2"}));
  auto top2 = r.search("wireless mouse", 2);
  ASSERT_EQ(top2.size(), 2u);
  EXPECT_EQ(top2[0].title, "Wireless Mouse");
  EXPECT_GT(top2[0].score, top2[1].score);
  EXPECT_GT(top2[1].score, 0);
}

TEST(FtsQuery, QuotesEveryWordAndOrsThem) {
  using ecpo::retrieval::fts_query_from_text;
  EXPECT_EQ(fts_query_from_text("Red shoes!"), "\"Red\" OR \"shoes\"");
  EXPECT_EQ(fts_query_from_text("title:foo AND bar*"), "\"title\" OR \"foo\" OR \"AND\" OR \"bar\"");
  EXPECT_EQ(fts_query_from_text("NEAR(a b, 3)"), "\"NEAR\" OR \"a\" OR \"b\" OR \"3\"");
  EXPECT_EQ(fts_query_from_text("\"unbalanced -minus ^caret"), "\"unbalanced\" OR \"minus\" OR \"caret\"");
  EXPECT_EQ(fts_query_from_text("Café cafe CAFE crème"), "\"Café\" OR \"crème\"");  // folded duplicates dropped
  EXPECT_EQ(fts_query_from_text("東京 タワー"), "\"東京\" OR \"タワー\"");
  EXPECT_EQ(fts_query_from_text(""), "");
  EXPECT_EQ(fts_query_from_text("  -- \"\" * () : ^ + "), "");
  EXPECT_EQ(fts_query_from_text("a b c d", 2), "\"a\" OR \"b\"");
  EXPECT_EQ(fts_query_from_text(std::string("bad\xff\xfe" "bytes")), "\"bad\" OR \"bytes\"");
}

TEST(Bm25, HostileQueriesNeverReachMatchRaw) {
  ecpo::test::TempDir dir;
  Bm25Retriever r(build(dir, catalogue()));
  for (std::string q : std::vector<std::string>{"\"", "\"\"\"", "NEAR(", "NEAR(mouse wireless, 0)", "-", "mouse -wireless", "*", "mouse*",
                        "AND", "OR OR NOT", "title:mouse", "{title description}: mouse", "^mouse", "a : b ) (",
                        "'; DROP TABLE items; --", "mouse\" OR \"x", std::string("\0mouse", 6), "🙂🙂", "\xff\xfe"}) {
    EXPECT_NO_THROW(r.search(q, 5)) << q;
  }
  // Operator words are ordinary words: "AND" finds the item whose text contains "and".
  auto hits = r.search("AND", 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].item_id, "A6");
  // A '-' does not exclude: "mouse -wireless" ORs both words, so A1 (both) ranks first.
  EXPECT_EQ(r.search("mouse -wireless", 1).at(0).item_id, "A1");
  // A column filter is not applied: "title:keyboard" also searches the word "title" (absent) and "keyboard".
  EXPECT_EQ(r.search("title:keyboard", 5).at(0).item_id, "A2");
  EXPECT_TRUE(r.search("", 5).empty());
  EXPECT_TRUE(r.search("   \t\n", 5).empty());
  EXPECT_TRUE(r.search("* - ( )", 5).empty());
  EXPECT_TRUE(r.search("mouse", 0).empty());
  EXPECT_TRUE(r.search("zebra", 5).empty());
}

TEST(Bm25, FoldsCaseAndDiacritics) {
  ecpo::test::TempDir dir;
  std::vector<Item> items = {make_item("C1", "Café Crème Brûlée", {"Food"}, "Dessert."),
                             make_item("C2", "Tea", {"Food"}, "Green tea from 東京."),
                             make_item("C3", "Coffee", {"Food"}, "Dark roast.")};
  Bm25Retriever r(build(dir, items));
  EXPECT_EQ(r.search("cafe creme brulee", 3).at(0).item_id, "C1");
  EXPECT_EQ(r.search("CAFÉ", 3).at(0).item_id, "C1");
  EXPECT_EQ(r.search("東京", 3).at(0).item_id, "C2");
  EXPECT_EQ(r.search("cafe", 3).size(), 1u);
}

TEST(Bm25, ConcurrentSearchesAgreeWithSerialOnes) {
  ecpo::test::TempDir dir;
  Bm25Retriever r(build(dir, catalogue()));
  std::vector<std::string> queries = {"wireless mouse", "rock", "usb cable", "music", "hobbit journey", "pad"};
  std::map<std::string, std::vector<std::string>> serial;
  for (const auto& q : queries)
    for (const auto& h : r.search(q, 3)) serial[q].push_back(h.item_id);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const auto& q = queries[(i + t) % queries.size()];
        std::vector<std::string> got;
        for (const auto& h : r.search(q, 3)) got.push_back(h.item_id);
        if (got != serial[q]) ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Bm25, DuplicateIdsAndBadFilesAreErrors) {
  ecpo::test::TempDir dir;
  {
    Bm25Builder b(dir / "dup.sqlite", {});
    b.add(make_item("X", "one", {}, ""), "items.jsonl:1");
    try {
      b.add(make_item("X", "two", {}, ""), "items.jsonl:2");
      FAIL() << "duplicate accepted";
    } catch (const ecpo::Error& e) {
      EXPECT_NE(std::string(e.what()).find("items.jsonl:2"), std::string::npos) << e.what();
    }
  }  // not finished: no file left behind
  EXPECT_FALSE(std::filesystem::exists(dir / "dup.sqlite"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0);

  EXPECT_THROW(Bm25Retriever(dir / "missing.sqlite"), ecpo::Error);
  std::ofstream(dir / "garbage.sqlite") << "this is not a database, just text that is long enough to be read";
  try {
    Bm25Retriever r(dir / "garbage.sqlite");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_FALSE(e.hint().empty()) << e.what();
  }
  EXPECT_THROW(Bm25Builder(dir / "w.sqlite", Bm25Weights{-1, 1, 1}), ecpo::Error);
}
