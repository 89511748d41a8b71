// Title matching (§8.3): indel and token-sort ratios against hand-computed values, whole-word and fuzzy
// matches, and the false positives the matcher must avoid (D4, near-duplicate series titles).
#include <gtest/gtest.h>

#include "sim/title-match.h"

namespace ecpo::sim {
namespace {

TEST(IndelRatio, HandComputed) {
  // kitten / sitting: LCS "ittn" = 4 → 2·4 / (6 + 7) = 0.61538 (rapidfuzz fuzz.ratio = 61.54).
  EXPECT_NEAR(indel_ratio("kitten", "sitting"), 8.0 / 13.0, 1e-12);
  EXPECT_DOUBLE_EQ(indel_ratio("", ""), 1.0);
  EXPECT_DOUBLE_EQ(indel_ratio("abc", ""), 0.0);
  EXPECT_DOUBLE_EQ(indel_ratio("abc", "abc"), 1.0);
}

TEST(TokenSortRatio, ForgivesOrderNotMissingWords) {
  EXPECT_DOUBLE_EQ(token_sort_ratio("new york mets", "mets new york"), 1.0);
  // "a b" vs "a b c": sorted "a b" / "a b c": LCS 3 → 6 / 8.
  EXPECT_DOUBLE_EQ(token_sort_ratio("a b", "a b c"), 0.75);
  EXPECT_DOUBLE_EQ(token_sort_ratio("", "x"), 0.0);
}

TEST(TitleVariants, FullAndMainTitle) {
  auto v = title_variants("The Hobbit: There and Back Again (Lord of the Rings, Book 0)");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], "the hobbit there and back again");
  EXPECT_EQ(v[1], "the hobbit");
  // A one-word main title is not used alone (too easy to hit by chance).
  EXPECT_EQ(title_variants("Dune: Messiah").size(), 1u);
}

TEST(MatchTitle, WholeWordsAfterNormalisation) {
  auto m = match_title_in_text("You will love “THE HOBBIT” — truly!", "The Hobbit (Book 1)");
  EXPECT_TRUE(m.exact);
  EXPECT_DOUBLE_EQ(m.score, 1.0);
  EXPECT_TRUE(text_names_title("I recommend The Silent Garden.", "The Silent Garden"));
  EXPECT_TRUE(text_names_title("Enders Game is great", "Ender's Game"));
  EXPECT_TRUE(text_names_title("Try The Hobbit, it is short.", "The Hobbit: There and Back Again"));
}

TEST(MatchTitle, FuzzyWindowsTolerateSmallSlips) {
  // "gardens" vs "garden": window "the silent gardens" vs "the silent garden" = 2·17/35 = 0.971.
  auto m = match_title_in_text("How about The Silent Gardens?", "The Silent Garden");
  EXPECT_FALSE(m.exact);
  EXPECT_NEAR(m.score, 34.0 / 35.0, 1e-9);
  EXPECT_TRUE(text_names_title("Garden Silent The would suit you", "The Silent Garden"));  // word order
}

TEST(MatchTitle, AvoidsFalsePositives) {
  // D4: a short title inside another word is a substring, not a match.
  EXPECT_TRUE(substring_names_title("I like Italian food", "It"));
  EXPECT_FALSE(text_names_title("I like Italian food", "It"));
  // A different book sharing most words.
  EXPECT_FALSE(text_names_title("I recommend \"A Last Guide to Home Gardening\".", "A Complete Guide to Home Gardening"));
  EXPECT_FALSE(text_names_title("Read The Secret Garden", "The Garden"));
  EXPECT_FALSE(text_names_title("The Wheel of Time Volume 2", "The Wheel of Time Volume 1"));
  EXPECT_FALSE(text_names_title("", "The Garden"));
  EXPECT_FALSE(text_names_title("anything", ""));
}

TEST(SubstringRule, IsTheOfficialLowerCaseSubstring) {
  EXPECT_TRUE(substring_names_title("try THE HOBBIT now", "The Hobbit"));
  EXPECT_FALSE(substring_names_title("try The Hobbit: Illustrated", "The Hobbit (Illustrated)"));
}

}  // namespace
}  // namespace ecpo::sim
