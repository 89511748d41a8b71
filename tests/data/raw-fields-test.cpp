// data/raw-fields: price strings and numbers, details as object or text, Python-literal Yelp attributes,
// UTC date parsing (expected values computed with Python's calendar.timegm), category/domain from paths.
#include "data/raw-fields.h"

#include <gtest/gtest.h>

using nlohmann::json;
using namespace ecpo::data;

TEST(RawFields, PriceAcceptsNumbersAndCurrencyStrings) {
  EXPECT_EQ(parse_price(json(12.99)), 12.99);
  EXPECT_EQ(parse_price(json(7)), 7.0);
  EXPECT_EQ(parse_price(json("12.99")), 12.99);
  EXPECT_EQ(parse_price(json(" $12.99 ")), 12.99);
  EXPECT_EQ(parse_price(json("$1,299.00")), 1299.0);
  EXPECT_EQ(parse_price(json("0.00")), 0.0);  // free items keep a price of 0
}

TEST(RawFields, PriceUnknownValuesAreNull) {
  for (const json& v : {json(nullptr), json(""), json("None"), json("null"), json("N/A"), json("from 5.99"),
                        json("5.99 - 9.99"), json(-3.0), json("-3"), json::array(), json("$")})
    EXPECT_FALSE(parse_price(v).has_value()) << v.dump();
}

TEST(RawFields, PythonLiterals) {
  EXPECT_EQ(parse_python_literal("True"), json(true));
  EXPECT_EQ(parse_python_literal("False"), json(false));
  EXPECT_EQ(parse_python_literal("None"), json(nullptr));
  EXPECT_EQ(parse_python_literal("u'free'"), json("free"));
  EXPECT_EQ(parse_python_literal("'paid'"), json("paid"));
  EXPECT_EQ(parse_python_literal("\"it's\""), json("it's"));
  EXPECT_EQ(parse_python_literal("2"), json(2));
  EXPECT_EQ(parse_python_literal("2.5"), json(2.5));
  EXPECT_EQ(parse_python_literal("{'garage': False, 'street': True, 'lot': None}"),
            json({{"garage", false}, {"street", true}, {"lot", nullptr}}));
  EXPECT_EQ(parse_python_literal("{'a': {'b': [1, 'x', (2, 3)]},}"), json::parse(R"({"a":{"b":[1,"x",[2,3]]}})"));
  // Not a complete literal: the text comes back unchanged.
  EXPECT_EQ(parse_python_literal("free wifi"), json("free wifi"));
  EXPECT_EQ(parse_python_literal("{'a': "), json("{'a': "));
  EXPECT_EQ(parse_python_literal("Truer"), json("Truer"));
}

TEST(RawFields, DetailsObjectOrText) {
  EXPECT_EQ(parse_details(json({{"Rated", "Teen"}})), json({{"Rated", "Teen"}}));
  EXPECT_EQ(parse_details(json("{\"Rated\": \"Teen\"}")), json({{"Rated", "Teen"}}));
  EXPECT_EQ(parse_details(json("{'Rated': 'Teen'}")), json({{"Rated", "Teen"}}));
  EXPECT_EQ(parse_details(json("{}")), json::object());
  EXPECT_EQ(parse_details(json("")), json::object());
  EXPECT_EQ(parse_details(json(nullptr)), json::object());
  EXPECT_EQ(parse_details(json("not json")), json({{"details", "not json"}}));
}

TEST(RawFields, UtcDates) {
  EXPECT_EQ(parse_utc_datetime("2019-03-01 12:30:00"), 1551443400000);
  EXPECT_EQ(parse_utc_datetime("2020-02-29 23:59:59"), 1583020799000);
  EXPECT_EQ(parse_utc_datetime("2000-02-29T00:00:00Z"), 951782400000);
  EXPECT_EQ(parse_utc_datetime("2018-01-01"), 1514764800000);
  EXPECT_EQ(parse_utc_datetime("1969-12-31 23:59:59"), -1000);
  EXPECT_FALSE(parse_utc_datetime("yesterday"));
  EXPECT_FALSE(parse_utc_datetime("2019-13-01 00:00:00"));
  EXPECT_FALSE(parse_utc_datetime("2019-03-01 12:30"));
  EXPECT_EQ(format_utc_datetime(1583020799000), "2020-02-29 23:59:59");
  EXPECT_EQ(format_utc_datetime(-1000), "1969-12-31 23:59:59");
  for (std::int64_t ms : {0LL, 1551443400000LL, 4102444799000LL}) EXPECT_EQ(parse_utc_datetime(format_utc_datetime(ms)), ms);
}

TEST(RawFields, CategoryAndDomainFromPath) {
  EXPECT_EQ(category_from_path("/x/meta_Video_Games.jsonl.gz"), "Video_Games");
  EXPECT_EQ(category_from_path("Books.jsonl"), "Books");
  EXPECT_EQ(domain_for_category("Books"), "book");
  EXPECT_EQ(domain_for_category("Video_Games"), "game");
  EXPECT_EQ(domain_for_category("Kindle_Store"), "kindle_store");
}
