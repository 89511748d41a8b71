// data/user-line: the fast users.jsonl row reader gives what the DOM path (json::parse + user_from_json)
// gives, on usual rows and on every odd shape listed here (which must fall back, not be misread); errors
// carry the same text; and append_user_json writes the bytes of to_json(User).dump().
#include "data/user-line.h"

#include <gtest/gtest.h>

#include "util/error.h"

using nlohmann::json;
using namespace ecpo::data;

namespace {

const char* const kRows[] = {
    R"({"reviews":[{"item_id":"B1","rating":5.0,"text":"t","timestamp":1600000000000,"title":"x"}],"user_id":"U1"})",
    R"({"user_id":"U2","reviews":[]})",
    R"({"user_id":"U3","reviews":[{"rating":4,"item_id":"B2"},{"item_id":"B3","rating":2.5,"timestamp":-7}]})",
    R"({"user_id":"U4","persona":{"age":[1,2,{"x":null}]},"reviews":[{"item_id":"B1","rating":1,"extra":[{"a":1}],"title":null,"text":true}]})",
    R"({"user_id":"U5","reviews":[{"item_id":"B1","rating":3,"title":7,"text":{"nested":"obj"}}]})",
    R"({"user_id":"U6","reviews":[{"item_id":"B1","rating":3,"timestamp":1.6e12}]})",
    R"({"user_id":"U7","reviews":[{"item_id":"B1","rating":3,"timestamp":18446744073709551615}]})",
    R"({"user_id":"U8","user_id":"U8b","reviews":[{"item_id":"B1","rating":3}]})",
    R"({"user_id":"U9","reviews":[{"item_id":"B1","item_id":"B2","rating":3}]})",
    R"({"user_id":"caf\u00e9 \ud83d\ude00","reviews":[{"item_id":"B\"1\\","rating":3,"text":"a\nb\u0001"}]})",
    R"(  {"user_id":"U10","reviews":[{"item_id":"B1","rating":3}]}  )",
};

const char* const kBad[] = {
    R"({"user_id":"U1"})",
    R"({"reviews":[]})",
    R"({"user_id":5,"reviews":[]})",
    R"({"user_id":"U1","reviews":{}})",
    R"({"user_id":"U1","reviews":[{"rating":5}]})",
    R"({"user_id":"U1","reviews":[{"item_id":"B1"}]})",
    R"({"user_id":"U1","reviews":[{"item_id":"B1","rating":"5"}]})",
    R"({"user_id":"U1","reviews":[5]})",
    R"([1,2])",
    R"("just a string")",
    R"({"user_id":"U1","reviews":[]} trailing)",
    R"({"user_id":"U1",)",
};

std::string dom_error(const std::string& line) {
  try {
    json v = json::parse(line, nullptr, false);
    if (v.is_discarded()) return "malformed";
    user_from_json(v, "f:1");
  } catch (const ecpo::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(UserLine, SameUserAsTheDomPath) {
  for (const char* row : kRows) {
    SCOPED_TRACE(row);
    User fast, dom = user_from_json(json::parse(row), "f:1");
    read_user_line(row, "f:1", fast);
    EXPECT_EQ(to_json(fast).dump(), to_json(dom).dump());
    std::string text;
    append_user_json(text, fast);
    EXPECT_EQ(text, to_json(dom).dump());
  }
  User u;
  EXPECT_TRUE(parse_user_line_fast(kRows[0], u));  // the usual shape takes the fast path
  EXPECT_TRUE(parse_user_line_fast(kRows[3], u));  // so do unknown keys, nested values and non-string titles
  EXPECT_FALSE(parse_user_line_fast(kRows[5], u));  // a float timestamp falls back
  EXPECT_FALSE(parse_user_line_fast(kRows[7], u));  // as does a repeated key (a DOM keeps the last one)
}

TEST(UserLine, SameErrorsAsTheDomPath) {
  for (const char* row : kBad) {
    SCOPED_TRACE(row);
    User u;
    EXPECT_FALSE(parse_user_line_fast(row, u));
    const std::string want = dom_error(row);
    ASSERT_FALSE(want.empty());
    try {
      read_user_line(row, "f:1", u);
      FAIL() << "no error";
    } catch (const ecpo::Error& e) {
      const std::string got = e.what();
      EXPECT_NE(got.find("f:1"), std::string::npos) << got;
      if (want == "malformed") EXPECT_NE(got.find("malformed JSON line: parse error"), std::string::npos) << got;
      else EXPECT_EQ(got, want);
    }
  }
}
