// util/json-read: every error carries the source, the key path and the hint; types and ranges are checked
// before conversion (no silent truncation of 2.5 or 1e300 to an integer); syntax errors give line:column.
#include "util/json-read.h"

#include "test-support.h"
#include "util/error.h"

using ecpo::JsonAt;
using ecpo::JsonSource;
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

}  // namespace

TEST(JsonRead, PathsTypesAndRanges) {
  const json j = json::parse(R"({"a": {"b": [1, 2.5, "x", 1e300, -3, 18446744073709551615]}, "odd key": true,
                                 "s": "t", "n": null})");
  const JsonSource src{"f.json", "fix it"};
  const JsonAt root(j, src);
  JsonAt b = root.get("a").get("b");
  EXPECT_EQ(b.path(), "a.b");
  EXPECT_EQ(b.at(0).integer(0, 5), 1);
  EXPECT_EQ(error_of([&] { b.at(1).integer(); }), "f.json: a.b[1]: expected an integer, got a number (hint: fix it)");
  EXPECT_EQ(error_of([&] { b.at(2).number(); }), "f.json: a.b[2]: expected a number, got a string (hint: fix it)");
  EXPECT_EQ(error_of([&] { b.at(3).integer(); }), "f.json: a.b[3]: expected an integer, got a number (hint: fix it)");
  EXPECT_EQ(error_of([&] { b.at(4).integer(0, 10); }), "f.json: a.b[4]: -3 is out of range [0, 10] (hint: fix it)");
  EXPECT_NE(error_of([&] { b.at(5).integer(); }).find("a.b[5]: 18446744073709551615 is out of range"), std::string::npos);
  EXPECT_EQ(error_of([&] { b.at(9); }), "f.json: a.b: expected at least 10 elements, got 6 (hint: fix it)");
  EXPECT_EQ(error_of([&] { root.get("zz"); }), "f.json: zz: missing (hint: fix it)");
  EXPECT_EQ(error_of([&] { root.get("n"); }), "f.json: n: missing (hint: fix it)");  // null counts as absent
  EXPECT_FALSE(root.find("n").has_value());
  EXPECT_EQ(root.str_or("n", "dflt"), "dflt");
  EXPECT_EQ(error_of([&] { root.get("odd key").str(); }),
            "f.json: [\"odd key\"]: expected a string, got a boolean (hint: fix it)");
  EXPECT_EQ(error_of([&] { root.get("s").get("x"); }), "f.json: s: expected an object, got a string (hint: fix it)");
  EXPECT_EQ(error_of([&] { root.fail("whole file"); }), "f.json: top level: whole file (hint: fix it)");
  EXPECT_EQ(error_of([&] { root.get("s").fail("bad", "other hint"); }), "f.json: s: bad (hint: other hint)");
  EXPECT_EQ(JsonAt(json(3.0), src).integer(), 3);  // an integral float is an integer
  EXPECT_EQ(error_of([&] { JsonAt(json(0.5), src).number(1, 2); }), "f.json: top level: 0.5 is out of range [1, 2] (hint: fix it)");
}

TEST(JsonRead, IterationBuildsPathsOnlyForErrors) {
  const json j = json::parse(R"({"v": {"ok": 1, "Ġbad": "x"}, "l": [{"id": 1}, {"id": "2"}]})");
  const JsonSource src{"t.json", ""};
  const JsonAt root(j, src);
  std::string err = error_of([&] { root.get("v").each_member([](const std::string&, const JsonAt& v) { v.integer(); }); });
  EXPECT_EQ(err, "t.json: v[\"Ġbad\"]: expected an integer, got a string");
  err = error_of([&] { root.get("l").each([](const JsonAt& e) { e.get("id").integer(); }); });
  EXPECT_EQ(err, "t.json: l[1].id: expected an integer, got a string");
  int n = 0;
  root.get("l").each([&](const JsonAt& e) { n += e.is_object(); });
  EXPECT_EQ(n, 2);
}

TEST(JsonRead, SyntaxErrorsGiveLineAndColumn) {
  try {
    ecpo::parse_json_text("{\n  \"a\": 1,\n  \"b\": tru\n}", "cfg.json", "see the docs");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_EQ(e.where(), "cfg.json:3:11") << e.what();
    EXPECT_EQ(e.message().rfind("invalid JSON: ", 0), 0u) << e.what();
    EXPECT_EQ(e.hint(), "see the docs");
  }
  EXPECT_EQ(ecpo::parse_json_text("[1]", "x"), json({1}));
}

// Fuzzer find (serve-request, fuzz/README.md): a number beyond double's range is not a parse_error but
// nlohmann's out_of_range.406, and escaped every reader that caught only parse_error.
TEST(JsonRead, NumberOverflowIsALocatedError) {
  try {
    ecpo::parse_json_text(R"({"temperature": -1e3000})", "req.json");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_EQ(e.where(), "req.json");
    EXPECT_NE(e.message().find("number overflow parsing '-1e3000'"), std::string::npos) << e.what();
  }
}
