// llm/endpoint-pool, directly (no HTTP): least-loaded choice with round-robin ties, per-URL concurrency caps
// shared across pools through the registry (the smaller limit wins), blocking when full and waking on release,
// `avoid` steering a retry elsewhere, the failure cooldown, and base-URL normalisation.
#include "llm/endpoint-pool.h"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "test-support.h"
#include "util/error.h"

using namespace ecpo::llm;

TEST(EndpointPool, LeastLoadedWithRoundRobinTies) {
  EndpointRegistry reg;
  EndpointPool pool(reg, {"http://a/v1", "http://b/v1", "http://c/v1"}, 4);
  // All idle: ties go round-robin a, b, c.
  auto l0 = pool.acquire();
  auto l1 = pool.acquire();
  auto l2 = pool.acquire();
  EXPECT_EQ(l0.index(), 0u);
  EXPECT_EQ(l1.index(), 1u);
  EXPECT_EQ(l2.index(), 2u);
  l1.release();  // b is now the least loaded (0/4 against 1/4)
  auto l3 = pool.acquire();
  EXPECT_EQ(l3.index(), 1u);
  EXPECT_EQ(pool.in_flight(0), 1);
  EXPECT_EQ(pool.in_flight(1), 1);
  EXPECT_EQ(l3.base_url(), "http://b/v1");
}

TEST(EndpointPool, CapsAreSharedPerUrlAndTheSmallerWins) {
  EndpointRegistry reg;
  EndpointPool a(reg, {"http://x/v1"}, 3);
  EndpointPool b(reg, {"http://x/v1"}, 2);  // the same server: one limit, now 2
  auto l1 = a.acquire();
  auto l2 = b.acquire();
  EXPECT_EQ(a.in_flight(0), 2);
  EXPECT_EQ(b.in_flight(0), 2);  // one counter for the URL
  // Full: a third acquire blocks until a lease is released.
  auto third = std::async(std::launch::async, [&] { return a.acquire().index(); });
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  l1.release();
  ASSERT_EQ(third.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(third.get(), 0u);
}

TEST(EndpointPool, NeverMoreInFlightThanTheCap) {
  EndpointRegistry reg;
  EndpointPool pool(reg, {"http://a/v1", "http://b/v1"}, 3);
  std::atomic<int> now[2] = {0, 0};
  std::atomic<int> worst{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 16; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto l = pool.acquire();
        int n = ++now[l.index()];
        int w = worst.load();
        while (n > w && !worst.compare_exchange_weak(w, n)) {
        }
        std::this_thread::yield();
        --now[l.index()];
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_LE(worst.load(), 3);
  EXPECT_GE(worst.load(), 1);
  EXPECT_EQ(pool.in_flight(0) + pool.in_flight(1), 0);
}

TEST(EndpointPool, AvoidAndCooldownSteerAwayButNeverStarve) {
  EndpointRegistry reg;
  EndpointPool pool(reg, {"http://a/v1", "http://b/v1"}, 4, /*cooldown_ms=*/60000);
  {
    auto l = pool.acquire(/*avoid=*/0);
    EXPECT_EQ(l.index(), 1u);  // a retry goes to the other server
  }
  {
    auto l = pool.acquire();
    ASSERT_EQ(l.index(), 0u);
    l.mark_failed();  // a is cooling down for a minute
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(pool.acquire().index(), 1u);
  // Only the sick one has room: it is used rather than waiting.
  std::vector<EndpointLease> hold;
  for (int i = 0; i < 4; ++i) hold.push_back(pool.acquire());
  for (const auto& l : hold) EXPECT_EQ(l.index(), 1u);
  EXPECT_EQ(pool.acquire().index(), 0u);
  // A single endpoint ignores avoid and cooldown.
  EndpointPool one(reg, {"http://solo/v1"}, 1, 60000);
  auto s = one.acquire(0);
  s.mark_failed();
  s.release();
  EXPECT_EQ(one.acquire(0).index(), 0u);
}

TEST(EndpointPool, UrlsAreNormalisedAndChecked) {
  EXPECT_EQ(normalize_base_url(" http://h:1/v1/ ", "r"), "http://h:1/v1");
  EXPECT_EQ(normalize_base_url("https://api.openai.com/v1", "r"), "https://api.openai.com/v1");
  EXPECT_THROW(normalize_base_url("ftp://h/v1", "r"), ecpo::Error);
  EXPECT_THROW(normalize_base_url("http://", "r"), ecpo::Error);
  EndpointRegistry reg;
  EXPECT_THROW(EndpointPool(reg, {}, 4), ecpo::Error);
}
