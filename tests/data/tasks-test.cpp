// data/tasks: the protocol on the hand-written fixture (expected tasks worked out by hand), the random test
// rule, bad options, and the real Amazon-2023 raw sample, whose counts are re-derived here by a separate
// plain loop over the raw JSON files (not through the library) and must match exactly.
#include "data/tasks.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "data-test-util.h"
#include "data/import.h"
#include "test-support.h"
#include "util/fs.h"
#include "util/text.h"

using nlohmann::json;
using namespace ecpo::data;
using ecpo::test::data_asset;
using ecpo::test::read_rows;

namespace {
void import_fixture(const std::filesystem::path& out) {
  ImportOptions o;
  o.source = "amazon2023";
  o.reviews = {data_asset("amazon_reviews.jsonl")};
  o.meta = {data_asset("meta_Video_Games.jsonl")};
  o.out = out;
  o.on_bad = [](const ecpo::Error&) {};
  import_raw(o);
}
std::vector<std::string> ids(const std::vector<json>& rows, const char* key) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r[key].get<std::string>());
  return out;
}
}  // namespace

TEST(Tasks, FixtureProtocol) {
  ecpo::test::TempDir data, out;
  import_fixture(data.path());
  TaskBuildOptions o;
  o.data = data.path();
  o.out = out.path();
  o.min_reviews = 1;
  o.max_reviews = 100;
  TaskBuildStats s = build_tasks(o);
  // U1 (by time): B002 2★, B005 4★, B006 1★, B001 5★. "Pixel Quest - PC (Deluxe Edition)" (B005) normalises
  // like "Pixel Quest - PC" (B001), so B005 folds into B001 and U1 has one target: B001 (test).
  // U2: B004 4★ then B003 4★ → B004 test, B003 train. B003 is untitled and never merges.
  EXPECT_EQ(s.users_selected, 2u);
  EXPECT_EQ(s.test.users, 2u);
  EXPECT_EQ(s.test.tasks, 2u);
  EXPECT_EQ(s.test.items, 2u);
  EXPECT_EQ(s.train.users, 1u);
  EXPECT_EQ(s.train.tasks, 1u);
  EXPECT_EQ(s.item_db, 5u);
  EXPECT_EQ(s.duplicates_merged, 1u);
  auto test = read_rows(out / "tasks_test.jsonl");
  auto train = read_rows(out / "tasks_train.jsonl");
  EXPECT_EQ(ids(test, "task_id"), (std::vector<std::string>{"U1:B001", "U2:B004"}));
  EXPECT_EQ(ids(train, "task_id"), (std::vector<std::string>{"U2:B003"}));
  EXPECT_EQ(test[0]["source_item_id"], "B005");  // the review that made it a target named the duplicate
  EXPECT_EQ(test[0]["target_timestamp"], 1550000000000);
  EXPECT_EQ(test[0]["target_rating"], 4.0);
  EXPECT_EQ(test[0]["split"], "test");
  EXPECT_EQ(test[0]["domain"], "game");
  EXPECT_EQ(train[0]["target_index"], 1);
  EXPECT_EQ(ids(read_rows(out / "items.jsonl"), "item_id"),
            (std::vector<std::string>{"B001", "B002", "B003", "B004", "B006"}));
  auto aliases = read_rows(out / "item_aliases.jsonl");
  ASSERT_EQ(aliases.size(), 1u);
  EXPECT_EQ(aliases[0], json({{"item_id", "B005"}, {"kept_item_id", "B001"}}));
  EXPECT_EQ(read_rows(out / "users.jsonl").size(), 2u);

  // Official defaults (exactly 30 reviews) select nobody here; min 3 max 4 selects U1 only.
  ecpo::test::TempDir out2;
  o.out = out2.path();
  o.min_reviews = 3;
  o.max_reviews = 4;
  s = build_tasks(o);
  EXPECT_EQ(s.users_selected, 1u);
  EXPECT_EQ(s.test.tasks, 1u);
  EXPECT_EQ(s.train.tasks, 0u);
  EXPECT_EQ(s.item_db, 3u);  // B002, B001 (with B005 folded), B006
}

TEST(Tasks, RandomRuleIsSeededAndKeepsOneTestPerUser) {
  ecpo::test::TempDir data, a, b;
  import_fixture(data.path());
  TaskBuildOptions o;
  o.data = data.path();
  o.min_reviews = 1;
  o.max_reviews = 100;
  o.test_rule = "random";
  o.seed = 9;
  o.out = a.path();
  TaskBuildStats s = build_tasks(o);
  o.out = b.path();
  build_tasks(o);
  EXPECT_EQ(ecpo::read_file(a / "tasks_test.jsonl"), ecpo::read_file(b / "tasks_test.jsonl"));
  EXPECT_EQ(s.test.tasks, 2u);
  EXPECT_EQ(s.train.tasks, 1u);
  for (const auto& t : read_rows(a / "tasks_test.jsonl")) EXPECT_EQ(t["test_rule"], "random");
}

TEST(Tasks, BadOptions) {
  ecpo::test::TempDir data, out;
  import_fixture(data.path());
  TaskBuildOptions o;
  o.data = data.path();
  o.out = data.path();
  EXPECT_THROW(build_tasks(o), ecpo::Error);  // would overwrite items.jsonl
  o.out = out.path();
  o.test_rule = "last";
  EXPECT_THROW(build_tasks(o), ecpo::Error);
  o.test_rule = "first";
  o.min_reviews = 5;
  o.max_reviews = 2;
  EXPECT_THROW(build_tasks(o), ecpo::Error);
  o.min_reviews = 1;
  o.data = out / "nothing-here";
  EXPECT_THROW(build_tasks(o), ecpo::Error);
  EXPECT_FALSE(std::filesystem::exists(out / "tasks_test.jsonl"));
}

namespace {
// The protocol re-derived with plain loops over the raw files (first meta record per parent_asin wins).
struct Expected {
  std::size_t selected = 0, train_users = 0, train_tasks = 0, test_users = 0, item_db = 0;
  std::set<std::string> test_ids, train_ids, train_items, test_items;
};
Expected count_raw(const std::vector<std::string>& categories, std::size_t lo, std::size_t hi) {
  const auto dir = ecpo::test::shared_data() / "amazon2023_raw_sample";
  std::map<std::string, std::string> title;  // parent_asin → title ("" when null)
  for (const auto& c : categories)
    for (const auto& m : read_rows(dir / ("meta_" + c + ".jsonl"))) {
      std::string id = m["parent_asin"];
      if (!title.count(id)) title[id] = m["title"].is_string() ? m["title"].get<std::string>() : "";
    }
  struct R { std::int64_t ts; std::string item; double rating; std::size_t seq; };
  std::map<std::string, std::vector<R>> users;
  std::size_t seq = 0;
  for (const auto& c : categories)
    for (const auto& r : read_rows(dir / (c + ".jsonl"))) {
      std::string item = r["parent_asin"];
      if (title.count(item)) users[r["user_id"]].push_back({r["timestamp"].get<std::int64_t>(), item, r["rating"].get<double>(), seq});
      ++seq;
    }
  Expected e;
  std::set<std::string> used;
  for (auto& [u, rs] : users)
    if (rs.size() >= lo && rs.size() <= hi) {
      ++e.selected;
      for (const auto& r : rs) used.insert(r.item);
    }
  std::map<std::string, std::string> keep, first_of_title;
  for (const auto& id : used) {
    std::string key = ecpo::normalize_title(title[id]);
    if (key.empty()) keep[id] = id;
    else keep[id] = first_of_title.emplace(key, id).first->second;
  }
  for (const auto& [id, k] : keep) e.item_db += id == k;
  for (auto& [u, rs] : users) {
    if (rs.size() < lo || rs.size() > hi) continue;
    std::sort(rs.begin(), rs.end(), [](const R& a, const R& b) {
      return a.ts != b.ts ? a.ts < b.ts : a.item != b.item ? a.item < b.item : a.seq < b.seq;
    });
    std::vector<std::string> targets;
    for (const auto& r : rs)
      if (r.rating >= 4 && std::find(targets.begin(), targets.end(), keep[r.item]) == targets.end())
        targets.push_back(keep[r.item]);
    if (targets.empty()) continue;
    ++e.test_users;
    e.test_ids.insert(u + ":" + targets[0]);
    e.test_items.insert(targets[0]);
    for (std::size_t i = 1; i < targets.size(); ++i) {
      e.train_ids.insert(u + ":" + targets[i]);
      e.train_items.insert(targets[i]);
    }
    if (targets.size() > 1) ++e.train_users;
    e.train_tasks += targets.size() - 1;
  }
  return e;
}

void check_real(const std::vector<std::string>& categories, std::size_t lo, std::size_t hi) {
  const auto dir = ecpo::test::shared_data() / "amazon2023_raw_sample";
  ecpo::test::TempDir data, out;
  ImportOptions io;
  io.source = "amazon2023";
  for (const auto& c : categories) {
    io.reviews.push_back(dir / (c + ".jsonl"));
    io.meta.push_back(dir / ("meta_" + c + ".jsonl"));
  }
  io.out = data.path();
  io.strict = true;
  import_raw(io);
  TaskBuildOptions o;
  o.data = data.path();
  o.out = out.path();
  o.min_reviews = lo;
  o.max_reviews = hi;
  TaskBuildStats s = build_tasks(o);
  Expected e = count_raw(categories, lo, hi);
  EXPECT_GT(e.test_users, 0u);
  EXPECT_EQ(s.users_selected, e.selected);
  EXPECT_EQ(s.test.users, e.test_users);
  EXPECT_EQ(s.test.tasks, e.test_ids.size());
  EXPECT_EQ(s.test.items, e.test_items.size());
  EXPECT_EQ(s.train.users, e.train_users);
  EXPECT_EQ(s.train.tasks, e.train_tasks);
  EXPECT_EQ(s.train.items, e.train_items.size());
  EXPECT_EQ(s.item_db, e.item_db);
  auto test_ids = ids(read_rows(out / "tasks_test.jsonl"), "task_id");
  auto train_ids = ids(read_rows(out / "tasks_train.jsonl"), "task_id");
  EXPECT_EQ(std::set<std::string>(test_ids.begin(), test_ids.end()), e.test_ids);
  EXPECT_EQ(std::set<std::string>(train_ids.begin(), train_ids.end()), e.train_ids);
  EXPECT_EQ(read_rows(out / "items.jsonl").size(), e.item_db);
}
}  // namespace

TEST(Tasks, RealSampleVideoGamesMatchesIndependentCount) {
  ECPO_REQUIRE_SHARED("amazon2023_raw_sample");
  check_real({"Video_Games"}, 1, 1000);
}

TEST(Tasks, RealSampleAllCategoriesMatchesIndependentCount) {
  ECPO_REQUIRE_SHARED("amazon2023_raw_sample");
  std::vector<std::string> cats;
  for (const auto& f : std::filesystem::directory_iterator(ecpo::test::shared_data() / "amazon2023_raw_sample")) {
    std::string n = f.path().filename().string();
    if (ecpo::ends_with(n, ".jsonl") && !ecpo::starts_with(n, "meta_")) cats.push_back(n.substr(0, n.size() - 6));
  }
  std::sort(cats.begin(), cats.end());
  ASSERT_EQ(cats.size(), 24u);
  check_real(cats, 1, 1000);
  check_real(cats, 10, 10);  // users with exactly two categories' worth of reviews
}

TEST(Tasks, CorruptUsersFileNamesFileAndLine) {
  ecpo::test::TempDir data, out;
  import_fixture(data.path());
  std::string users = ecpo::read_file(data / "users.jsonl");
  ecpo::write_file_atomic(data / "users.jsonl", users + "{\"user_id\": \"U9\"}\n");  // no reviews field
  TaskBuildOptions o;
  o.data = data.path();
  o.out = out.path();
  o.min_reviews = 1;
  try {
    build_tasks(o);
    FAIL() << "expected an error";
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("users.jsonl:3"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(out / "tasks_train.jsonl"));
}

TEST(Tasks, FailureAfterSpillingLeavesNothingBehind) {
  // The frozen synthetic Books data imported, then a users.jsonl whose last line lacks `reviews`: with 4 KiB
  // buffers the builder has spilled many runs by then. The error names file:line and no output folder (nor
  // spill folder under --tmp) remains.
  ecpo::test::TempDir dir;
  ImportOptions io;
  io.source = "amazon2023";
  io.reviews = {data_asset("frozen_synth/book/Books.jsonl.gz")};
  io.meta = {data_asset("frozen_synth/book/meta_Books.jsonl.gz")};
  io.out = dir / "data";
  import_raw(io);
  std::string users = ecpo::read_file(dir / "data" / "users.jsonl");
  ecpo::write_file_atomic(dir / "data" / "users.jsonl", users + "{\"user_id\": \"Z\", \"reviews\": [{\"rating\": 5}]}\n");
  TaskBuildOptions o;
  o.data = dir / "data";
  o.out = dir / "tasks";
  o.tmp = dir / "scratch";
  o.memory = 4u << 10;
  o.fan_in = 3;
  try {
    build_tasks(o);
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("users.jsonl:61"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lacks field 'item_id'"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "tasks"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "scratch"), {}), 0);
  // Without the bad line the same settings succeed, and the spill folder is gone afterwards too.
  ecpo::write_file_atomic(dir / "data" / "users.jsonl", users);
  o.min_reviews = 1;
  o.max_reviews = 1000;
  TaskBuildStats s = build_tasks(o);
  EXPECT_GT(s.sort_runs, 50u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "scratch"), {}), 0);
}

TEST(Tasks, UnsortedUsersFileGivesTheSameOutputs) {
  // users.jsonl as `data import` writes it (sorted by user id) goes straight through; a shuffled copy (first
  // user out of order at some line) is sorted instead. Both must give the same files, with any buffer size.
  ecpo::test::TempDir dir;
  ImportOptions io;
  io.source = "amazon2023";
  io.reviews = {data_asset("frozen_synth/book/Books.jsonl.gz")};
  io.meta = {data_asset("frozen_synth/book/meta_Books.jsonl.gz")};
  io.out = dir / "sorted";
  import_raw(io);
  std::vector<std::string> rows;
  {
    ecpo::LineReader r(dir / "sorted" / "users.jsonl");
    std::string line;
    while (r.next(line)) rows.push_back(line);
  }
  ASSERT_EQ(rows.size(), 60u);
  std::vector<std::string> shuffled = rows;
  std::mt19937_64 rng(3);
  std::shuffle(shuffled.begin() + 5, shuffled.end(), rng);  // in order for five users, then not
  std::filesystem::create_directories(dir / "shuffled");
  std::filesystem::copy_file(dir / "sorted" / "items.jsonl", dir / "shuffled" / "items.jsonl");
  std::string text;
  for (const auto& r : shuffled) text += r + "\n\n";  // blank lines too
  ecpo::write_file_atomic(dir / "shuffled" / "users.jsonl", text);
  TaskBuildOptions o;
  o.min_reviews = 1;
  o.max_reviews = 1000;
  o.data = dir / "sorted";
  o.out = dir / "want";
  build_tasks(o);
  for (std::size_t memory : {std::size_t{128} << 20, std::size_t{4} << 10}) {
    o.data = dir / "shuffled";
    o.out = dir / ("got-" + std::to_string(memory));
    o.memory = memory;
    build_tasks(o);
    for (const char* f : {"users.jsonl", "items.jsonl", "tasks_train.jsonl", "tasks_test.jsonl", "item_aliases.jsonl"})
      EXPECT_TRUE(ecpo::read_file(o.out / f) == ecpo::read_file(dir / "want" / f)) << f << " memory " << memory;
  }
}
