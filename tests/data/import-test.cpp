// data/import: the hand-written fixtures in tests/assets/data (expected values worked out by hand from the
// fixture lines, see tests/assets/data/README.md), plain vs .gz, skip vs --strict, atomic output, and the
// shared Yelp sample (business ratings read from `stars`, never a `rating` key).
#include "data/import.h"

#include <gtest/gtest.h>

#include "data-test-util.h"
#include "test-support.h"
#include "util/fs.h"
#include "util/jsonl.h"
#include "util/text.h"

#include <set>

using nlohmann::json;
using namespace ecpo::data;
using ecpo::test::data_asset;
using ecpo::test::read_rows;

namespace {
ImportOptions amazon_fixture(const std::filesystem::path& out, const std::string& reviews = "amazon_reviews.jsonl") {
  ImportOptions o;
  o.source = "amazon2023";
  o.reviews = {data_asset(reviews)};
  o.meta = {data_asset("meta_Video_Games.jsonl")};
  o.out = out;
  o.on_bad = [](const ecpo::Error&) {};
  return o;
}
json by_id(const std::vector<json>& rows, const std::string& key, const std::string& id) {
  for (const auto& r : rows)
    if (r[key] == id) return r;
  return nullptr;
}
}  // namespace

TEST(Import, AmazonFixtureCountsAndOrder) {
  ecpo::test::TempDir dir;
  std::vector<std::string> bad;
  ImportOptions o = amazon_fixture(dir.path());
  o.on_bad = [&](const ecpo::Error& e) { bad.push_back(e.where()); };
  ImportStats s = import_raw(o);
  EXPECT_EQ(s.users, 2u);            // U1, U2 (U3 only reviewed an item missing from meta)
  EXPECT_EQ(s.reviews, 6u);
  EXPECT_EQ(s.items, 6u);            // B001..B006; B007 has no review
  EXPECT_EQ(s.skipped_reviews, 1u);  // B999
  EXPECT_EQ(s.bad_lines, 2u);        // line 5 malformed JSON, line 6 lacks user_id
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_NE(bad[0].find("amazon_reviews.jsonl:5"), std::string::npos) << bad[0];
  EXPECT_NE(bad[1].find("amazon_reviews.jsonl:6"), std::string::npos) << bad[1];

  auto users = read_rows(dir / "users.jsonl");
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0]["user_id"], "U1");
  std::vector<std::string> u1;
  for (const auto& r : users[0]["reviews"]) u1.push_back(r["item_id"]);
  // by timestamp; B005 and B006 share one, so item id breaks the tie
  EXPECT_EQ(u1, (std::vector<std::string>{"B002", "B005", "B006", "B001"}));
  EXPECT_EQ(users[0]["reviews"][3]["title"], "Great");
  EXPECT_EQ(users[0]["reviews"][3]["text"], "Loved it.");
  EXPECT_EQ(users[0]["reviews"][3]["timestamp"], 1600000000000);
  EXPECT_EQ(users[1]["user_id"], "U2");
  EXPECT_EQ(users[1]["reviews"][0]["item_id"], "B004");  // joined through `asin` (no parent_asin)
  EXPECT_EQ(users[1]["reviews"][1]["rating"], 4.0);       // "4.0" as a string
  EXPECT_EQ(users[1]["reviews"][1]["timestamp"], 1650000000000);

  auto items = read_rows(dir / "items.jsonl");
  ASSERT_EQ(items.size(), 6u);
  EXPECT_EQ(items[0]["item_id"], "B001");  // sorted by id
  json b1 = by_id(items, "item_id", "B001");
  EXPECT_EQ(b1["title"], "Pixel Quest - PC");  // the first meta record wins over the later duplicate
  EXPECT_EQ(b1["price"], 12.99);
  EXPECT_EQ(b1["categories"], json({"Video Games", "PC", "Games"}));
  EXPECT_EQ(b1["description"], "A retro adventure. Up to 4 players. Features: Co-op; 4K.");
  EXPECT_EQ(b1["attributes"]["Rated"], "Teen");  // details given as a JSON string
  EXPECT_EQ(b1["attributes"]["store"], "HexaPlay");
  EXPECT_EQ(b1["attributes"]["average_rating"], 4.5);
  EXPECT_EQ(b1["domain"], "game");
  json b2 = by_id(items, "item_id", "B002");
  EXPECT_EQ(b2["price"], 1299.0);
  EXPECT_EQ(b2["categories"], json({"Video Games"}));  // empty categories → main_category
  EXPECT_EQ(b2["attributes"]["Item Weight"], "2 pounds");  // details given as an object
  json b3 = by_id(items, "item_id", "B003");
  EXPECT_EQ(b3["title"], "");
  EXPECT_TRUE(b3["price"].is_null());
  EXPECT_EQ(b3["attributes"]["details"], "not json at all");
  EXPECT_EQ(by_id(items, "item_id", "B004")["price"], 0.0);
  EXPECT_EQ(by_id(items, "item_id", "B005")["price"], 7.5);
  EXPECT_TRUE(by_id(items, "item_id", "B006")["price"].is_null());  // "None"

  json manifest = ecpo::read_json_file(dir / "import.json");
  EXPECT_EQ(manifest["counts"]["reviews"], 6);
}

TEST(Import, GzipGivesIdenticalOutput) {
  ecpo::test::TempDir a, b;
  import_raw(amazon_fixture(a.path()));
  import_raw(amazon_fixture(b.path(), "amazon_reviews.jsonl.gz"));
  EXPECT_EQ(ecpo::read_file(a / "users.jsonl"), ecpo::read_file(b / "users.jsonl"));
  EXPECT_EQ(ecpo::read_file(a / "items.jsonl"), ecpo::read_file(b / "items.jsonl"));
}

TEST(Import, StrictFailsOnFirstBadLineAndWritesNothing) {
  ecpo::test::TempDir dir;
  ImportOptions o = amazon_fixture(dir.path());
  o.strict = true;
  try {
    import_raw(o);
    FAIL() << "expected an error";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("amazon_reviews.jsonl:5"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "items.jsonl"));
  EXPECT_FALSE(std::filesystem::exists(dir / "users.jsonl"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 0) << "temp files left behind";
}

TEST(Import, FailureKeepsPreviousOutputIntact) {
  ecpo::test::TempDir dir;
  import_raw(amazon_fixture(dir.path()));
  const std::string before = ecpo::read_file(dir / "items.jsonl");
  ImportOptions o = amazon_fixture(dir.path());
  o.strict = true;
  EXPECT_THROW(import_raw(o), ecpo::Error);
  EXPECT_EQ(ecpo::read_file(dir / "items.jsonl"), before);
}

TEST(Import, BadOptionsNameTheFlag) {
  ecpo::test::TempDir dir;
  ImportOptions o = amazon_fixture(dir.path());
  o.source = "amazon2018";
  EXPECT_THROW(import_raw(o), ecpo::Error);
  o = amazon_fixture(dir.path());
  o.meta = {dir / "missing.jsonl"};
  try {
    import_raw(o);
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.jsonl"), std::string::npos);
    EXPECT_FALSE(e.hint().empty());
  }
}

TEST(Import, YelpFixture) {
  ecpo::test::TempDir dir;
  ImportOptions o;
  o.source = "yelp";
  o.reviews = {data_asset("yelp_review.json")};
  o.meta = {data_asset("yelp_business.json")};
  o.out = dir.path();
  o.on_bad = [](const ecpo::Error&) {};
  ImportStats s = import_raw(o);
  EXPECT_EQ(s.users, 2u);
  EXPECT_EQ(s.reviews, 3u);
  EXPECT_EQ(s.items, 2u);
  EXPECT_EQ(s.skipped_reviews, 1u);  // b404
  EXPECT_EQ(s.bad_lines, 1u);        // "yesterday" is no date
  auto users = read_rows(dir / "users.jsonl");
  ASSERT_EQ(users.size(), 2u);
  EXPECT_EQ(users[0]["user_id"], "yu1");
  EXPECT_EQ(users[0]["reviews"][0]["item_id"], "b2");  // 2018 before 2019
  EXPECT_EQ(users[0]["reviews"][0]["timestamp"], 1514764800000);
  EXPECT_EQ(users[0]["reviews"][1]["timestamp"], 1551443400000);
  EXPECT_EQ(users[0]["reviews"][1]["rating"], 5.0);
  EXPECT_EQ(users[1]["reviews"][0]["timestamp"], 1583020799000);
  auto items = read_rows(dir / "items.jsonl");
  ASSERT_EQ(items.size(), 2u);
  json b1 = items[0], b2 = items[1];
  EXPECT_EQ(b1["title"], "Rosa's Taqueria");
  EXPECT_EQ(b1["categories"], json({"Restaurants", "Mexican", "Tacos"}));
  EXPECT_TRUE(b1["price"].is_null());
  EXPECT_EQ(b1["domain"], "yelp");
  EXPECT_EQ(b1["attributes"]["stars"], 4.5);
  EXPECT_EQ(b1["attributes"]["WiFi"], "free");
  EXPECT_EQ(b1["attributes"]["RestaurantsPriceRange2"], 2);
  EXPECT_TRUE(b1["attributes"]["OutdoorSeating"].is_null());
  EXPECT_EQ(b1["attributes"]["Caters"], false);
  EXPECT_EQ(b1["attributes"]["BusinessParking"], json({{"garage", false}, {"street", true}}));
  EXPECT_EQ(b1["attributes"]["city"], "Tucson");
  EXPECT_EQ(b1["attributes"]["hours"]["Monday"], "11:0-22:0");
  EXPECT_EQ(b2["categories"], json({"Cafes", "Coffee & Tea"}));  // list form of old dumps
  EXPECT_EQ(b2["attributes"]["stars"], 3.0);
  EXPECT_FALSE(b2["attributes"].contains("hours"));
}

TEST(Import, YelpSharedSampleReadsStars) {
  ECPO_REQUIRE_SHARED("yelp_open_dataset_sample");
  auto dir_in = ecpo::test::shared_data() / "yelp_open_dataset_sample";
  ecpo::test::TempDir dir;
  ImportOptions o;
  o.source = "yelp";
  o.reviews = {dir_in / "yelp_academic_dataset_review.json"};
  o.meta = {dir_in / "yelp_academic_dataset_business.json"};
  o.out = dir.path();
  ImportStats s = import_raw(o);
  EXPECT_EQ(s.reviews, 77u);  // SOURCE: only 77 reviews point to a business in the file
  EXPECT_EQ(s.reviews + s.skipped_reviews, 999u);
  EXPECT_EQ(s.bad_lines, 0u);
  auto items = read_rows(dir / "items.jsonl");
  ASSERT_EQ(items.size(), s.items);
  ASSERT_GT(items.size(), 0u);
  for (const auto& it : items) {
    ASSERT_TRUE(it["attributes"].contains("stars")) << it.dump();
    EXPECT_GT(it["attributes"]["stars"].get<double>(), 0.0) << it["item_id"];
    EXPECT_FALSE(it["title"].get<std::string>().empty());
  }
  for (const auto& u : read_rows(dir / "users.jsonl"))
    for (const auto& r : u["reviews"]) EXPECT_GE(r["rating"].get<double>(), 1.0);
}

TEST(Import, RealVideoGamesGzipEqualsPlain) {
  ECPO_REQUIRE_SHARED("amazon2023_raw_sample");
  auto in = ecpo::test::shared_data() / "amazon2023_raw_sample";
  ecpo::test::TempDir plain, gz;
  ImportOptions o;
  o.source = "amazon2023";
  o.strict = true;
  o.reviews = {in / "Video_Games.jsonl"};
  o.meta = {in / "meta_Video_Games.jsonl"};
  o.out = plain.path();
  ImportStats a = import_raw(o);
  o.reviews = {in / "Video_Games.jsonl.gz"};
  o.meta = {in / "meta_Video_Games.jsonl.gz"};
  o.out = gz.path();
  ImportStats b = import_raw(o);
  EXPECT_EQ(a.reviews, b.reviews);
  EXPECT_GT(a.reviews, 0u);
  EXPECT_EQ(ecpo::read_file(plain / "users.jsonl"), ecpo::read_file(gz / "users.jsonl"));
  EXPECT_EQ(ecpo::read_file(plain / "items.jsonl"), ecpo::read_file(gz / "items.jsonl"));
  for (const auto& it : read_rows(plain / "items.jsonl")) EXPECT_EQ(it["domain"], "game");
}

TEST(Import, BadMetaLinesAreCountedWithLocation) {
  ecpo::test::TempDir dir;
  std::string meta = ecpo::read_file(data_asset("meta_Video_Games.jsonl"));
  ecpo::write_file_atomic(dir / "meta_Video_Games.jsonl", meta + "{\"parent_asin\": \"B0X\", \n[1, 2]\n{\"title\": \"no id\"}\n");
  std::vector<std::string> bad;
  ImportOptions o = amazon_fixture(dir / "out");
  o.meta = {dir / "meta_Video_Games.jsonl"};
  o.on_bad = [&](const ecpo::Error& e) { bad.push_back(e.what()); };
  ImportStats s = import_raw(o);
  EXPECT_EQ(s.bad_lines, 2u + 3u);  // two in the reviews fixture, three appended meta lines (lines 9-11)
  EXPECT_EQ(s.items, 6u);
  ASSERT_EQ(bad.size(), 5u);
  EXPECT_NE(bad[2].find("meta_Video_Games.jsonl:9"), std::string::npos) << bad[2];
  EXPECT_NE(bad[2].find("malformed JSON"), std::string::npos) << bad[2];
  EXPECT_NE(bad[3].find("meta_Video_Games.jsonl:10"), std::string::npos) << bad[3];
  EXPECT_NE(bad[4].find("meta_Video_Games.jsonl:11"), std::string::npos) << bad[4];
  o.strict = true;
  o.reviews = {dir / "clean.jsonl"};
  ecpo::write_file_atomic(dir / "clean.jsonl", "{\"rating\": 5.0, \"parent_asin\": \"B001\", \"user_id\": \"U\", \"timestamp\": 1}\n");
  try {
    import_raw(o);
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("meta_Video_Games.jsonl:9"), std::string::npos) << e.what();
  }
}

namespace {
std::size_t entries(const std::filesystem::path& dir) {
  return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}
// The frozen synthetic Books data (tests/assets/data/frozen_synth/book: 60 users, 1,792 reviews).
ImportOptions frozen_books(const std::filesystem::path& out) {
  ImportOptions o;
  o.source = "amazon2023";
  o.reviews = {data_asset("frozen_synth/book/Books.jsonl.gz")};
  o.meta = {data_asset("frozen_synth/book/meta_Books.jsonl.gz")};
  o.out = out;
  o.strict = true;
  return o;
}
}  // namespace

TEST(Import, MinMaxReviewsKeepsUsersInRangeAndCountsTheRest) {
  // Fixture by hand: U1 has 4 joined reviews (B002, B005, B006, B001), U2 has 2 (B004, B003); U3's only review
  // names B999 (no meta), so U3 is never a user. --min-reviews 3 keeps U1 and drops U2 with its 2 reviews;
  // items.jsonl then lists U1's items only.
  ecpo::test::TempDir dir;
  ImportOptions o = amazon_fixture(dir.path());
  o.min_reviews = 3;
  ImportStats s = import_raw(o);
  EXPECT_EQ(s.users, 1u);
  EXPECT_EQ(s.reviews, 4u);
  EXPECT_EQ(s.dropped_users, 1u);
  EXPECT_EQ(s.dropped_reviews, 2u);
  EXPECT_EQ(s.skipped_reviews, 1u);
  EXPECT_EQ(s.items, 4u);
  std::vector<std::string> items;
  for (const auto& it : read_rows(dir / "items.jsonl")) items.push_back(it["item_id"]);
  EXPECT_EQ(items, (std::vector<std::string>{"B001", "B002", "B005", "B006"}));
  EXPECT_EQ(import_summary(s, o),
            "users 1, reviews 4, items 4, skipped 1 (item not in meta), bad lines 2; dropped 1 users with fewer than 3 "
            "reviews (2 reviews)");
  json manifest = ecpo::read_json_file(dir / "import.json");
  EXPECT_EQ(manifest["counts"]["dropped_users"], 1);
  EXPECT_EQ(manifest["min_reviews"], 3);

  o.min_reviews = 0;
  o.max_reviews = 2;  // now U2 stays and U1 goes
  s = import_raw(o);
  EXPECT_EQ(s.users, 1u);
  EXPECT_EQ(read_rows(dir / "users.jsonl")[0]["user_id"], "U2");
  EXPECT_EQ(s.dropped_reviews, 4u);
  EXPECT_EQ(s.items, 2u);
  EXPECT_NE(import_summary(s, o).find("more than 2 reviews (4 reviews)"), std::string::npos);
  o.min_reviews = 3;
  EXPECT_THROW(import_raw(o), ecpo::Error);  // min above max
}

TEST(Import, FilteredImportEqualsFilteringTheFullImport) {
  // The paper's protocol applied while streaming (exactly 30 reviews) must give the rows of the full import
  // whose users have exactly 30 reviews, and exactly the items those rows name, with large and with tiny
  // sort buffers.
  ecpo::test::TempDir full, dir;
  import_raw(frozen_books(full.path()));
  std::string want_users;
  std::set<std::string> named;
  for (const auto& u : read_rows(full / "users.jsonl"))
    if (u["reviews"].size() == 30) {
      want_users += u.dump() + "\n";
      for (const auto& r : u["reviews"]) named.insert(r["item_id"]);
    }
  std::string want_items;
  for (const auto& it : read_rows(full / "items.jsonl"))
    if (named.count(it["item_id"])) want_items += it.dump() + "\n";
  ASSERT_FALSE(want_users.empty());
  for (std::size_t memory : {std::size_t{128} << 20, std::size_t{4} << 10}) {
    ImportOptions o = frozen_books(dir / std::to_string(memory));
    o.min_reviews = o.max_reviews = 30;
    o.memory = memory;
    o.fan_in = 3;
    ImportStats s = import_raw(o);
    EXPECT_EQ(ecpo::read_file(dir / std::to_string(memory) / "users.jsonl"), want_users) << memory;
    EXPECT_EQ(ecpo::read_file(dir / std::to_string(memory) / "items.jsonl"), want_items) << memory;
    EXPECT_EQ(s.users + s.dropped_users, 60u);
    EXPECT_EQ(s.reviews + s.dropped_reviews, 1792u);
    EXPECT_EQ(s.items, named.size());
  }
}

TEST(Import, TempFilesLiveUnderTmpAndAreRemoved) {
  // While the import runs (observed from the bad-line callback, called during the review pass) its spill
  // folder sits under --tmp, not under --out; afterwards both hold nothing but the outputs.
  ecpo::test::TempDir dir;
  ImportOptions o = amazon_fixture(dir / "out");
  o.tmp = dir / "scratch";
  std::size_t during = 0;
  o.on_bad = [&](const ecpo::Error&) {
    for (const auto& e : std::filesystem::directory_iterator(dir / "scratch"))
      during += ecpo::starts_with(e.path().filename().string(), ".ecpo-import-");
  };
  import_raw(o);
  EXPECT_EQ(during, 2u);  // two bad lines, one folder seen each time
  EXPECT_EQ(entries(dir / "scratch"), 0u);
  EXPECT_EQ(entries(dir / "out"), 3u);  // items.jsonl, users.jsonl, import.json
}

TEST(Import, FailureAfterSpillingLeavesNothingBehind) {
  // A malformed last line under --strict, after dozens of runs were spilled (4 KiB buffers): the error names
  // the line and the output folder, created by this import, is gone again.
  ecpo::test::TempDir dir;
  std::string reviews, line;
  ecpo::LineReader r(data_asset("frozen_synth/book/Books.jsonl.gz"));
  while (r.next(line)) reviews += line + "\n";
  ecpo::write_file_atomic(dir / "Books.jsonl", reviews + "{\"rating\": 5.0,\n");
  ImportOptions o = frozen_books(dir / "out");
  o.reviews = {dir / "Books.jsonl"};
  o.memory = 4u << 10;
  try {
    import_raw(o);
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("Books.jsonl:1793"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
  // The same failure into an existing folder keeps that folder and the earlier outputs, and nothing else.
  import_raw(frozen_books(dir / "out"));
  const std::string before = ecpo::read_file(dir / "out" / "users.jsonl");
  EXPECT_THROW(import_raw(o), ecpo::Error);
  EXPECT_EQ(entries(dir / "out"), 3u);
  EXPECT_EQ(ecpo::read_file(dir / "out" / "users.jsonl"), before);
}
