// llm/response-cache: what the key depends on (incl. a backend's extra request fields), replay equality,
// concurrency, single flight for identical concurrent misses (and its failure path), what is not cached.
#include "llm/response-cache.h"

#include <atomic>
#include <chrono>
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

TEST(ResponseCache, KeyCoversBackendExtras) {
  std::vector<Message> m = {{"user", "hi"}};
  ChatParams p;
  const std::string plain = ResponseCache::key_for("m", m, p);
  // No extras (null or {}) keeps the key every earlier cache file was written with.
  EXPECT_EQ(ResponseCache::key_for("m", m, p, nullptr), plain);
  EXPECT_EQ(ResponseCache::key_for("m", m, p, nlohmann::json::object()), plain);
  const std::string k20 = ResponseCache::key_for("m", m, p, {{"top_k", 20}});
  EXPECT_NE(k20, plain);
  EXPECT_NE(ResponseCache::key_for("m", m, p, {{"top_k", 40}}), k20);
  EXPECT_EQ(ResponseCache::key_for("m", m, p, {{"top_k", 20}}), k20);
}

// Two roles on the same model that differ only in extra_body must not share replies.
TEST(ResponseCache, OpenAiExtraBodySeparatesEntries) {
  FakeServer srv({});
  srv.start();
  ecpo::test::TempDir dir;
  auto cache = std::make_shared<ResponseCache>(dir / "llm.sqlite");
  auto plain_opts = test::fast_options({&srv});
  auto topk_opts = plain_opts;
  topk_opts.extra_body = {{"top_k", 20}};
  CachedChatModel plain(std::make_shared<OpenAiClient>(plain_opts), cache);
  CachedChatModel topk(std::make_shared<OpenAiClient>(topk_opts), cache);
  EXPECT_EQ(topk.key_extra(), nlohmann::json({{"top_k", 20}}));
  const std::vector<Message> q = {{"user", "recommend a novel"}};
  EXPECT_FALSE(plain.chat(q, {}).cache_hit);
  EXPECT_FALSE(topk.chat(q, {}).cache_hit);  // same model and prompt, other extra fields: a miss
  EXPECT_EQ(srv.stats().chat_requests, 2u);
  EXPECT_TRUE(plain.chat(q, {}).cache_hit);
  EXPECT_TRUE(topk.chat(q, {}).cache_hit);
  // Another client with equal extras shares the entry; an explicit extra overrides the client's.
  CachedChatModel topk2(std::make_shared<OpenAiClient>(topk_opts), cache);
  EXPECT_TRUE(topk2.chat(q, {}).cache_hit);
  CachedChatModel forced(std::make_shared<OpenAiClient>(topk_opts), cache, CacheMode::deterministic,
                         nlohmann::json::object());
  EXPECT_TRUE(forced.chat(q, {}).cache_hit);  // {} = no extras: the plain client's entry
  EXPECT_EQ(srv.stats().chat_requests, 2u);
}

TEST(ResponseCache, ConcurrentIdenticalMissesMakeOneBackendCall) {
  FakeServerOptions so;
  so.latency_ms = 50;
  FakeServer srv(so);
  srv.start();
  ecpo::test::TempDir dir;
  auto cache = std::make_shared<ResponseCache>(dir / "llm.sqlite");
  CachedChatModel m(std::make_shared<OpenAiClient>(test::fast_options({&srv})), cache);
  const int n = 16;
  std::vector<ChatResult> out(n);
  std::atomic<int> ready{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < n; ++t)
    ts.emplace_back([&, t] {
      ready++;
      while (ready < n) std::this_thread::yield();
      out[t] = m.chat({{"user", "one question for all"}}, {});
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(srv.stats().chat_requests, 1u);
  int fresh = 0;
  for (const auto& r : out) {
    EXPECT_EQ(r.text, "Fake reply to: one question for all");
    if (!r.cache_hit) fresh++;
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(m.misses(), 1u);
  EXPECT_EQ(m.hits(), 15u);
  EXPECT_LE(m.coalesced(), 15u);  // the rest (if any) arrived after the reply was stored
  EXPECT_EQ(cache->size(), 1u);
}

namespace {
// Fails its first call after `delay_ms`; answers "ok" afterwards.
class FailsOnceModel : public ChatModel {
 public:
  explicit FailsOnceModel(int delay_ms) : delay_ms_(delay_ms) {}
  ChatResult chat(const std::vector<Message>&, const ChatParams&) override {
    int n = calls_++;
    if (n == 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
      throw ChatError(FailureKind::http_status, "role test: HTTP 500", 500, 3, "mem://x");
    }
    ChatResult r;
    r.text = "ok";
    r.finish_reason = "stop";
    return r;
  }
  std::string model_name() const override { return "fails-once"; }
  int calls() const { return calls_; }

 private:
  int delay_ms_;
  std::atomic<int> calls_{0};
};
}  // namespace

TEST(ResponseCache, FailedFlightReachesItsWaitersAndLaterCallsTryAgain) {
  ecpo::test::TempDir dir;
  auto cache = std::make_shared<ResponseCache>(dir / "llm.sqlite");
  auto inner = std::make_shared<FailsOnceModel>(150);
  CachedChatModel m(inner, cache);
  const int n = 8;
  std::atomic<int> errors{0}, oks{0}, ready{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < n; ++t)
    ts.emplace_back([&] {
      ready++;
      while (ready < n) std::this_thread::yield();
      try {
        EXPECT_EQ(m.chat({{"user", "q"}}, {}).text, "ok");
        oks++;
      } catch (const ChatError& e) {
        EXPECT_EQ(e.http_status(), 500);  // the leader's own error, rethrown to each waiter
        errors++;
      }
    });
  for (auto& t : ts) t.join();  // no waiter is left hanging
  EXPECT_EQ(errors + oks, n);
  EXPECT_GE(errors, 1);
  // The failed flight stored nothing; a thread arriving after it started a second flight at most.
  EXPECT_LE(inner->calls(), 2);
  auto r = m.chat({{"user", "q"}}, {});
  EXPECT_EQ(r.text, "ok");
  EXPECT_EQ(inner->calls(), 2);  // exactly one successful backend call, then replays
  EXPECT_EQ(cache->size(), 1u);
}

// The streaming contract (ChatParams::on_delta) through the HTTP client and the cache: a reply that is not
// streamed token by token — an HTTP reply, a cache hit — reaches on_delta once, whole.
TEST(ResponseCache, OnDeltaGetsHttpRepliesAndCacheHitsWhole) {
  FakeServer srv({});
  srv.start();
  ecpo::test::TempDir dir;
  auto cache = std::make_shared<ResponseCache>(dir / "llm.sqlite");
  CachedChatModel m(std::make_shared<OpenAiClient>(test::fast_options({&srv})), cache);
  for (int call = 0; call < 2; ++call) {
    std::vector<std::string> pieces;
    ChatParams p;
    p.on_delta = [&](std::string_view d) {
      pieces.emplace_back(d);
      return true;
    };
    auto r = m.chat({{"user", "stream me a title"}}, p);
    EXPECT_EQ(r.cache_hit, call == 1);
    ASSERT_EQ(pieces.size(), 1u) << "call " << call;
    EXPECT_EQ(pieces[0], r.text);
    EXPECT_FALSE(r.text.empty());
  }
  EXPECT_EQ(srv.stats().chat_requests, 1u);
}
