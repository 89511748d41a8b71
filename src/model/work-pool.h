// A small fork-join pool for the decode step's many short parallel loops (~50 per token, 50–500 µs each).
// Work is cut into chunks that threads CLAIM from a shared counter, and the caller works too, so a worker the OS
// has descheduled (a busy machine) never holds the caller up: its chunks are simply taken by whoever is running.
// (A static split, as at::parallel_for does, waits for every thread's share: measured slower at 2 threads than
// at 1 on a loaded 2-core machine.) Idle workers spin briefly, then sleep on a condition variable with an
// explicit sleeper count (a first version on std::atomic::wait hung in testing: a worker slept through shutdown).
// Not reentrant: one run() at a time per pool (one pool per model, used by its single decoding thread).
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace ecpo::model {

class WorkPool {
 public:
  // `threads` participants including the caller (≤ 1: no workers, run() loops inline).
  explicit WorkPool(int threads);
  ~WorkPool();
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over [0, n) cut into chunks of `chunk` items, on the caller and the workers; returns
  // when every chunk is done. fn must not throw (it runs on worker threads).
  template <typename F>
  void run(std::int64_t n, std::int64_t chunk, const F& fn) {
    if (n <= 0) return;
    if (chunk < 1) chunk = 1;
    chunk = std::max(chunk, (n + std::int64_t(kIndexMask) - 1) / std::int64_t(kIndexMask));  // ≤ 2^20 - 1 chunks
    if (workers_.empty() || n <= chunk) {
      fn(std::int64_t(0), n);
      return;
    }
    struct Ctx {
      const F* fn;
      std::int64_t n, chunk;
    } ctx{&fn, n, chunk};
    dispatch(
        [](void* c, std::int64_t i) {
          auto* x = static_cast<Ctx*>(c);
          const std::int64_t b = i * x->chunk;
          (*x->fn)(b, std::min(x->n, b + x->chunk));
        },
        &ctx, (n + chunk - 1) / chunk);
  }

 private:
  using ChunkFn = void (*)(void* ctx, std::int64_t chunk_index);
  void dispatch(ChunkFn fn, void* ctx, std::int64_t chunks);
  bool claim_and_run();
  void bump_generation();
  void worker_loop();

  // state = generation (24 bits) | chunk count (20 bits) | next unclaimed chunk (20 bits). A claim is a CAS on
  // the whole word, so a late worker can never claim a chunk of a job that has finished or not yet begun.
  static constexpr int kIndexBits = 20;
  static constexpr std::uint64_t kIndexMask = (std::uint64_t(1) << kIndexBits) - 1;
  std::atomic<std::uint64_t> state_{0};
  std::atomic<std::uint32_t> generation_{0};  // bumped per job; workers wait for it to change
  std::atomic<int> sleepers_{0};              // workers inside (or entering) the condition-variable wait
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
  std::atomic<ChunkFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<std::int64_t> done_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> workers_;
};

}  // namespace ecpo::model
