// data/review-fields: the SAX field extractor agrees with what a DOM lookup would give — nested keys are
// ignored, a later duplicate key wins, wrong-typed values count as absent, numeric strings are accepted.
#include "data/review-fields.h"

#include <gtest/gtest.h>

using namespace ecpo::data;

TEST(ReviewFields, AmazonTopLevelOnly) {
  ReviewFields f;
  std::string err;
  ASSERT_TRUE(parse_review_fields(
      R"({"rating": 4.0, "images": [{"user_id": "nested"}], "details": {"text": "nested"}, "title": "T",)"
      R"( "text": "body \"q\"", "asin": "A1", "parent_asin": "P1", "user_id": "U", "timestamp": 1600000000000})",
      true, f, err));
  EXPECT_TRUE(f.is_object);
  EXPECT_EQ(f.user_id, "U");
  EXPECT_EQ(f.item_id, "P1");
  EXPECT_EQ(f.asin, "A1");
  EXPECT_EQ(f.title, "T");
  EXPECT_EQ(f.text, "body \"q\"");
  EXPECT_EQ(f.rating, 4.0);
  EXPECT_EQ(f.timestamp, 1600000000000);
}

TEST(ReviewFields, DuplicatesTypesAndStrings) {
  ReviewFields f;
  std::string err;
  ASSERT_TRUE(parse_review_fields(R"({"user_id": "a", "user_id": "b", "rating": "3.5", "timestamp": "17"})", true, f, err));
  EXPECT_EQ(f.user_id, "b");
  EXPECT_EQ(f.rating, 3.5);
  EXPECT_EQ(f.timestamp, 17);
  ASSERT_TRUE(parse_review_fields(R"({"user_id": 5, "rating": null, "timestamp": "soon", "parent_asin": "P"})", true, f, err));
  EXPECT_FALSE(f.has_user);
  EXPECT_FALSE(f.rating);
  EXPECT_FALSE(f.timestamp);
  EXPECT_TRUE(f.has_item);  // reset between lines: nothing carried over from the previous call
  ASSERT_TRUE(parse_review_fields(R"({"business_id": "b", "stars": 5, "date": "2020-01-01 00:00:00", "rating": 1})", false, f, err));
  EXPECT_EQ(f.item_id, "b");
  EXPECT_EQ(f.rating, 5.0);  // Yelp reads `stars`, never `rating`
  EXPECT_EQ(f.date, "2020-01-01 00:00:00");
}

TEST(ReviewFields, MalformedAndNonObject) {
  ReviewFields f;
  std::string err;
  EXPECT_FALSE(parse_review_fields(R"({"user_id": "a", )", true, f, err));
  EXPECT_NE(err.find("parse error"), std::string::npos) << err;
  EXPECT_FALSE(parse_review_fields(R"({"a": 1} trailing)", true, f, err));
  ASSERT_TRUE(parse_review_fields("[1, 2]", true, f, err));
  EXPECT_FALSE(f.is_object);
}
