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
  auto c = ecpo::Config::parse("a: 1\n");
  try {
    c.get<int>("b.c");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("b.c"), std::string::npos);
  }
  EXPECT_THROW(c.set_override("novalue"), ecpo::Error);
  try {
    ecpo::Config::parse("a: [1, 2\nb: 3\n", "recipe.yaml");
    FAIL();
  } catch (const ecpo::Error& e) {
    EXPECT_NE(std::string(e.what()).find("recipe.yaml:"), std::string::npos) << e.what();
  }
}

TEST(Config, YamlRoundTripKeepsTypes) {
  auto c = ecpo::Config::parse("n: 3\nf: 0.25\nb: false\ns: \"123\"\ne: \"\"\nz: ~\nl: [a, 2]\nm: {k: v}\n");
  auto back = ecpo::Config::parse(c.to_yaml());
  EXPECT_EQ(back.root(), c.root());
  EXPECT_TRUE(back.root()["s"].is_string());
  EXPECT_TRUE(back.root()["z"].is_null());
}
