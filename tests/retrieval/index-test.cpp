// retrieval/index + CLI: build_index/open_retriever for every kind from an items.jsonl written here,
// index.json contents, bad-input paths (file:line errors, duplicates, empty, unknown kind, missing or foreign
// index), and `ecpo index build` + `ecpo retrieve` (--json and table) end to end through the binary.
#include <fstream>

#include "retrieval/hashing-encoder.h"
#include "retrieval/index.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/jsonl.h"

using ecpo::json;
using namespace ecpo::retrieval;

namespace {

const char* kItems =
    R"({"item_id":"B001","title":"The Hobbit","categories":["Books","Fantasy"],"description":"A hobbit's unexpected journey with dwarves and a dragon.","price":8.99,"attributes":{},"domain":"book"}
{"item_id":"B002","title":"Dune","categories":["Books","Science Fiction"],"description":"Desert planet, spice and politics.","price":null,"attributes":{},"domain":"book"}
{"item_id":"B003","title":"A Brief History of Time","categories":["Books","Science"],"description":"Black holes, the big bang and the nature of time.","price":12.5,"attributes":{},"domain":"book"}
{"item_id":"B004","title":"The Silmarillion","categories":["Books","Fantasy"],"description":"Elves, dwarves and the First Age of Middle-earth.","price":10,"attributes":{},"domain":"book"}
{"item_id":"B005","title":"Cooking for Geeks","categories":["Books","Cooking"],"description":"Real science, great hacks and good food.","price":20,"attributes":{},"domain":"book"}
)";

std::filesystem::path write_items(const ecpo::test::TempDir& dir, const std::string& body = kItems) {
  ecpo::write_file_atomic(dir / "data" / "items.jsonl", body);
  return dir / "data" / "items.jsonl";
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ecpo::Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST(RetrievalIndex, BuildsAndOpensEveryKind) {
  ecpo::test::TempDir dir;
  auto items = write_items(dir);
  for (std::string kind : {"bm25", "dense", "dense-exact", "dense-hnsw"}) {
    IndexOptions o;
    o.kind = kind;
    o.dim = 256;
    o.hnsw.threads = 1;
    auto out = dir / ("idx-" + kind);
    IndexSummary s = build_index(items, out, o);
    std::string expect_kind = kind == "dense" ? "dense-exact" : kind;  // 5 items ≤ threshold
    EXPECT_EQ(s.kind, expect_kind);
    EXPECT_EQ(s.items, 5u);
    auto r = open_retriever(out);
    EXPECT_EQ(r->kind(), expect_kind);
    EXPECT_EQ(r->size(), 5u);
    auto hits = r->search("hobbit dwarves dragon", 3);
    ASSERT_FALSE(hits.empty()) << kind;
    EXPECT_EQ(hits[0].item_id, "B001") << kind;
    EXPECT_EQ(hits[0].title, "The Hobbit") << kind;
    json meta = read_index_meta(out);
    EXPECT_EQ(meta["format"], "ecpo-retrieval-index");
    EXPECT_EQ(meta["version"], 1);
    EXPECT_EQ(meta["kind"], expect_kind);
    EXPECT_EQ(meta["items"], 5);
    EXPECT_NE(meta["source"].get<std::string>().find("items.jsonl"), std::string::npos);
    EXPECT_EQ(meta["created"].get<std::string>().size(), 20u);  // 2026-11-26T00:00:00Z
    if (kind == "bm25") {
      EXPECT_TRUE(std::filesystem::exists(out / "bm25.sqlite"));
      EXPECT_EQ(meta["bm25"]["weights"]["title"], 1.0);
    } else {
      EXPECT_EQ(meta["dense"]["encoder"], "hashing-256");
      EXPECT_EQ(meta["dense"]["dim"], 256);
      EXPECT_TRUE(std::filesystem::exists(out / "vectors.bin"));
      EXPECT_EQ(std::filesystem::exists(out / "hnsw.bin"), expect_kind == "dense-hnsw");
    }
  }
}

TEST(RetrievalIndex, DenseKindSwitchesToHnswAboveTheThreshold) {
  ecpo::test::TempDir dir;
  auto items = write_items(dir);
  IndexOptions o;
  o.kind = "dense";
  o.hnsw_threshold = 4;  // 5 items > 4
  o.dim = 64;
  auto s = build_index(items, dir / "idx", o);
  EXPECT_EQ(s.kind, "dense-hnsw");
  OpenOptions oo;
  oo.ef_search = 7;
  EXPECT_EQ(open_retriever(dir / "idx", oo)->kind(), "dense-hnsw");
}

TEST(RetrievalIndex, BadInputsGiveLocatedErrors) {
  ecpo::test::TempDir dir;
  IndexOptions o;
  EXPECT_NE(error_of([&] { build_index(dir / "none.jsonl", dir / "i", o); }).find("none.jsonl"), std::string::npos);
  auto bad = write_items(dir, "{\"item_id\":\"x\",\"title\":\"t\"}\n{\"item_id\":\n");
  EXPECT_NE(error_of([&] { build_index(bad, dir / "i", o); }).find("items.jsonl:2"), std::string::npos);
  auto dup = write_items(dir, "{\"item_id\":\"x\",\"title\":\"t\"}\n{\"item_id\":\"y\",\"title\":\"u\"}\n"
                              "{\"item_id\":\"x\",\"title\":\"v\"}\n");
  for (std::string kind : {"bm25", "dense"}) {
    o.kind = kind;
    std::string e = error_of([&] { build_index(dup, dir / "i", o); });
    EXPECT_NE(e.find("duplicate item_id 'x'"), std::string::npos) << e;
    EXPECT_NE(e.find("items.jsonl:3"), std::string::npos) << e;
  }
  auto notitle = write_items(dir, "{\"item_id\":\"x\"}\n");
  EXPECT_NE(error_of([&] { build_index(notitle, dir / "i", o); }).find("title"), std::string::npos);
  auto empty = write_items(dir, "\n");
  EXPECT_NE(error_of([&] { build_index(empty, dir / "i", o); }).find("no items"), std::string::npos);
  o.kind = "faiss";
  EXPECT_NE(error_of([&] { build_index(write_items(dir), dir / "i", o); }).find("unknown index kind"), std::string::npos);
  o.kind = "dense";
  o.encoder = "minilm";
  EXPECT_NE(error_of([&] { build_index(write_items(dir), dir / "i", o); }).find("unknown encoder"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "i" / "index.json"));  // failed builds leave no index.json
}

TEST(RetrievalIndex, OpeningAMissingOrForeignIndexSaysHowToBuildOne) {
  ecpo::test::TempDir dir;
  EXPECT_NE(error_of([&] { open_retriever(dir / "nope"); }).find("ecpo index build"), std::string::npos);
  std::filesystem::create_directories(dir / "empty");
  EXPECT_NE(error_of([&] { open_retriever(dir / "empty"); }).find("ecpo index build"), std::string::npos);
  ecpo::write_file_atomic(dir / "foreign" / "index.json", "{\"format\":\"other\"}");
  EXPECT_NE(error_of([&] { open_retriever(dir / "foreign"); }).find("not an ecpo retrieval index"), std::string::npos);
  ecpo::write_file_atomic(dir / "broken" / "index.json", "{not json");
  EXPECT_NE(error_of([&] { open_retriever(dir / "broken"); }).find("index.json"), std::string::npos);

  IndexOptions o;
  o.kind = "dense-exact";
  o.dim = 32;
  build_index(write_items(dir), dir / "d", o);
  auto wrong = std::make_shared<HashingEncoder>(64);
  EXPECT_NE(error_of([&] { open_retriever(dir / "d", {}, wrong); }).find("hashing-32"), std::string::npos);
  std::filesystem::remove(dir / "d" / "vectors.bin");
  EXPECT_NE(error_of([&] { open_retriever(dir / "d"); }).find("vectors"), std::string::npos);
}

TEST(RetrievalCli, IndexBuildThenRetrieveJson) {
  ecpo::test::TempDir dir;
  write_items(dir);
  auto data = (dir / "data").string(), idx = (dir / "idx").string();
  auto b = ecpo::test::run_ecpo("index build --data " + data + " --out " + idx);
  ASSERT_EQ(b.exit_code, 0) << b.out;
  EXPECT_NE(b.out.find("indexed 5 items"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("kind: bm25"), std::string::npos) << b.out;

  auto r = ecpo::test::run_ecpo("retrieve --index " + idx + " --query 'dwarves: \"elves\" AND NEAR(' -k 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::vector<json> rows;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 2u) << r.out;
  EXPECT_EQ(rows[0]["rank"], 1);
  EXPECT_EQ(rows[0]["item_id"], "B004");  // dwarves + elves
  EXPECT_EQ(rows[0]["title"], "The Silmarillion");
  EXPECT_EQ(rows[1]["rank"], 2);
  EXPECT_EQ(rows[1]["item_id"], "B001");  // dwarves only
  EXPECT_GT(rows[0]["score"].get<double>(), rows[1]["score"].get<double>());

  auto t = ecpo::test::run_ecpo("retrieve --index " + idx + " --query 'science' -k 5");
  ASSERT_EQ(t.exit_code, 0) << t.out;
  EXPECT_NE(t.out.find("item_id"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("B005"), std::string::npos) << t.out;

  auto none = ecpo::test::run_ecpo("retrieve --index " + idx + " --query '\"\" --' --json");
  EXPECT_EQ(none.exit_code, 0) << none.out;
  EXPECT_EQ(none.out, "");
}

TEST(RetrievalCli, DenseIndexEndToEnd) {
  ecpo::test::TempDir dir;
  auto items = write_items(dir);
  auto idx = (dir / "dense").string();
  auto b = ecpo::test::run_ecpo("index build --items " + items.string() + " --out " + idx +
                                " --kind dense --encoder hashing --dim 128 --hnsw-threshold 0 --hnsw-m 8"
                                " --ef-construction 50 --ef-search 16 --threads 1");
  ASSERT_EQ(b.exit_code, 0) << b.out;
  EXPECT_NE(b.out.find("dense-hnsw"), std::string::npos) << b.out;
  EXPECT_NE(b.out.find("hashing-128"), std::string::npos) << b.out;
  auto r = ecpo::test::run_ecpo("retrieve --index " + idx + " --query 'black holes and time' -k 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  json row = json::parse(r.out);
  EXPECT_EQ(row["item_id"], "B003");
  EXPECT_EQ(row["rank"], 1);
}

TEST(RetrievalCli, ErrorsAreOneLineWithAHint) {
  ecpo::test::TempDir dir;
  auto r = ecpo::test::run_ecpo("retrieve --index " + (dir / "missing").string() + " --query x");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("run 'ecpo index build"), std::string::npos) << r.out;

  auto b = ecpo::test::run_ecpo("index build --out " + (dir / "i").string());
  EXPECT_EQ(b.exit_code, 1);
  EXPECT_NE(b.out.find("--data"), std::string::npos) << b.out;

  write_items(dir);
  auto w = ecpo::test::run_ecpo("index build --data " + (dir / "data").string() + " --out " + (dir / "i").string() +
                                " --bm25-weights 1,x,2");
  EXPECT_EQ(w.exit_code, 1);
  EXPECT_NE(w.out.find("bm25-weights"), std::string::npos) << w.out;

  auto m = ecpo::test::run_ecpo("index build --data " + (dir / "nodata").string() + " --out " + (dir / "i").string());
  EXPECT_EQ(m.exit_code, 1);
  EXPECT_NE(m.out.find("items.jsonl"), std::string::npos) << m.out;
}

TEST(RetrievalIndex, OptionsFromConfigWithTypoDetection) {
  auto cfg = ecpo::Config::parse(
      "retrieval:\n  kind: dense\n  bm25:\n    weights: {title: 2.5, description: 0.5}\n"
      "  dense: {encoder: hashing, dim: 128}\n  hnsw: {threshold: 10, m: 8, ef_search: 32, threads: 1}\n");
  IndexOptions o = index_options_from_config(cfg);
  EXPECT_EQ(o.kind, "dense");
  EXPECT_EQ(o.bm25_weights.title, 2.5);
  EXPECT_EQ(o.bm25_weights.categories, 1.0);  // default kept
  EXPECT_EQ(o.bm25_weights.description, 0.5);
  EXPECT_EQ(o.dim, 128u);
  EXPECT_EQ(o.hnsw_threshold, 10u);
  EXPECT_EQ(o.hnsw.m, 8u);
  EXPECT_EQ(o.hnsw.ef_search, 32u);
  EXPECT_EQ(o.hnsw.ef_construction, 200u);
  EXPECT_EQ(index_options_from_config(ecpo::Config()).kind, "bm25");
  auto typo = ecpo::Config::parse("retrieval:\n  hnsw: {ef_serach: 32}\n");
  EXPECT_NE(error_of([&] { index_options_from_config(typo); }).find("retrieval.hnsw.ef_serach"), std::string::npos);
}

TEST(RetrievalCli, ConfigFileOverridesAndFlagsCombine) {
  ecpo::test::TempDir dir;
  auto items = write_items(dir).string();
  ecpo::write_file_atomic(dir / "cfg.yaml", "retrieval:\n  kind: dense\n  dense: {dim: 64}\n  hnsw: {threads: 1}\n");
  auto cfg = (dir / "cfg.yaml").string();
  auto a = ecpo::test::run_ecpo("index build --items " + items + " --out " + (dir / "a").string() + " --config " + cfg +
                                " retrieval.hnsw.threshold=0");
  ASSERT_EQ(a.exit_code, 0) << a.out;
  json ma = read_index_meta(dir / "a");
  EXPECT_EQ(ma["kind"], "dense-hnsw");  // kind from the file, threshold from the override
  EXPECT_EQ(ma["dense"]["dim"], 64);
  auto b = ecpo::test::run_ecpo("index build --items " + items + " --out " + (dir / "b").string() + " --config " + cfg +
                                " --dim 32 --kind dense-exact");
  ASSERT_EQ(b.exit_code, 0) << b.out;
  json mb = read_index_meta(dir / "b");
  EXPECT_EQ(mb["kind"], "dense-exact");  // flags win over the file
  EXPECT_EQ(mb["dense"]["dim"], 32);
}

TEST(RetrievalIndex, RealAmazonItemsAreFoundByTheirOwnTitles) {
  ECPO_REQUIRE_SHARED("amazon2023_raw_sample");
  ecpo::test::TempDir dir;
  auto raw = ecpo::test::shared_data() / "amazon2023_raw_sample";
  auto imp = ecpo::test::run_ecpo("data import --source amazon2023 --reviews " + (raw / "Video_Games.jsonl").string() +
                                  " --meta " + (raw / "meta_Video_Games.jsonl").string() + " --out " +
                                  (dir / "data").string());
  ASSERT_EQ(imp.exit_code, 0) << imp.out;
  std::vector<std::pair<std::string, std::string>> items;  // (id, title)
  ecpo::JsonlReader reader(dir / "data" / "items.jsonl");
  json j;
  while (reader.next(j))
    if (!j["title"].get<std::string>().empty()) items.emplace_back(j["item_id"], j["title"]);
  ASSERT_GT(items.size(), 50u);
  for (std::string kind : {"bm25", "dense-exact"}) {
    IndexOptions o;
    o.kind = kind;
    build_index(dir / "data" / "items.jsonl", dir / kind, o);
    auto r = open_retriever(dir / kind);
    std::size_t self = 0;
    for (const auto& [id, title] : items) {
      auto hits = r->search(title, 1);
      // Success: the item itself, or an item with the very same title (real catalogues repeat titles).
      if (!hits.empty() && (hits[0].item_id == id || hits[0].title == title)) ++self;
    }
    EXPECT_GE(double(self) / double(items.size()), 0.95) << kind << ": " << self << "/" << items.size();
  }
}

TEST(RetrievalCli, BertEncoderIndexFindsAnIdenticalText) {
  // The tiny random BERT of tests/assets/model/encoder (80-word vocabulary, max 16 tokens) carries no meaning,
  // but a query equal to an item's indexed text ("title | categories") encodes to that item's exact vector,
  // so that item must come first with cosine 1.
  ecpo::test::TempDir dir;
  auto model = std::filesystem::path(ECPO_TEST_ASSETS) / "model" / "encoder" / "tiny-bert";
  auto items = write_items(dir,
                           "{\"item_id\":\"T1\",\"title\":\"dark mystery novel\",\"categories\":[\"books\"]}\n"
                           "{\"item_id\":\"T2\",\"title\":\"fun dog game\",\"categories\":[\"games\"]}\n"
                           "{\"item_id\":\"T3\",\"title\":\"science fiction movie\",\"categories\":[\"movies\"]}\n"
                           "{\"item_id\":\"T4\",\"title\":\"the cat sat on my mat\",\"categories\":[\"books\"]}\n");
  auto idx = (dir / "bert").string();
  auto b = ecpo::test::run_ecpo("index build --items " + items.string() + " --out " + idx +
                                " --kind dense --encoder bert --encoder-model " + model.string());
  ASSERT_EQ(b.exit_code, 0) << b.out;
  json meta = read_index_meta(idx);
  EXPECT_EQ(meta["dense"]["encoder"], "bert:tiny-bert");
  EXPECT_EQ(meta["dense"]["encoder_source"], model.lexically_normal().string());
  auto r = ecpo::test::run_ecpo("retrieve --index " + idx + " --query 'science fiction movie | movies' -k 4 --json");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::istringstream lines(r.out);
  std::vector<json> rows;
  for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), 4u) << r.out;
  EXPECT_EQ(rows[0]["item_id"], "T3");
  EXPECT_NEAR(rows[0]["score"].get<double>(), 1.0, 1e-5);
  EXPECT_LT(rows[1]["score"].get<double>(), 0.9999);
  // Without the model directory the hashing fallback cannot open it: the error names the encoder.
  auto bad = ecpo::test::run_ecpo("index build --items " + items.string() + " --out " + idx + "-x --kind dense --encoder bert");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find("--encoder-model"), std::string::npos) << bad.out;
}
