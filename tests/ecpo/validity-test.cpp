// Validity checks of rewrites (protocol §10 [D] 1–6), each reason on a hand-made candidate, and the
// token edit distance against hand counts.
#include <gtest/gtest.h>

#include "ecpo/validity.h"

namespace ecpo::pref {
namespace {

sim::ItemCatalog small_catalog() {
  std::vector<data::Item> items;
  auto add = [&](std::string id, std::string title) {
    data::Item it;
    it.item_id = std::move(id);
    it.title = std::move(title);
    it.categories = {"Books", "Mystery"};
    it.domain = "book";
    items.push_back(it);
  };
  add("i1", "The Tea Shop Murders");
  add("i2", "Winter at Gull Point");
  add("i3", "The Hobbit (Middle-earth, Book 0)");
  return sim::ItemCatalog(items);
}

Candidate ask_candidate() {
  Candidate c;
  c.pair_id = "ep/t1/s0";
  c.kind = "rule";
  c.original = "Ask[What do you like to read?]";
  c.action = agent::Action{agent::ActionType::ask, "What do you like to read?"};
  c.target_item_id = "i3";
  return c;
}

Candidate recommend_candidate() {
  Candidate c = ask_candidate();
  c.original = "Recommend[I recommend \"The Tea Shop Murders\". Would you like it?]";
  c.action = agent::Action{agent::ActionType::recommend, "I recommend \"The Tea Shop Murders\". Would you like it?"};
  c.retrieved = {"i1", "i2"};
  return c;
}

TEST(EditDistance, TokenLevelLevenshteinByHand) {
  // a b c d → a x c d e: one substitution + one insertion.
  EXPECT_EQ(token_edit_distance({"a", "b", "c", "d"}, {"a", "x", "c", "d", "e"}), 2u);
  EXPECT_EQ(token_edit_distance({}, {"a", "b"}), 2u);
  EXPECT_EQ(token_edit_distance({"a", "b"}, {}), 2u);
  EXPECT_EQ(token_edit_distance({"a", "b", "c"}, {"c", "b", "a"}), 2u);
  // "Ask[What do you like?]" = 4 tokens; the rewrite's "like?" loses the bracket (1 substitution) and two
  // words follow (2 insertions): 3 / 4.
  EXPECT_DOUBLE_EQ(edit_ratio("Ask[What do you like?]", "Ask[What do you like? Any genre?]"), 0.75);
  // Whitespace differences are not edits.
  EXPECT_DOUBLE_EQ(edit_ratio("Ask[a  b]", "Ask[a b]"), 0.0);
}

TEST(QuotedSpans, StraightAndCurlyQuotesInOrder) {
  auto s = quoted_spans("Try \xE2\x80\x9C" "Winter at Gull Point\xE2\x80\x9D or \"The Tea Shop Murders\" and \"  \".");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0], "Winter at Gull Point");
  EXPECT_EQ(s[1], "The Tea Shop Murders");
}

TEST(Validity, AcceptsALimitedEditOfTheSameType) {
  auto cat = small_catalog();
  Verdict v = check_rewrite(ask_candidate(), "Ask[What do you like to read? Any genre?]", &cat, {});
  EXPECT_TRUE(v.ok) << v.reason << ": " << v.detail;
  // Original tokens [Ask[What, do, you, like, to, read?]] (6); rewrite [..., read?, Any, genre?]]:
  // "read?]" → "read?" (1 substitution) + 2 insertions = 3 edits → 3 / 6.
  EXPECT_DOUBLE_EQ(v.edit_ratio, 0.5);
}

TEST(Validity, EachReasonInCheckOrder) {
  auto cat = small_catalog();
  ValidityOptions o;
  o.max_edit_ratio = 0.8;
  auto reason = [&](const Candidate& c, const std::string& r) { return check_rewrite(c, r, &cat, o).reason; };
  EXPECT_EQ(reason(ask_candidate(), "What do you like?"), "not_one_action");
  EXPECT_EQ(reason(ask_candidate(), "Ask[one] Ask[two]"), "not_one_action");
  EXPECT_EQ(reason(ask_candidate(), "Response[What do you like to read?]"), "type_changed");
  EXPECT_EQ(reason(ask_candidate(), "  Ask[What do you  like to read?]  "), "unchanged");
  EXPECT_EQ(reason(ask_candidate(), "Ask[Tell me please which genres authors themes and settings you enjoy most]"),
            "edit_too_large");
  EXPECT_EQ(reason(ask_candidate(), "Ask[What do you like to read? The Hobbit?]"), "target_leak");
  EXPECT_EQ(reason(recommend_candidate(), "Recommend[I recommend \"The Tea Shop Murders\" or \"Dune\". Would you like it?]"),
            "unknown_title");
  // A known title from the database (fuzzy, case and punctuation forgiven) passes.
  EXPECT_TRUE(check_rewrite(recommend_candidate(),
                            "Recommend[I recommend \"The Tea Shop Murders\" or \"winter at gull point\". Would you like it?]",
                            &cat, o)
                  .ok);
  // Without quotes, a Recommend must still name some known item.
  EXPECT_EQ(reason(recommend_candidate(), "Recommend[I recommend something cozy. Would you like it?]"), "unknown_title");
}

TEST(Validity, TargetNamedByTheOriginalIsNotALeak) {
  auto cat = small_catalog();
  Candidate c = ask_candidate();
  c.original = "Ask[Have you read The Hobbit?]";
  c.action = agent::Action{agent::ActionType::ask, "Have you read The Hobbit?"};
  EXPECT_TRUE(check_rewrite(c, "Ask[Have you read The Hobbit already?]", &cat, {}).ok);
}

TEST(Validity, EditRatioBoundIsConfigurable) {
  auto cat = small_catalog();
  ValidityOptions tight;
  tight.max_edit_ratio = 0.2;
  EXPECT_EQ(check_rewrite(ask_candidate(), "Ask[What do you like to read? A genre?]", &cat, tight).reason, "edit_too_large");
  ValidityOptions loose;
  loose.max_edit_ratio = 0.5;
  EXPECT_TRUE(check_rewrite(ask_candidate(), "Ask[What do you like to read? A genre?]", &cat, loose).ok);
}

TEST(Validity, FreeTextRepliesSkipTheGrammarChecks) {
  auto cat = small_catalog();
  Candidate c;
  c.kind = "generate";
  c.original = "What do you like to read?";
  EXPECT_TRUE(check_rewrite(c, "What do you like to read? Any genre?", &cat, {}).ok);
  EXPECT_EQ(check_rewrite(c, "What do you like to read?", &cat, {}).reason, "unchanged");
}

}  // namespace
}  // namespace ecpo::pref
