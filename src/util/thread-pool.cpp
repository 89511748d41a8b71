// ThreadPool implementation (see thread-pool.h).
#include "util/thread-pool.h"

#include <atomic>
#include <exception>

namespace ecpo {

ThreadPool::ThreadPool(std::size_t threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  workers_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { run(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::enqueue(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push(std::move(job));
  }
  cv_.notify_one();
}

void ThreadPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
      if (jobs_.empty()) return;  // stop_ and drained
      job = std::move(jobs_.front());
      jobs_.pop();
    }
    job();
  }
}

void ThreadPool::parallel_for(std::size_t n, const std::function<void(std::size_t)>& body) {
  if (n == 0) return;
  std::atomic<std::size_t> next{0};
  std::exception_ptr first;
  std::mutex err_mu;
  std::size_t workers = std::min(n, size());
  std::vector<std::future<void>> futs;
  futs.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    futs.push_back(submit([&] {
      for (;;) {
        std::size_t i = next.fetch_add(1);
        if (i >= n) return;
        try {
          body(i);
        } catch (...) {
          std::lock_guard lock(err_mu);
          if (!first) first = std::current_exception();
          next = n;  // stop handing out work
        }
      }
    }));
  }
  for (auto& f : futs) f.get();
  if (first) std::rethrow_exception(first);
}

}  // namespace ecpo
