// llm/response-cache: what the key depends on, replay equality, concurrency, and what is not cached.
#include "llm/response-cache.h"

#include <thread>

#include "llm-test-util.h"
#include "test-support.h"

using namespace ecpo::llm;

TEST(ResponseCache, KeyCoversModelMessagesAndSampling) {
  std::vector<Message> m = {{"user", "hi"}};
  ChatParams p;
  const std::string k = ResponseCache::key_for("m", m, p);
  EXPECT_EQ(k.size(), 64u);  // hex SHA-256
  EXPECT_EQ(k, ResponseCache::key_for("m", m, p));
  auto differs = [&](auto mutate) {
    ChatParams q = p;
    std::vector<Message> mm = m;
    std::string model = "m";
    mutate(model, mm, q);
    return ResponseCache::key_for(model, mm, q) != k;
  };
  EXPECT_TRUE(differs([](std::string& mo, auto&, auto&) { mo = "m2"; }));
  EXPECT_TRUE(differs([](auto&, std::vector<Message>& mm, auto&) { mm[0].content = "hi!"; }));
  EXPECT_TRUE(differs([](auto&, std::vector<Message>& mm, auto&) { mm[0].role = "system"; }));
  EXPECT_TRUE(differs([](auto&, auto&, ChatParams& q) { q.temperature = 0.7; }));
  EXPECT_TRUE(differs([](auto&, auto&, ChatParams& q) { q.top_p = 0.9; }));
  EXPECT_TRUE(differs([](auto&, auto&, ChatParams& q) { q.max_tokens = 10; }));
  EXPECT_TRUE(differs([](auto&, auto&, ChatParams& q) { q.seed = 1; }));
  EXPECT_TRUE(differs([](auto&, auto&, ChatParams& q) { q.stop = {"]"}; }));
  EXPECT_TRUE(differs([](auto&, auto&, ChatParams& q) { q.json_schema = {{"type", "object"}}; }));
  // Seeds 1 and 2 differ from each other too.
  ChatParams a = p, b = p;
  a.seed = 1, b.seed = 2;
  EXPECT_NE(ResponseCache::key_for("m", m, a), ResponseCache::key_for("m", m, b));
}

TEST(ResponseCache, ReplayIsExactAndFree) {
  ecpo::test::TempDir dir;
  auto cache = std::make_shared<ResponseCache>(dir / "c" / "llm.sqlite");
  auto inner = std::make_shared<test::ScriptedModel>(std::vector<std::string>{"first", "second"});
  CachedChatModel m(inner, cache);
  ChatParams p;  // temperature 0 → cacheable
  auto r1 = m.chat({{"user", "q"}}, p);
  auto r2 = m.chat({{"user", "q"}}, p);
  EXPECT_EQ(inner->calls(), 1u);
  EXPECT_FALSE(r1.cache_hit);
  EXPECT_TRUE(r2.cache_hit);
  EXPECT_EQ(r2.text, r1.text);
  EXPECT_EQ(r2.finish_reason, r1.finish_reason);
  EXPECT_EQ(r2.usage.prompt_tokens, r1.usage.prompt_tokens);
  EXPECT_EQ(r2.usage.completion_tokens, r1.usage.completion_tokens);
  // A new process (new cache object on the same file) replays too.
  auto cache2 = std::make_shared<ResponseCache>(dir / "c" / "llm.sqlite");
  auto inner2 = std::make_shared<test::ScriptedModel>(std::vector<std::string>{"other"});
  CachedChatModel m2(inner2, cache2);
  EXPECT_EQ(m2.chat({{"user", "q"}}, p).text, "first");
  EXPECT_EQ(inner2->calls(), 0u);
  EXPECT_EQ(cache2->size(), 1u);
}

TEST(ResponseCache, SamplingWithoutSeedIsNotCachedUnlessModeAll) {
  ecpo::test::TempDir dir;
  auto cache = std::make_shared<ResponseCache>(dir / "llm.sqlite");
  auto inner = std::make_shared<test::ScriptedModel>(std::vector<std::string>{"a", "b", "c", "d"});
  CachedChatModel m(inner, cache);
  ChatParams hot;
  hot.temperature = 0.8;
  EXPECT_EQ(m.chat({{"user", "q"}}, hot).text, "a");
  EXPECT_EQ(m.chat({{"user", "q"}}, hot).text, "b");  // sampled again
  hot.seed = 7;                                        // seeded → reproducible → cached
  EXPECT_EQ(m.chat({{"user", "q"}}, hot).text, "c");
  EXPECT_EQ(m.chat({{"user", "q"}}, hot).text, "c");
  CachedChatModel all(inner, cache, CacheMode::all);
  hot.seed.reset();
  EXPECT_EQ(all.chat({{"user", "q"}}, hot).text, "d");
  EXPECT_EQ(all.chat({{"user", "q"}}, hot).text, "d");
}

TEST(ResponseCache, ManyThreadsOneFile) {
  ecpo::test::TempDir dir;
  auto cache = std::make_shared<ResponseCache>(dir / "llm.sqlite");
  auto inner = std::make_shared<test::ScriptedModel>(std::vector<std::string>{"same"});
  CachedChatModel m(inner, cache);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        auto r = m.chat({{"user", "q" + std::to_string((t * 50 + i) % 100)}}, ChatParams{});
        EXPECT_EQ(r.text, "same");
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(cache->size(), 100u);
  EXPECT_EQ(m.hits() + m.misses(), 400u);
  // Once filled, every prompt replays from the file.
  auto hits = m.hits();
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(m.chat({{"user", "q" + std::to_string(i)}}, ChatParams{}).cache_hit);
  EXPECT_EQ(m.hits(), hits + 100);
}
