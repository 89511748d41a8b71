// util/thread-pool: every index runs exactly once; the first exception propagates; destruction drains the queue.
#include "util/thread-pool.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

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

// "Destruction drains the queue": jobs still queued when the pool is destroyed all run before the destructor
// returns. One worker is held inside a job by a gate while 50 more are queued behind it; the destructor runs
// on another thread, and only then is the gate opened. A pool that dropped its queue on destruction would
// finish with 1 job run instead of 51.
TEST(ThreadPool, DestructionDrainsTheQueue) {
  std::atomic<int> ran{0};
  std::promise<void> gate_open;
  std::shared_future<void> gate = gate_open.get_future().share();
  std::promise<void> first_started;
  auto pool = std::make_unique<ecpo::ThreadPool>(1);
  pool->submit([&] {
    first_started.set_value();
    gate.wait();
    ran++;
  });
  for (int i = 0; i < 50; ++i) pool->submit([&] { ran++; });
  first_started.get_future().wait();  // the worker is inside job 0; 50 jobs wait in the queue
  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    pool.reset();
    destroyed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_FALSE(destroyed.load()) << "the destructor returned while a job was still running";
  gate_open.set_value();
  destroyer.join();
  EXPECT_EQ(ran.load(), 51);
}
