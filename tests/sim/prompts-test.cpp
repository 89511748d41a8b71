// Simulator prompts: every file each user kind needs exists for every domain, renders with the variables
// the code passes, and borrows no other domain's vocabulary (D15).
#include <gtest/gtest.h>

#include <filesystem>

#include "util/error.h"
#include "llm/prompts-dir.h"
#include "sim/phrase-book.h"
#include "sim/prompt-template.h"
#include "sim/user-sim.h"
#include "util/text.h"

namespace ecpo::sim {
namespace {

TEST(Template, FillsAndRejectsUnknownOrUnusedNames) {
  EXPECT_EQ(fill_template("a {{x}} b {\"json\": 1}", {{"x", "X"}}, "t"), "a X b {\"json\": 1}");
  EXPECT_THROW(fill_template("{{y}}", {{"x", "X"}}, "t"), Error);
  EXPECT_THROW(fill_template("no slot", {{"x", "X"}}, "t"), Error);
  EXPECT_THROW(fill_template("{{x", {{"x", "X"}}, "t"), Error);
}

TEST(PhraseBook, ParsesVariantsAndWords) {
  PhraseBook b = PhraseBook::parse("# c\na: one\na: two\nw: X y  z\n", "t");
  EXPECT_EQ(b.all("a").size(), 2u);
  EXPECT_EQ(b.words("w"), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_THROW(b.all("missing"), Error);
  EXPECT_THROW(PhraseBook::parse("no colon here", "t"), Error);
  EXPECT_EQ(fill_phrase("I want {{title}} now", {{"title", "Dune"}}), "I want Dune now");
}

TEST(SimPrompts, EveryUserKindHasItsFilesInEveryDomain) {
  auto domains = prompt_domains("sim");
  ASSERT_EQ(domains, (std::vector<std::string>{"book", "game", "yelp"}));
  SimOptions all;
  all.extra_raters = true;
  for (const auto& d : domains) {
    for (const auto& k : user_simulator_kinds())
      for (const auto& n : user_prompt_names(k, all)) EXPECT_NO_THROW(domain_prompt("sim", d, n)) << d << "/" << n;
    for (const char* n : {"persona-build", "persona-rules"}) EXPECT_NO_THROW(domain_prompt("sim", d, n)) << d << "/" << n;
    // The EC rater template takes exactly the dialogue and the reply — no slot for persona or target.
    EXPECT_NO_THROW(render_domain_prompt("sim", d, "ec-rater", {{"history", "h"}, {"reply", "r"}}));
  }
}

TEST(SimPrompts, NoCrossDomainVocabulary) {
  const std::map<std::string, std::vector<std::string>> banned = {
      {"game", {"book", "author", "reader", "novel", "restaurant", "cuisine"}},
      {"yelp", {"book", "author", "reader", "novel", "genre", "console"}},
      {"book", {"restaurant", "cuisine", "console", "video game"}}};
  for (const auto& [domain, words] : banned)
    for (const auto& e : std::filesystem::directory_iterator(llm::prompts_dir() / "sim" / domain)) {
      std::string text = to_lower_ascii(llm::load_prompt("sim/" + domain + "/" + e.path().filename().string()));
      for (const auto& w : words) EXPECT_EQ(text.find(w), std::string::npos) << e.path() << " mentions " << w;
    }
}

}  // namespace
}  // namespace ecpo::sim
