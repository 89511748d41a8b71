// The process's one libcurl event loop: a multi handle (shared connection cache) driven by one thread with
// curl_multi_socket_action over epoll. A caller hands it a configured easy handle and blocks (futex) until
// the transfer ends; the event thread adds it, drives every transfer, and wakes the caller with the result.
// It does not configure requests or read responses (http-transport.cpp does, on the caller's thread).
// The instance is created on first use and intentionally never destroyed (no exit-order hazards).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <curl/curl.h>

namespace ecpo::http {

class Reactor {
 public:
  // The process-wide instance (a fresh one in a forked child).
  static Reactor& instance();

  // Runs `easy` (configured, not in any multi handle) to completion; blocks the calling thread.
  // Must not be called from the event thread (i.e. from a libcurl callback).
  CURLcode run(CURL* easy);

  // Closes every cached connection: transfers in flight finish, new ones wait, the connection cache is
  // emptied, then the waiting transfers start on fresh connections. Returns when done.
  void close_connections();

  // How many transfers the event thread is driving right now (for tests).
  int in_flight() const { return in_flight_.load(std::memory_order_relaxed); }

  struct Transfer;

 private:
  Reactor();
  ~Reactor() = delete;  // never destroyed
  void loop();
  void open_multi();
  void take_queue();
  void finish_done();
  void maybe_reset();
  void wake();
  static int on_socket(CURL* e, curl_socket_t s, int what, void* self, void* socketp);
  static int on_timer(CURLM* m, long timeout_ms, void* self);

  void add_locked(Transfer* t);
  void run_timers();

  CURLM* multi_ = nullptr;     // event thread only (after construction)
  int epoll_fd_ = -1;
  int wake_fd_ = -1;           // eventfd: a caller queued work
  std::int64_t deadline_us_ = -1;  // libcurl's timer (steady clock µs), -1 = none; event thread only
  std::atomic<int> in_flight_{0};

  std::mutex mu_;              // guards queue_, reset_requested_, reset_done_
  std::vector<Transfer*> queue_;
  std::vector<Transfer*> batch_;  // event thread only: swapped with queue_ (both keep their capacity)
  std::uint64_t reset_requested_ = 0, reset_done_ = 0;
  std::condition_variable reset_cv_;
  std::thread thread_;

};

}  // namespace ecpo::http
