// The libcurl event loop (see http-reactor.h): epoll + curl_multi_socket_action on one thread, an eventfd
// for "work queued", and a futex per transfer for "done". (Callers adding and starting their own transfer
// under a lock on the multi handle was measured too: more CPU per call, not less; see bench/llm.)
#include "llm/http-reactor.h"

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <linux/futex.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace ecpo::http {

struct Reactor::Transfer {
  CURL* easy = nullptr;
  CURLcode result = CURLE_OK;
  std::atomic<std::uint32_t> done{0};
};

namespace {

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void futex_wait(std::atomic<std::uint32_t>* a, std::uint32_t expected) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(a), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}

// Waking an address whose waiter has already returned is harmless: the futex word is only a key.
void futex_wake(std::atomic<std::uint32_t>* a) {
  ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(a), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// The instance; a forked child drops the parent's (its thread does not exist there) and makes its own.
std::atomic<Reactor*> g_instance{nullptr};
std::mutex g_instance_mu;

void atfork_prepare() { g_instance_mu.lock(); }
void atfork_parent() { g_instance_mu.unlock(); }
void atfork_child() {
  g_instance.store(nullptr, std::memory_order_relaxed);
  g_instance_mu.unlock();
}

}  // namespace

Reactor& Reactor::instance() {
  if (Reactor* r = g_instance.load(std::memory_order_acquire)) return *r;
  static std::once_flag once;
  std::call_once(once, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ::pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  });
  std::lock_guard lk(g_instance_mu);
  if (Reactor* r = g_instance.load(std::memory_order_acquire)) return *r;
  auto* r = new Reactor();  // never deleted: the event thread may outlive main()
  g_instance.store(r, std::memory_order_release);
  return *r;
}

Reactor::Reactor() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ >= 0 && wake_fd_ >= 0) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  }
  open_multi();
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "ecpo-http");
    loop();
  });
  thread_.detach();
}

void Reactor::open_multi() {
  multi_ = curl_multi_init();
  if (!multi_) return;
  // Enough idle connections for hundreds of concurrent callers to all keep theirs.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, 1024L);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &Reactor::on_socket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &Reactor::on_timer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  deadline_us_ = -1;
}

int Reactor::on_socket(CURL*, curl_socket_t s, int what, void* self, void* socketp) {
  auto* r = static_cast<Reactor*>(self);
  if (what == CURL_POLL_REMOVE) {
    ::epoll_ctl(r->epoll_fd_, EPOLL_CTL_DEL, s, nullptr);
    return 0;
  }
  epoll_event ev{};
  ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0u) | ((what & CURL_POLL_OUT) ? EPOLLOUT : 0u);
  ev.data.fd = s;
  if (socketp) {
    if (::epoll_ctl(r->epoll_fd_, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
      ::epoll_ctl(r->epoll_fd_, EPOLL_CTL_ADD, s, &ev);
  } else {
    if (::epoll_ctl(r->epoll_fd_, EPOLL_CTL_ADD, s, &ev) != 0 && errno == EEXIST)
      ::epoll_ctl(r->epoll_fd_, EPOLL_CTL_MOD, s, &ev);
    curl_multi_assign(r->multi_, s, r);  // any non-null marker: "registered with epoll"
  }
  return 0;
}

int Reactor::on_timer(CURLM*, long timeout_ms, void* self) {
  auto* r = static_cast<Reactor*>(self);
  r->deadline_us_ = timeout_ms < 0 ? -1 : now_us() + static_cast<std::int64_t>(timeout_ms) * 1000;
  return 0;
}

CURLcode Reactor::run(CURL* easy) {
  if (!multi_ || epoll_fd_ < 0 || wake_fd_ < 0) return CURLE_FAILED_INIT;
  Transfer t;
  t.easy = easy;
  bool was_empty;
  {
    std::lock_guard lk(mu_);
    was_empty = queue_.empty();
    queue_.push_back(&t);
  }
  // A non-empty queue already has a wake-up pending: the event thread empties the whole queue each time.
  if (was_empty) wake();
  while (t.done.load(std::memory_order_acquire) == 0) futex_wait(&t.done, 0);
  return t.result;
}

void Reactor::close_connections() {
  if (!multi_ || epoll_fd_ < 0 || wake_fd_ < 0) return;
  std::unique_lock lk(mu_);
  const std::uint64_t target = ++reset_requested_;
  lk.unlock();
  wake();
  lk.lock();
  reset_cv_.wait(lk, [&] { return reset_done_ >= target; });
}

void Reactor::wake() {
  std::uint64_t one = 1;
  while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
  }
}

void Reactor::take_queue() {
  {
    std::lock_guard lk(mu_);
    if (reset_requested_ != reset_done_) return;  // held until the connections are closed
    batch_.swap(queue_);
  }
  for (Transfer* t : batch_) add_locked(t);
  batch_.clear();
}

void Reactor::add_locked(Transfer* t) {
  curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
  if (curl_multi_add_handle(multi_, t->easy) == CURLM_OK) {
    in_flight_.fetch_add(1, std::memory_order_relaxed);
  } else {
    t->result = CURLE_FAILED_INIT;
    t->done.store(1, std::memory_order_release);
    futex_wake(&t->done);
  }
}

// libcurl's timer fired (or a transfer was just added: adding sets a 0 ms timer, which starts it).
// As in libcurl's own examples, a fired timer is disarmed; the timer callback arms the next one.
void Reactor::run_timers() {
  if (deadline_us_ >= 0 && now_us() >= deadline_us_) {
    deadline_us_ = -1;
    int running = 0;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  }
}

void Reactor::finish_done() {
  int left = 0;
  while (CURLMsg* m = curl_multi_info_read(multi_, &left)) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL* e = m->easy_handle;
    const CURLcode rc = m->data.result;
    Transfer* t = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &t);
    curl_multi_remove_handle(multi_, e);  // `m` is invalid from here on
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    if (!t) continue;
    t->result = rc;
    t->done.store(1, std::memory_order_release);  // the caller may return (and reuse `e`) from here on
    futex_wake(&t->done);
  }
}

void Reactor::maybe_reset() {
  std::uint64_t target;
  {
    std::lock_guard lk(mu_);
    if (reset_requested_ == reset_done_) return;
    target = reset_requested_;
  }
  if (in_flight_.load(std::memory_order_relaxed) > 0) return;
  curl_multi_cleanup(multi_);  // closes every cached connection
  open_multi();
  {
    std::lock_guard lk(mu_);
    reset_done_ = target;
  }
  reset_cv_.notify_all();
  take_queue();
}

void Reactor::loop() {
  if (!multi_ || epoll_fd_ < 0 || wake_fd_ < 0) return;
  epoll_event evs[256];
  std::int64_t until = -1;
  for (;;) {
    int timeout = -1;
    if (until >= 0) {
      const std::int64_t d = until - now_us();
      timeout = d <= 0 ? 0 : static_cast<int>((d + 999) / 1000);
    }
    const int n = ::epoll_wait(epoll_fd_, evs, 256, timeout);
    bool woke = false;
    int running = 0;
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == wake_fd_) {
        std::uint64_t v;
        while (::read(wake_fd_, &v, sizeof v) < 0 && errno == EINTR) {
        }
        woke = true;
        continue;
      }
      const std::uint32_t e = evs[i].events;
      int flags = 0;
      if (e & (EPOLLIN | EPOLLHUP | EPOLLRDHUP)) flags |= CURL_CSELECT_IN;
      if (e & EPOLLOUT) flags |= CURL_CSELECT_OUT;
      if (e & EPOLLERR) flags |= CURL_CSELECT_ERR;
      curl_multi_socket_action(multi_, fd, flags, &running);
    }
    if (woke) take_queue();  // adding a handle sets a 0 ms timer: it starts just below
    run_timers();
    finish_done();
    maybe_reset();
    until = deadline_us_;
  }
}

}  // namespace ecpo::http
