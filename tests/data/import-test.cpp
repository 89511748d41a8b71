// data/import: the hand-written fixtures in tests/assets/data (expected values worked out by hand from the
// fixture lines, see tests/assets/data/README.md), plain vs .gz, skip vs --strict, atomic output, and the
// shared Yelp sample (business ratings read from `stars`, never a `rating` key).
#include "data/import.h"

#include <gtest/gtest.h>

#include "data-test-util.h"
#include "test-support.h"
#include "util/fs.h"

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
