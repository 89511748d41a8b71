// Located errors for the data readers (issue #13): a record or synth template that is slightly wrong gives an
// ecpo::Error naming the file (file:line, record) and the key — never a json::type_error without a location,
// and never undefined behaviour on an out-of-range number.
#include <gtest/gtest.h>

#include "data/synth.h"
#include "data/types.h"
#include "test-support.h"
#include "util/error.h"
#include "util/fs.h"

using namespace ecpo::data;
using nlohmann::json;

namespace {

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ecpo::Error& e) {
    return e.what();
  }
  return "";
}

// The book template with one line replaced.
std::filesystem::path bad_template(const ecpo::test::TempDir& dir, const std::string& from, const std::string& to) {
  std::string text = ecpo::read_file(std::filesystem::path(ECPO_SOURCE_DIR) / "resources/synth/book.yaml");
  auto p = text.find(from);
  EXPECT_NE(p, std::string::npos) << from;
  text.replace(p, from.size(), to);
  ecpo::write_file_atomic(dir / "bad.yaml", text);
  return dir / "bad.yaml";
}

}  // namespace

TEST(DataBadInput, RecordsNameTheFileLineAndField) {
  // A timestamp beyond int64 used to be converted with undefined behaviour.
  std::string e = error_of([] { review_from_json(json::parse(R"({"item_id": "a", "rating": 4, "timestamp": 1e300})"), "u.jsonl:3"); });
  EXPECT_NE(e.find("u.jsonl:3: review field 'timestamp' is out of range"), std::string::npos) << e;
  EXPECT_EQ(review_from_json(json::parse(R"({"item_id": "a", "rating": 4, "timestamp": 1700000000000.0})"), "x").timestamp,
            1700000000000);
  // Which review of a user is bad.
  e = error_of([] {
    user_from_json(json::parse(R"({"user_id": "u", "reviews": [{"item_id": "a", "rating": 5}, {"item_id": "b"}]})"),
                   "users.jsonl:7");
  });
  EXPECT_NE(e.find("users.jsonl:7 (reviews[1]): review record lacks field 'rating'"), std::string::npos) << e;
  e = error_of([] { item_from_json(json::parse(R"({"item_id": 5, "title": "t"})"), "items.jsonl:2"); });
  EXPECT_NE(e.find("items.jsonl:2: field 'item_id' must be a string"), std::string::npos) << e;
  e = error_of([] { task_from_json(json::parse("[]"), "tasks_test.jsonl:1"); });
  EXPECT_NE(e.find("tasks_test.jsonl:1: task record is not a JSON object"), std::string::npos) << e;
}

// `data synth --templates FILE` with a value of the wrong type: the key path and the file, not a raw
// json::type_error.
TEST(DataBadInput, SynthTemplateTypesAreLocated) {
  ecpo::test::TempDir dir;
  SynthOptions o;
  o.domain = "book";
  o.users = 2;
  o.out = dir / "out";
  o.templates = bad_template(dir, "price: {min: 3.99", "price: {min: cheap");
  std::string e = error_of([&] { synthesize(o); });
  EXPECT_NE(e.find("bad.yaml: price.min: expected a number, got a string"), std::string::npos) << e;
  o.templates = bad_template(dir, "category: Books", "category: [Books]");
  e = error_of([&] { synthesize(o); });
  EXPECT_NE(e.find("bad.yaml: category: expected a string, got an array"), std::string::npos) << e;
  EXPECT_FALSE(std::filesystem::exists(dir / "out" / "Books.jsonl"));
  // Through the CLI: one line, exit 1.
  auto r = ecpo::test::run_ecpo("data synth --domain book --users 2 --out " + (dir / "cli").string() + " --templates " +
                                (dir / "bad.yaml").string());
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("category: expected a string, got an array"), std::string::npos) << r.out;
}
