// The action grammar (protocol §6 [D]): one action, last ']' closes, titles with brackets, D14 stop handling.
#include <gtest/gtest.h>

#include "agent/action.h"

namespace ecpo::agent {
namespace {

TEST(ActionParse, EachKeywordCaseInsensitiveWithOptionalPrefix) {
  auto a = parse_action("Search[cozy mystery]");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type, ActionType::search);
  EXPECT_EQ(a->argument, "cozy mystery");
  EXPECT_EQ(parse_action("ask[What genre?]")->type, ActionType::ask);
  EXPECT_EQ(parse_action("RECOMMEND[Dune]")->type, ActionType::recommend);
  auto r = parse_action("  Action 12:  Response[Happy to help!]\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->type, ActionType::response);
  EXPECT_EQ(r->argument, "Happy to help!");
}

TEST(ActionParse, TitleWithBracketsUsesTheLastClosingBracket) {
  auto a = parse_action("Recommend[Dune [Book 1]]");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->argument, "Dune [Book 1]");
  auto b = parse_action("Recommend[Try \"Dune [Book 1]\" or \"Emma [Annotated]\"]");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->argument, "Try \"Dune [Book 1]\" or \"Emma [Annotated]\"");
}

TEST(ActionParse, ArgumentMaySpanLinesAndIsTrimmed) {
  auto a = parse_action("Response[ Here are two:\n1. A\n2. B ]");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->argument, "Here are two:\n1. A\n2. B");
}

TEST(ActionParse, RejectsWithAReason) {
  struct Case {
    const char* text;
    const char* why;
  } cases[] = {
      {"Ask[  ]", "empty argument"},
      {"Buy[milk]", "unknown action keyword"},
      {"Search[x] and then more", "text after"},
      {"Sure! Search[x]", "text before"},
      {"Search[x", "no closing"},
      {"Recommend[Dune [Book 1]", "unbalanced"},
      {"Recommend[a ]b [c]", "unbalanced"},
      {"I recommend Dune.", "no '['"},
      {"[Dune]", "no action keyword"},
      {"", "no '['"},
  };
  for (const auto& c : cases) {
    std::string err;
    EXPECT_FALSE(parse_action(c.text, &err)) << c.text;
    EXPECT_NE(err.find(c.why), std::string::npos) << c.text << " -> " << err;
  }
}

TEST(ActionFormat, RoundTripsAndNamesTypes) {
  for (auto t : {ActionType::search, ActionType::ask, ActionType::recommend, ActionType::response}) {
    Action a{t, "Emma [Annotated]"};
    auto back = parse_action(format_action(a));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, a);
    EXPECT_EQ(action_type_from_name(action_type_name(t)), t);
  }
  EXPECT_EQ(format_action({ActionType::search, "x y"}), "Search[x y]");
  EXPECT_FALSE(action_reaches_user(ActionType::search));
  EXPECT_TRUE(action_reaches_user(ActionType::recommend));
}

TEST(ActionStop, StopsOnlyOnABracketThatEndsALine) {
  ASSERT_EQ(action_stop_sequences(), std::vector<std::string>{"]\n"});
  // A server dropped the matched "]\n": the bracket is restored.
  EXPECT_EQ(complete_action_text("Recommend[Dune [Book 1]", "stop"), "Recommend[Dune [Book 1]]");
  EXPECT_EQ(complete_action_text("Ask[What genre?", "stop"), "Ask[What genre?]");
  // Generation ended at EOS after its ']': nothing added.
  EXPECT_EQ(complete_action_text("Recommend[Dune [Book 1]]", "stop"), "Recommend[Dune [Book 1]]");
  // Cut by max_tokens: left as it is (and then fails to parse).
  EXPECT_EQ(complete_action_text("Ask[What gen", "length"), "Ask[What gen");
}

}  // namespace
}  // namespace ecpo::agent
