// WorkPool (see work-pool.h): claim-by-CAS chunks, spin-then-sleep workers, the caller always participates.
#include "model/work-pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ECPO_PAUSE() _mm_pause()
#else
#define ECPO_PAUSE() std::this_thread::yield()
#endif

namespace ecpo::model {

namespace {
// How long an idle worker polls for the next job before sleeping: the decode step's loops follow each other
// within a few µs (norms, RoPE, attention between them), so a short spin saves a futex wake per loop.
constexpr auto kSpin = std::chrono::microseconds(50);
}  // namespace

WorkPool::WorkPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

WorkPool::~WorkPool() {
  stop_.store(true, std::memory_order_seq_cst);
  bump_generation();
  for (auto& t : workers_) t.join();
}

void WorkPool::dispatch(ChunkFn fn, void* ctx, std::int64_t chunks) {
  fn_.store(fn, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  const std::uint64_t gen = ((state_.load(std::memory_order_relaxed) >> (2 * kIndexBits)) + 1) & 0xffffff;
  state_.store((gen << (2 * kIndexBits)) | (static_cast<std::uint64_t>(chunks) << kIndexBits),
               std::memory_order_release);
  bump_generation();
  while (claim_and_run()) {
  }
  // Every chunk is claimed; wait for the ones other threads are still running (a few µs each).
  int spins = 0;
  while (done_.load(std::memory_order_acquire) < chunks) {
    if (++spins < 4096) ECPO_PAUSE();
    else std::this_thread::yield();
  }
}

// Dekker-style handshake with a worker going to sleep: it raises sleepers_ and then re-reads generation_; we
// bump generation_ and then read sleepers_ (all seq_cst), so at least one side sees the other. Notifying under
// the mutex means a worker between its re-check and wait() cannot miss the wake-up.
void WorkPool::bump_generation() {
  generation_.fetch_add(1, std::memory_order_seq_cst);
  if (sleepers_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    wake_.notify_all();
  }
}

bool WorkPool::claim_and_run() {
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    const std::uint64_t next = s & kIndexMask, count = (s >> kIndexBits) & kIndexMask;
    if (next >= count) return false;
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      // The job cannot finish (nor fn_/ctx_ change) before this chunk is counted done.
      fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), static_cast<std::int64_t>(next));
      done_.fetch_add(1, std::memory_order_acq_rel);
      return true;
    }
  }
}

void WorkPool::worker_loop() {
  std::uint32_t seen = generation_.load(std::memory_order_acquire);
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    // (stop_ is checked too: the destructor's bump may come before this thread first read `seen`.)
    for (int i = 0; generation_.load(std::memory_order_acquire) == seen && !stop_.load(std::memory_order_acquire); ++i) {
      ECPO_PAUSE();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() - t0 > kSpin) {
        std::unique_lock<std::mutex> lock(sleep_mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        wake_.wait(lock, [&] {
          return generation_.load(std::memory_order_seq_cst) != seen || stop_.load(std::memory_order_seq_cst);
        });
        sleepers_.fetch_sub(1, std::memory_order_seq_cst);
        break;
      }
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    while (claim_and_run()) {
    }
  }
}

}  // namespace ecpo::model
