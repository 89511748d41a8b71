// Several base URLs behind one role, each with its own concurrency limit: acquire() blocks until some
// endpoint has a free slot and hands out the least-loaded one (ties broken round-robin), skipping endpoints
// that failed within the last `cooldown_ms` while a healthy one is free. It does no I/O itself.
// Endpoints are shared by URL inside one EndpointRegistry, so roles on the same server share its limit.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ecpo::llm {

// One server (base URL) with a cap on calls in flight. Thread-safe through its owning pool's mutex.
struct Endpoint {
  std::string base_url;  // e.g. "http://127.0.0.1:8000/v1" (no trailing slash)
  int max_concurrency = 16;
  int in_flight = 0;
  std::chrono::steady_clock::time_point cooldown_until{};
  std::mutex* mu = nullptr;                // set by the registry; guards in_flight and cooldown_until
  std::condition_variable* cv = nullptr;   // notified when a slot frees
};

// Owns Endpoint objects keyed by URL; all share one mutex/condition variable (cheap at these rates).
class EndpointRegistry {
 public:
  // The endpoint for `base_url`; created on first use. A later request with a smaller limit lowers it.
  std::shared_ptr<Endpoint> get(const std::string& base_url, int max_concurrency);
  std::mutex& mutex() { return mu_; }
  std::condition_variable& cv() { return cv_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::shared_ptr<Endpoint>> endpoints_;
};

class EndpointPool;

// A held slot on one endpoint; released on destruction.
class EndpointLease {
 public:
  EndpointLease() = default;
  EndpointLease(EndpointPool* pool, std::size_t index) : pool_(pool), index_(index) {}
  EndpointLease(EndpointLease&& o) noexcept : pool_(o.pool_), index_(o.index_) { o.pool_ = nullptr; }
  EndpointLease& operator=(EndpointLease&& o) noexcept;
  ~EndpointLease() { release(); }
  void release();
  std::size_t index() const { return index_; }
  const std::string& base_url() const;
  // Marks the endpoint unhealthy for the pool's cooldown (a transport failure or 5xx).
  void mark_failed();

 private:
  EndpointPool* pool_ = nullptr;
  std::size_t index_ = 0;
};

class EndpointPool {
 public:
  // `registry` must outlive the pool. Throws ecpo::Error when `base_urls` is empty.
  EndpointPool(EndpointRegistry& registry, const std::vector<std::string>& base_urls, int max_concurrency,
               double cooldown_ms = 1000);
  // Blocks until a slot is free. `avoid` (an index, or npos) is skipped when another endpoint is usable,
  // so a retry goes to a different server when there is one.
  EndpointLease acquire(std::size_t avoid = static_cast<std::size_t>(-1));
  std::size_t size() const { return endpoints_.size(); }
  const std::string& base_url(std::size_t i) const { return endpoints_[i]->base_url; }
  int in_flight(std::size_t i) const;

 private:
  friend class EndpointLease;
  void release(std::size_t i);
  void mark_failed(std::size_t i);
  EndpointRegistry& registry_;
  std::vector<std::shared_ptr<Endpoint>> endpoints_;
  double cooldown_ms_;
  std::size_t rr_ = 0;
};

// "http://h:1/v1/" → "http://h:1/v1"; throws ecpo::Error for anything but http:// or https:// URLs.
std::string normalize_base_url(const std::string& url, const std::string& where);

}  // namespace ecpo::llm
