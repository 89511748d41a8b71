// util/thread-pool: every index runs exactly once; the first exception propagates.
#include "util/thread-pool.h"

#include <atomic>

#include "test-support.h"

TEST(ThreadPool, ParallelForCoversEveryIndexOnce) {
  ecpo::ThreadPool pool(4);
  std::vector<std::atomic<int>> hits(1000);
  pool.parallel_for(hits.size(), [&](std::size_t i) { hits[i]++; });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  auto f = pool.submit([] { return 42; });
  EXPECT_EQ(f.get(), 42);
}

TEST(ThreadPool, ExceptionPropagates) {
  ecpo::ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(100, [](std::size_t i) {
    if (i == 37) throw std::runtime_error("boom");
  }), std::runtime_error);
}
