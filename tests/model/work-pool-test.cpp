// WorkPool: every index of every job is visited exactly once, whatever the thread count and chunking; thousands
// of back-to-back jobs (the decode step's pattern) never mix up; a one-thread pool runs inline; pools start and
// stop cleanly many times.
#include "model/work-pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

using ecpo::model::WorkPool;

TEST(WorkPool, EveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    WorkPool pool(threads);
    EXPECT_EQ(pool.threads(), std::max(1, threads));
    std::mt19937 g(threads);
    for (int job = 0; job < 300; ++job) {
      const std::int64_t n = std::uniform_int_distribution<std::int64_t>(0, 5000)(g);
      const std::int64_t chunk = std::uniform_int_distribution<std::int64_t>(0, 300)(g);
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
      pool.run(n, chunk, [&](std::int64_t b, std::int64_t e) {
        ASSERT_LE(0, b);
        ASSERT_LT(b, e);
        ASSERT_LE(e, n);
        for (std::int64_t i = b; i < e; ++i) hits[static_cast<std::size_t>(i)]++;
      });
      for (std::int64_t i = 0; i < n; ++i)
        ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1) << "threads " << threads << " job " << job << " i " << i;
    }
  }
}

TEST(WorkPool, BackToBackJobsKeepTheirOwnWork) {
  WorkPool pool(4);
  std::vector<double> out(257);
  for (int job = 0; job < 20000; ++job) {
    const double v = job;
    pool.run(257, 3, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) out[static_cast<std::size_t>(i)] = v + static_cast<double>(i);
    });
    // every chunk of this job wrote this job's value before run() returned
    ASSERT_EQ(out[0], v);
    ASSERT_EQ(out[256], v + 256);
    ASSERT_EQ(out[128], v + 128);
  }
}

TEST(WorkPool, WorkersReallyShareTheWork) {
  WorkPool pool(2);
  std::atomic<int> other_thread{0};
  const auto me = std::this_thread::get_id();
  for (int job = 0; job < 2000 && other_thread == 0; ++job)
    pool.run(64, 1, [&](std::int64_t, std::int64_t) {
      if (std::this_thread::get_id() != me) other_thread++;
      volatile int spin = 0;
      for (int i = 0; i < 2000; ++i) spin = i;  // a little work per chunk, not optimised away
      (void)spin;
    });
  EXPECT_GT(other_thread.load(), 0);
}

TEST(WorkPool, OneThreadRunsInlineAndPoolsStopCleanly) {
  WorkPool inline_pool(1);
  const auto me = std::this_thread::get_id();
  inline_pool.run(100, 7, [&](std::int64_t, std::int64_t) { EXPECT_EQ(std::this_thread::get_id(), me); });
  for (int i = 0; i < 200; ++i) {
    WorkPool p(3);
    std::atomic<std::int64_t> sum{0};
    p.run(1000, 10, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t k = b; k < e; ++k) sum += k;
    });
    ASSERT_EQ(sum.load(), 999 * 1000 / 2);
  }
}
