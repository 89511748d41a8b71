// The agenda user: determinism, what it reveals (never the title), accepting only the target, the
// heuristic EC marker.
#include <gtest/gtest.h>

#include "sim/sim-test-util.h"
#include "sim/title-match.h"

namespace ecpo::sim {
namespace {

TEST(AgendaUser, RevealsAttributesAcceptsOnlyTheTarget) {
  const auto& env = test::sim_env();
  auto view = env.view(0);
  auto user = make_user_simulator("agenda", view, {}, {});
  UserStep open = user->open();
  EXPECT_EQ(open.policy, kPolicyAskForRecommendation);
  EXPECT_FALSE(text_names_title(open.utterance, view.target.title));
  Dialogue d{{"user", open.utterance, open.policy}, {"assistant", "What kind of book would you like? Any genre?", "ask"}};
  UserStep s1 = user->respond(d, 0);
  EXPECT_EQ(s1.policy, kPolicyClarify);
  ASSERT_TRUE(s1.ec);
  EXPECT_EQ(s1.ec->rater, "heuristic");
  EXPECT_FALSE(text_names_title(s1.utterance, view.target.title));
  // Asked about the genre, it names the target's category first.
  EXPECT_NE(s1.utterance.find(view.target.categories.back()), std::string::npos) << s1.utterance;
  d.push_back({"user", s1.utterance, s1.policy});
  // A wrong recommendation is rejected with a further attribute.
  const data::Item* other = nullptr;
  for (const auto& it : env.catalog->items())
    if (it.item_id != view.target.item_id && !text_names_title(it.title, view.target.title)) {
      other = &it;
      break;
    }
  ASSERT_NE(other, nullptr);
  d.push_back({"assistant", "I recommend " + other->title + ".", "recommend"});
  UserStep s2 = user->respond(d, 1);
  EXPECT_EQ(s2.policy, kPolicyFeedback);
  EXPECT_FALSE(s2.end);
  d.push_back({"user", s2.utterance, s2.policy});
  // Naming the target without recommending (a question) is not an acceptance.
  d.push_back({"assistant", "Have you read " + view.target.title + "?", "ask"});
  EXPECT_FALSE(user->respond(d, 2).end);
  d.push_back({"user", "hm", kPolicyClarify});
  d.push_back({"assistant", "Then I recommend " + view.target.title + ".", "recommend"});
  UserStep s3 = user->respond(d, 3);
  EXPECT_TRUE(s3.end);
  EXPECT_EQ(s3.policy, kPolicyEnd);
  EXPECT_EQ(user->rate(d, 3)->rater, "heuristic");
}

TEST(AgendaUser, SameSeedSameWords) {
  const auto& env = test::sim_env();
  std::vector<std::string> a, b;
  for (auto* out : {&a, &b}) {
    auto user = make_user_simulator("agenda", env.view(3), {}, {});
    Dialogue d{{"user", user->open().utterance, kPolicyAskForRecommendation}};
    out->push_back(d.back().text);
    for (int t = 0; t < 3; ++t) {
      d.push_back({"assistant", "Anything else you like?", "ask"});
      auto s = user->respond(d, t);
      out->push_back(s.utterance);
      d.push_back({"user", s.utterance, s.policy});
    }
  }
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace ecpo::sim
