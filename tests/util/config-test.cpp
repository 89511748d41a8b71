// util/config: YAML load, dotted lookups, key=value overrides with typed values, YAML round trip.
#include "util/config.h"

#include "test-support.h"
#include "util/error.h"

TEST(Config, OverridesAreTypedAndNested) {
  auto c = ecpo::Config::parse("a:\n  b: 1\n  name: x\nlist: [1, 2]\n");
  c.set_overrides({"a.b=3", "a.c.d=0.5", "flag=true", "list=[4, 5, 6]", "s=\"007\"", "t=hello world"});
  EXPECT_EQ(c.get<int>("a.b"), 3);
  EXPECT_DOUBLE_EQ(c.get<double>("a.c.d"), 0.5);
  EXPECT_TRUE(c.get<bool>("flag"));
  EXPECT_EQ(c.get<std::vector<int>>("list"), (std::vector<int>{4, 5, 6}));
  EXPECT_EQ(c.get<std::string>("s"), "007");
  EXPECT_EQ(c.get<std::string>("t"), "hello world");
  EXPECT_EQ(c.get<std::string>("a.name"), "x");
  EXPECT_EQ(c.get<int>("missing", 7), 7);
}

TEST(Config, ErrorsNameTheKeyAndLine) {
  // A missing key: its dotted name, located at the deepest enclosing key that exists (b, line 2).
  auto c = ecpo::Config::parse("a: 1\nb:\n  x: 2\n  y: [1, 2]\n", "recipe.yaml");
  try {
    c.get<int>("b.c");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_EQ(e.where(), "recipe.yaml:2");
    EXPECT_EQ(e.message(), "missing config key 'b.c'");
  }
  // A value of the wrong type: the key and the line it was written on.
  try {
    c.get<std::string>("b.y");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_EQ(e.where(), "recipe.yaml:4");
    EXPECT_NE(e.message().find("'b.y'"), std::string::npos) << e.what();
  }
  // A float where an integer is wanted is refused (nlohmann would truncate it), and so is an out-of-range one.
  auto f = ecpo::Config::parse("n: 2.5\nbig: 5000000000\n", "r.yaml");
  try {
    f.get<int>("n");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_EQ(e.where(), "r.yaml:1");
    EXPECT_NE(e.message().find("must be an integer"), std::string::npos) << e.what();
  }
  EXPECT_EQ(f.get<std::int64_t>("big"), 5000000000);
  try {
    f.get<int>("big");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_EQ(e.where(), "r.yaml:2");
    EXPECT_NE(e.message().find("out of range"), std::string::npos) << e.what();
  }
  // An override replaces the file's location for that key and everything below it.
  c.set_override("b.x=hello");
  try {
    c.get<int>("b.x");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_EQ(e.where(), "command line (b.x=...)");
  }
  EXPECT_EQ(c.where("b.y"), "recipe.yaml:4");
  EXPECT_THROW(c.set_override("novalue"), ecpo::Error);
  // A YAML syntax error: file and line.
  try {
    ecpo::Config::parse("a: [1, 2\nb: 3\n", "recipe.yaml");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_EQ(e.where().rfind("recipe.yaml:", 0), 0u) << e.what();
    EXPECT_NE(e.where(), "recipe.yaml:") << e.what();
  }
  // A mapping key that is itself a list has no string form: a located error, not yaml-cpp's bad conversion.
  try {
    ecpo::Config::parse("ok: 1\n? [a, b]\n: 3\n", "k.yaml");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_EQ(e.where(), "k.yaml:2") << e.what();
  }
}

TEST(Config, YamlRoundTripKeepsTypes) {
  auto c = ecpo::Config::parse("n: 3\nf: 0.25\nb: false\ns: \"123\"\ne: \"\"\nz: ~\nl: [a, 2]\nm: {k: v}\n");
  auto back = ecpo::Config::parse(c.to_yaml());
  EXPECT_EQ(back.root(), c.root());
  EXPECT_TRUE(back.root()["s"].is_string());
  EXPECT_TRUE(back.root()["z"].is_null());
}
