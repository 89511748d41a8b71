// util/text: title normalisation (NFKC, case-fold, punctuation, bracket suffixes) and UTF-8 repair.
#include "util/text.h"

#include "test-support.h"

TEST(Text, NormalizeTitle) {
  using ecpo::normalize_title;
  EXPECT_EQ(normalize_title("The Hobbit (Lord of the Rings, Book 0)"), "the hobbit");
  EXPECT_EQ(normalize_title("  THE   hobbit!! "), "the hobbit");
  EXPECT_EQ(normalize_title("Ender's Game [Paperback] (Ender Quintet)"), "enders game");
  EXPECT_EQ(normalize_title("Ｆｕｌｌｗｉｄｔｈ Ｔｉｔｌｅ"), "fullwidth title");  // NFKC
  EXPECT_EQ(normalize_title("Straße"), "strasse");                         // case-fold
  EXPECT_EQ(normalize_title("(Untitled)"), "untitled");                    // whole title bracketed: kept
  EXPECT_EQ(normalize_title("Café—Bar: 2nd Ed."), "café bar 2nd ed");
}

TEST(Text, Utf8Helpers) {
  EXPECT_TRUE(ecpo::utf8_valid("héllo"));
  EXPECT_FALSE(ecpo::utf8_valid("a\xff" "b"));
  EXPECT_EQ(ecpo::utf8_sanitize("a\xff" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(ecpo::utf8_length("héllo"), 5u);
  EXPECT_EQ(ecpo::split("a,,b", ','), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(ecpo::split("a,,b", ',', true), (std::vector<std::string>{"a", "", "b"}));
  EXPECT_EQ(ecpo::collapse_whitespace("  a \n\t b  "), "a b");
}
