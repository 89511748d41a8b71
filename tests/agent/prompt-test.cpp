// The ActCRS prompt renderer: numbering, labels, the compact variant, variants × domains, and no
// cross-domain vocabulary in the game and yelp prompts (D15).
#include <gtest/gtest.h>

#include <filesystem>

#include "util/error.h"
#include "agent/actcrs-prompt.h"
#include "agent/agent.h"
#include "llm/prompts-dir.h"
#include "sim/prompt-template.h"
#include "util/text.h"

namespace ecpo::agent {
namespace {

data::Item item(const std::string& id, const std::string& title) {
  data::Item it;
  it.item_id = id;
  it.title = title;
  it.categories = {"Books", "Mystery"};
  it.description = std::string(300, 'x');
  return it;
}

TEST(Scratchpad, NumbersObservationsAndActionsAndEndsWithTheNextAction) {
  data::Item a = item("1", "Alpha"), b = item("2", "Beta");
  Scratchpad pad;
  pad.add_user("hi");
  pad.add_action("Ask[genre?]");
  pad.add_user("mystery");
  pad.add_action("Search[mystery]");
  pad.add_results({&a, &b});
  ActPromptOptions o;
  o.description_chars = 10;
  std::string s = render_scratchpad(pad, o);
  EXPECT_EQ(s,
            "Observation 1: [User] hi\nAction 1: Ask[genre?]\nObservation 2: [User] mystery\nAction 2: Search[mystery]\n"
            "Observation 3: [Search results]\n1. Alpha | Books > Mystery | xxxxxxxxxx…\n2. Beta | Books > Mystery | "
            "xxxxxxxxxx…\nAction 3:");
  pad.add_action("Recommend[Alpha]");
  pad.add_user("no");
  pad.add_action("Search[other]");
  pad.add_results({});
  EXPECT_TRUE(ends_with(render_scratchpad(pad, o), "Observation 5: [Search results] no books found\nAction 5:"));
}

TEST(Scratchpad, CompactKeepsOnlyTheLatestResultsInFull) {
  data::Item a = item("1", "Alpha"), b = item("2", "Beta");
  Scratchpad pad;
  pad.add_user("hi");
  pad.add_action("Search[x]");
  pad.add_results({&a, &b});
  pad.add_action("Search[y]");
  pad.add_results({&b});
  ActPromptOptions o;
  o.variant = "compact";
  std::string s = render_scratchpad(pad, o);
  EXPECT_NE(s.find("Observation 2: [Search results] Alpha; Beta\n"), std::string::npos) << s;
  EXPECT_NE(s.find("Observation 3: [Search results]\n1. Beta | Books > Mystery | "), std::string::npos) << s;
  // Compact descriptions are cut to at most 120 characters.
  EXPECT_EQ(s.find(std::string(121, 'x')), std::string::npos);
}

TEST(ActCrsPrompt, EveryVariantRendersForEveryDomainAndIsCompactEnough) {
  auto domains = sim::prompt_domains("agent");
  ASSERT_EQ(domains, (std::vector<std::string>{"book", "game", "yelp"}));
  for (const auto& d : domains)
    for (const auto& v : actcrs_prompt_variants())
      for (bool react : {false, true}) {
        Scratchpad pad;
        pad.add_user("hello");
        ActPromptOptions o;
        o.domain = d;
        o.variant = v;
        o.react = react;
        auto msgs = render_actcrs_messages(pad, o);
        ASSERT_EQ(msgs.size(), 2u);
        EXPECT_EQ(msgs[0].role, "system");
        EXPECT_NE(msgs[1].content.find("Observation 1: [User] hello"), std::string::npos);
        if (v == "compact") {
          EXPECT_LT(msgs[1].content.size(), 600u) << d;  // ~150 tokens before the scratchpad
        }
      }
  ActPromptOptions bad;
  bad.variant = "two-shot";
  EXPECT_THROW(render_actcrs_messages(Scratchpad(), bad), Error);
}

TEST(AgentPrompts, AllFilesExistForEveryAgentAndDomain) {
  for (const auto& d : sim::prompt_domains("agent"))
    for (const auto& k : agent_kinds())
      for (const auto& v : actcrs_prompt_variants())
        for (const auto& n : agent_prompt_names(k, v)) EXPECT_NO_THROW(sim::domain_prompt("agent", d, n)) << d << "/" << n;
}

// D15: a domain's prompts must not borrow another domain's vocabulary.
TEST(AgentPrompts, NoCrossDomainVocabulary) {
  const std::map<std::string, std::vector<std::string>> banned = {
      {"game", {"book", "author", "reader", "novel", "restaurant", "cuisine"}},
      {"yelp", {"book", "author", "reader", "novel", "genre", "game", "console"}},
      {"book", {"restaurant", "cuisine", "console", "video game"}}};
  for (const auto& [domain, words] : banned)
    for (const auto& e : std::filesystem::directory_iterator(llm::prompts_dir() / "agent" / domain)) {
      std::string text = to_lower_ascii(llm::load_prompt("agent/" + domain + "/" + e.path().filename().string()));
      for (const auto& w : words) EXPECT_EQ(text.find(w), std::string::npos) << e.path() << " mentions " << w;
    }
}

}  // namespace
}  // namespace ecpo::agent
