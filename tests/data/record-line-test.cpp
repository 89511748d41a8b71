// data/record-line: the fast users.jsonl row reader gives what the DOM path (json::parse + user_from_json)
// gives, on usual rows and on every odd shape listed here (which must fall back, not be misread), errors
// carry the same text, and append_user_json writes the bytes of to_json(User).dump(); the fast items.jsonl
// row equals to_json(item_from_json(line)).dump() or falls back (unsorted or repeated keys, odd types).
#include "data/record-line.h"

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "util/error.h"
#include "util/jsonl.h"

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

namespace {
std::string canonical_item_row(const std::string& line) {
  return to_json(item_from_json(json::parse(line), "f:1")).dump(-1, ' ', false, json::error_handler_t::replace);
}
}  // namespace

TEST(ItemLine, FastRowEqualsTheDomRowOrFallsBack) {
  // Canonical rows (as `data import` and `tasks build` write them) take the fast path; rows with other key
  // orders, missing or extra keys, duplicate or unsorted nested keys, non-string categories, odd types fall
  // back; either way read_item_row gives to_json(item_from_json(line)).dump().
  const std::string canonical =
      R"({"attributes":{"Rated":"Teen","average_rating":4.5,"n":[1,-2,{"a":null,"b":[true,false]}],"rating_number":2,"u":123456789012345678},"categories":["Video Games","PC"],"description":"A \"retro\" game\n\u00e9","domain":"game","item_id":"B001","price":12.99,"title":"Pixel Quest"})";
  const std::string fast_ok[] = {
      canonical,
      R"({"attributes":{},"categories":[],"description":"","domain":"","item_id":"B2","price":null,"title":""})",
      R"({"attributes":{},"categories":[],"description":"","domain":"","item_id":"B2","price":12,"title":""})",
      R"({"attributes":{},"categories":[],"description":"","domain":"","item_id":"B2","price":"12.99","title":"x"})",
      R"({"attributes":{"x":1e300,"y":1e-7,"z":0.1},"categories":["a"],"description":"d","domain":"g","item_id":"B3","price":1.5e2,"title":"t"})",
  };
  const std::string fallback[] = {
      R"({"item_id":"B001","title":"Pixel Quest"})",
      R"({"title":"t","item_id":"B1","attributes":{},"categories":[],"description":"","domain":"","price":null})",
      R"({"attributes":{"b":1,"a":2},"categories":[],"description":"","domain":"","item_id":"B1","price":null,"title":"t"})",
      R"({"attributes":{"a":1,"a":2},"categories":[],"description":"","domain":"","item_id":"B1","price":null,"title":"t"})",
      R"({"attributes":{},"categories":["a",3,null],"description":"","domain":"","item_id":"B1","price":null,"title":"t"})",
      R"({"attributes":[],"categories":[],"description":"","domain":"","item_id":"B1","price":null,"title":"t"})",
      R"({"attributes":{},"categories":[],"description":5,"domain":"","item_id":"B1","price":null,"title":"t"})",
      R"({"attributes":{},"categories":[],"description":"","domain":"","item_id":"B1","price":null,"title":"t","extra":1})",
      R"({"attributes":{},"categories":[],"description":"","domain":"","item_id":"B1","price":{"v":1},"title":"t"})",
  };
  for (const auto& line : fast_ok) {
    SCOPED_TRACE(line);
    ItemRow row;
    ASSERT_TRUE(parse_item_row_fast(line, row));
    EXPECT_EQ(row.row, canonical_item_row(line));
    ItemRow full;
    read_item_row(line, "f:1", full);
    EXPECT_EQ(full.row, row.row);
  }
  ItemRow row;
  ASSERT_TRUE(parse_item_row_fast(canonical, row));
  EXPECT_EQ(row.row, canonical_item_row(canonical));  // the canonical row is its own output
  EXPECT_EQ(row.item_id, "B001");
  EXPECT_EQ(row.title, "Pixel Quest");
  EXPECT_EQ(row.domain, "game");
  for (const auto& line : fallback) {
    SCOPED_TRACE(line);
    ItemRow fast, full;
    EXPECT_FALSE(parse_item_row_fast(line, fast));
    read_item_row(line, "f:1", full);
    EXPECT_EQ(full.row, canonical_item_row(line));
    Item it = item_from_json(json::parse(line), "f:1");
    EXPECT_EQ(full.item_id, it.item_id);
    EXPECT_EQ(full.title, it.title);
    EXPECT_EQ(full.domain, it.domain);
  }
}

TEST(ItemLine, ErrorsAreThoseOfItemFromJson) {
  for (const char* line : {R"({"title":"t"})", R"({"item_id":5,"title":"t"})", R"({"item_id":"B1"})", R"([1])",
                           R"({"item_id":"B1",)"}) {
    SCOPED_TRACE(line);
    std::string want;
    try {
      json v = json::parse(line, nullptr, false);
      if (v.is_discarded()) want = "malformed JSON line";
      else item_from_json(v, "f:1");
    } catch (const ecpo::Error& e) {
      want = e.what();
    }
    ASSERT_FALSE(want.empty());
    ItemRow row;
    try {
      read_item_row(line, "f:1", row);
      FAIL();
    } catch (const ecpo::Error& e) {
      if (want == "malformed JSON line") EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
      else EXPECT_EQ(std::string(e.what()), want);
    }
  }
}

TEST(RecordLine, MutatedRowsEitherMatchTheDomPathOrFallBack) {
  // Rows written by the golden cases, mutated at random (seeded): a fast result must equal the DOM path's.
  std::vector<std::string> users, items;
  for (const char* c : {"edge", "synth-yelp", "fixture-amazon-tasks-wide"}) {
    for (auto [file, list] : {std::pair{"users.jsonl.gz", &users}, std::pair{"items.jsonl.gz", &items}}) {
      ecpo::LineReader r(std::filesystem::path(ECPO_TEST_ASSETS) / "data" / "golden" / c / file);
      std::string line;
      for (int n = 0; r.next(line) && n < 40; ++n) list->push_back(line);
    }
  }
  ASSERT_GT(users.size(), 20u);
  ASSERT_GT(items.size(), 20u);
  std::mt19937_64 rng(5);
  const char specials[] = {'"', '\\', '{', '}', '[', ']', ',', ':', '0', '5', '-', '.', 'e', 'n', 't', 'a', 'z', ' '};
  std::size_t fast_users = 0, fast_items = 0;
  for (int i = 0; i < 6000; ++i) {
    const bool is_user = i % 2 == 0;
    std::string s = (is_user ? users : items)[rng() % (is_user ? users.size() : items.size())];
    for (int e = 0; e < 2; ++e) {
      const std::size_t at = rng() % s.size();
      if (rng() % 2) s[at] = specials[rng() % sizeof specials];
      else s.insert(at, 1, specials[rng() % sizeof specials]);
    }
    if (is_user) {
      UserRow row;
      if (parse_user_row_fast(s, row)) {
        User dom = user_from_json(json::parse(s), "f:1");
        ASSERT_EQ(row.row, to_json(dom).dump()) << s;  // fast rows are already in time order
      }
      User fast;
      if (!parse_user_line_fast(s, fast)) continue;
      ++fast_users;
      User dom = user_from_json(json::parse(s), "f:1");
      std::string text;
      append_user_json(text, fast);
      ASSERT_EQ(text, to_json(dom).dump()) << s;
    } else {
      ItemRow fast;
      if (!parse_item_row_fast(s, fast)) continue;
      ++fast_items;
      ASSERT_EQ(fast.row, canonical_item_row(s)) << s;
    }
  }
  EXPECT_GT(fast_users, 300u);
  EXPECT_GT(fast_items, 300u);
}

TEST(UserRow, FastEchoOrSortedFallbackEqualsTheDomPath) {
  const std::string canonical =
      R"({"reviews":[{"item_id":"B1","rating":5.0,"text":"a \"b\"\n","timestamp":1,"title":"t\u00e9"},{"item_id":"B2","rating":4,"text":"","timestamp":1,"title":""}],"user_id":"U1"})";
  UserRow row;
  ASSERT_TRUE(parse_user_row_fast(canonical, row));
  User dom = user_from_json(json::parse(canonical), "f:1");
  EXPECT_EQ(row.row, to_json(dom).dump());
  EXPECT_EQ(row.user_id, "U1");
  ASSERT_EQ(row.reviews.size(), 2u);
  EXPECT_EQ(row.item_id(row.reviews[1]), "B2");
  EXPECT_EQ(row.reviews[1].rating, 4.0);
  EXPECT_EQ(row.reviews[1].timestamp, 1);
  const std::string others[] = {
      R"({"reviews":[{"item_id":"B1","rating":5,"text":"x","timestamp":9,"title":"t"},{"item_id":"B0","rating":2,"text":"y","timestamp":3,"title":"u"}],"user_id":"U2"})",
      R"({"user_id":"U3","reviews":[{"item_id":"B1","rating":5}]})",
      R"({"reviews":[{"rating":5,"item_id":"B1","text":"x","timestamp":9,"title":"t"}],"user_id":"U4"})",
      R"({"reviews":[{"item_id":"B1","rating":5,"text":"x","timestamp":9.5,"title":"t"}],"user_id":"U5"})",
      R"({"reviews":[],"user_id":"U6","persona":{}})",
  };
  for (const auto& line : others) {
    SCOPED_TRACE(line);
    EXPECT_FALSE(parse_user_row_fast(line, row));
    read_user_row(line, "f:1", row);
    User u = user_from_json(json::parse(line), "f:1");
    std::stable_sort(u.reviews.begin(), u.reviews.end(),
                     [](const Review& a, const Review& b) { return a.timestamp < b.timestamp; });
    EXPECT_EQ(row.row, to_json(u).dump());
    ASSERT_EQ(row.reviews.size(), u.reviews.size());
    for (std::size_t i = 0; i < u.reviews.size(); ++i) {
      EXPECT_EQ(row.item_id(row.reviews[i]), u.reviews[i].item_id);
      EXPECT_EQ(row.reviews[i].timestamp, u.reviews[i].timestamp);
    }
  }
  EXPECT_THROW(read_user_row(R"({"reviews":[{"rating":5}],"user_id":"U7"})", "f:1", row), ecpo::Error);
}
