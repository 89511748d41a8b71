// util/json-text: the direct JSON appenders must produce exactly nlohmann's dump() bytes (the reference),
// since users.jsonl and synthetic review lines are written with them.
#include "util/json-text.h"

#include <gtest/gtest.h>

using namespace ecpo;

TEST(JsonText, StringsMatchNlohmann) {
  for (std::string s : {std::string(""), std::string("plain"), std::string("quote \" and \\ backslash"),
                        std::string("tab\tnl\ncr\rbs\bff\f"), std::string("ctrl \x01\x1f end"),
                        std::string("caf\xC3\xA9 \xF0\x9F\x98\x80 \xE4\xB8\xAD"), std::string("del \x7f"),
                        std::string("nul \0 inside", 13)}) {
    std::string out;
    append_json_string(out, s);
    EXPECT_EQ(out, nlohmann::json(s).dump()) << s;
  }
}

TEST(JsonText, NumbersMatchNlohmann) {
  for (double v : {0.0, 1.0, 5.0, 4.5, 3.3, 12.99, 1299.0, 0.1, 1e-3, 123456.789, -2.5, 1e20, 1e-7, 33.99}) {
    std::string out;
    append_json_double(out, v);
    EXPECT_EQ(out, nlohmann::json(v).dump()) << v;
  }
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1610553556032}, INT64_MIN, INT64_MAX}) {
    std::string out;
    append_json_int(out, v);
    EXPECT_EQ(out, nlohmann::json(v).dump());
  }
}
