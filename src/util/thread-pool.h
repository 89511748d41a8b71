// A fixed-size thread pool: submit() returns a std::future; parallel_for() splits [0, n) over the workers
// and rethrows the first exception. Destruction drains the queue. Used by simulation and import stages.
#pragma once
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <future>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

namespace ecpo {

class ThreadPool {
 public:
  explicit ThreadPool(std::size_t threads = 0);  // 0 → std::thread::hardware_concurrency()
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t size() const { return workers_.size(); }

  template <typename F>
  auto submit(F&& f) -> std::future<decltype(f())> {
    using R = decltype(f());
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(f));
    std::future<R> fut = task->get_future();
    enqueue([task] { (*task)(); });
    return fut;
  }

  // Runs body(i) for i in [0, n) on the pool; blocks until done; rethrows the first exception.
  void parallel_for(std::size_t n, const std::function<void(std::size_t)>& body);

 private:
  void enqueue(std::function<void()> job);
  void run();
  std::vector<std::thread> workers_;
  std::queue<std::function<void()>> jobs_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
};

}  // namespace ecpo
