// Least-loaded endpoint choice with per-URL concurrency caps (see endpoint-pool.h).
#include "llm/endpoint-pool.h"

#include <algorithm>

#include "util/error.h"
#include "util/text.h"

namespace ecpo::llm {

std::shared_ptr<Endpoint> EndpointRegistry::get(const std::string& base_url, int max_concurrency) {
  std::lock_guard lk(mu_);
  auto& e = endpoints_[base_url];
  if (!e) {
    e = std::make_shared<Endpoint>();
    e->base_url = base_url;
    e->max_concurrency = std::max(1, max_concurrency);
    e->mu = &mu_;
    e->cv = &cv_;
  } else {
    e->max_concurrency = std::max(1, std::min(e->max_concurrency, max_concurrency));
  }
  return e;
}

EndpointLease& EndpointLease::operator=(EndpointLease&& o) noexcept {
  if (this != &o) {
    release();
    pool_ = o.pool_;
    index_ = o.index_;
    o.pool_ = nullptr;
  }
  return *this;
}

void EndpointLease::release() {
  if (pool_) pool_->release(index_);
  pool_ = nullptr;
}

const std::string& EndpointLease::base_url() const { return pool_->base_url(index_); }

void EndpointLease::mark_failed() {
  if (pool_) pool_->mark_failed(index_);
}

EndpointPool::EndpointPool(EndpointRegistry& registry, const std::vector<std::string>& base_urls,
                           int max_concurrency, double cooldown_ms)
    : registry_(registry), cooldown_ms_(cooldown_ms) {
  if (base_urls.empty()) throw Error("no base URL given", "endpoints", "set base_url or base_urls");
  for (const auto& u : base_urls) endpoints_.push_back(registry.get(u, max_concurrency));
}

int EndpointPool::in_flight(std::size_t i) const {
  std::lock_guard lk(registry_.mutex());
  return endpoints_[i]->in_flight;
}

EndpointLease EndpointPool::acquire(std::size_t avoid) {
  std::unique_lock lk(registry_.mutex());
  const std::size_t n = endpoints_.size();
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    // Pass 0 prefers healthy endpoints other than `avoid`; pass 1 takes any endpoint with a free slot.
    for (int pass = 0; pass < 2; ++pass) {
      std::size_t best = n;
      double best_load = 2.0;
      for (std::size_t k = 0; k < n; ++k) {
        std::size_t i = (rr_ + k) % n;
        const Endpoint& e = *endpoints_[i];
        if (e.in_flight >= e.max_concurrency) continue;
        if (pass == 0 && n > 1 && (i == avoid || e.cooldown_until > now)) continue;
        double load = static_cast<double>(e.in_flight) / e.max_concurrency;
        if (load < best_load) best_load = load, best = i;
      }
      if (best < n) {
        endpoints_[best]->in_flight++;
        rr_ = (best + 1) % n;
        return EndpointLease(this, best);
      }
    }
    registry_.cv().wait(lk);
  }
}

void EndpointPool::release(std::size_t i) {
  {
    std::lock_guard lk(registry_.mutex());
    endpoints_[i]->in_flight--;
  }
  registry_.cv().notify_all();
}

void EndpointPool::mark_failed(std::size_t i) {
  std::lock_guard lk(registry_.mutex());
  endpoints_[i]->cooldown_until =
      std::chrono::steady_clock::now() + std::chrono::microseconds(static_cast<long long>(cooldown_ms_ * 1000));
}

std::string normalize_base_url(const std::string& url, const std::string& where) {
  std::string u = trim(url);
  if (!starts_with(u, "http://") && !starts_with(u, "https://"))
    throw Error("base URL '" + u + "' must start with http:// or https://", where,
                "e.g. base_url: http://127.0.0.1:8000/v1");
  while (ends_with(u, "/")) u.pop_back();
  if (u.size() <= 8) throw Error("base URL '" + url + "' has no host", where);
  return u;
}

}  // namespace ecpo::llm
