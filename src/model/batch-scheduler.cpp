// BatchScheduler (see batch-scheduler.h): the waiting queue, admission under the KV cap, the step loop on one thread
// (chunked prefill + one token per decoding sequence, all in one CausalLM::Impl::forward), per-request event queues
// (so streaming callbacks run on the caller's thread), and the prefix cache (hashed 16-token blocks → entries holding
// a finished sequence's tokens and KV; LRU eviction). Only the scheduler thread touches sequences, caches and the
// prefix cache; callers and the scheduler share the queues under one mutex.
#include "model/batch-scheduler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "model/llama-impl.h"
#include "util/error.h"
#include "util/log.h"

namespace ecpo::model {

namespace {

using clock_type = std::chrono::steady_clock;
using i64 = std::int64_t;

double ms_between(clock_type::time_point a, clock_type::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// One streaming event, copied out of the generation for the caller's thread.
struct Event {
  int id, index;
  std::string delta, finish_reason;
};

// Hash of tokens [0, kB) for every whole block k ≥ 1 (FNV-1a over the ids, chained block to block).
constexpr std::size_t kBlock = 16;
std::vector<std::uint64_t> block_hashes(const std::vector<int>& t, std::size_t limit) {
  std::vector<std::uint64_t> out;
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i + kBlock <= limit; i += kBlock) {
    for (std::size_t j = i; j < i + kBlock; ++j) {
      h ^= static_cast<std::uint32_t>(t[j]);
      h *= 0x100000001b3ull;
    }
    out.push_back(h);
  }
  return out;
}

}  // namespace

struct BatchScheduler::Impl {
  CausalLM& lm;
  CausalLM::Impl& m;
  BatchOptions opt;
  std::size_t bytes_per_pos;
  std::size_t budget;

  struct Request {
    std::vector<int> prompt;
    GenerateParams params;  // the caller's, without on_token (the scheduler's Generation queues events instead)
    TokenCallback user_cb;
    TokenDecoder decode;
    // scheduler thread only
    std::optional<Generation> gen;
    KvCache cache;
    std::vector<int> fed;  // tokens in the cache, in order
    std::size_t reserved = 0;
    std::vector<float> logits;
    clock_type::time_point t_submit, t_admit, t_first;
    bool got_first = false;
    // shared, under mu
    std::deque<Event> events;
    bool finished = false;
    GenerateResult result;
    std::exception_ptr error;
    RequestStats stats;
    bool cancelled = false;  // the caller's on_token returned false (or threw)
    std::condition_variable cv;
  };
  using RequestPtr = std::shared_ptr<Request>;

  struct PrefixEntry {
    std::vector<int> tokens;
    KvCache cache;
    std::vector<std::uint64_t> hashes;
    std::uint64_t last_used = 0;
  };

  mutable std::mutex mu;
  std::condition_variable cv;  // the scheduler waits on it
  std::deque<RequestPtr> waiting;
  bool stop = false;
  SchedulerMetrics metrics;
  std::thread thread;

  // scheduler thread only
  std::vector<RequestPtr> active;
  std::size_t reserved = 0;
  std::list<PrefixEntry> prefix;
  std::unordered_multimap<std::uint64_t, std::list<PrefixEntry>::iterator> prefix_index;
  std::size_t prefix_bytes = 0;
  std::uint64_t tick = 0;

  Impl(CausalLM& l, CausalLM::Impl& mi, const BatchOptions& o) : lm(l), m(mi), opt(o) {
    opt.max_batch = std::max(1, opt.max_batch);
    opt.prefill_chunk = std::max(1, opt.prefill_chunk);
    bytes_per_pos = KvCache::bytes_for(m.cfg, 1, m.elem());
    budget = static_cast<std::size_t>(std::max<std::int64_t>(1, opt.kv_cache_mb)) << 20;
    thread = std::thread([this] { loop(); });
  }

  ~Impl() {
    {
      std::lock_guard lk(mu);
      stop = true;
    }
    cv.notify_all();
    thread.join();
  }

  // ---- prefix cache (scheduler thread) ------------------------------------------------------------------------

  // The longest cached prefix of `prompt` that leaves at least one prompt token to feed: (entry, length) or (end, 0).
  std::pair<std::list<PrefixEntry>::iterator, std::size_t> lookup(const std::vector<int>& prompt) {
    const std::size_t limit = prompt.size() - 1;
    const auto hs = block_hashes(prompt, limit);
    for (std::size_t k = hs.size(); k > 0; --k) {
      auto [b, e] = prefix_index.equal_range(hs[k - 1]);
      std::list<PrefixEntry>::iterator best = prefix.end();
      std::size_t best_n = 0;
      for (auto it = b; it != e; ++it) {
        const PrefixEntry& pe = *it->second;
        const std::size_t blocks = k * kBlock;
        if (!std::equal(prompt.begin(), prompt.begin() + static_cast<std::ptrdiff_t>(blocks), pe.tokens.begin()))
          continue;  // a hash collision
        std::size_t n = blocks;
        while (n < limit && n < pe.tokens.size() && pe.tokens[n] == prompt[n]) ++n;
        if (n > best_n) best = it->second, best_n = n;
      }
      if (best_n > 0) return {best, best_n};
    }
    return {prefix.end(), 0};
  }

  void erase_entry(std::list<PrefixEntry>::iterator it) {
    for (std::size_t k = 0; k < it->hashes.size(); ++k) {
      auto [b, e] = prefix_index.equal_range(it->hashes[k]);
      for (auto x = b; x != e; ++x)
        if (x->second == it) {
          prefix_index.erase(x);
          break;
        }
    }
    prefix_bytes -= it->cache.mem.size();
    prefix.erase(it);
  }

  // Drops the least recently used entry other than `keep`; false when there is none.
  bool evict_one(std::list<PrefixEntry>::iterator keep) {
    auto victim = prefix.end();
    for (auto it = prefix.begin(); it != prefix.end(); ++it)
      if (it != keep && (victim == prefix.end() || it->last_used < victim->last_used)) victim = it;
    if (victim == prefix.end()) return false;
    erase_entry(victim);
    return true;
  }

  // Keeps a finished sequence's cache (trimmed to its length) for later prompts; entries it extends are dropped.
  void insert_prefix(std::vector<int> tokens, KvCache cache) {
    if (!opt.prefix_cache || tokens.size() < kBlock) return;
    const i64 n = static_cast<i64>(tokens.size());
    if (cache.capacity > n + n / 4 + 16) {  // trim: copy into a cache of exactly n positions
      KvCache tight = m.make_cache(n);
      kv_copy_prefix(cache, tight, n);
      cache = std::move(tight);
    }
    const std::size_t bytes = cache.mem.size();
    while (reserved + prefix_bytes + bytes > budget && evict_one(prefix.end())) {
    }
    if (reserved + prefix_bytes + bytes > budget) return;  // does not fit even alone
    auto hs = block_hashes(tokens, tokens.size());
    for (std::size_t k = hs.size(); k > 0; --k) {  // entries that are a prefix of this one add nothing
      auto [b, e] = prefix_index.equal_range(hs[k - 1]);
      std::vector<std::list<PrefixEntry>::iterator> dead;
      for (auto it = b; it != e; ++it) {
        const PrefixEntry& pe = *it->second;
        if (pe.tokens.size() <= tokens.size() && pe.tokens.size() / kBlock == k &&
            std::equal(pe.tokens.begin(), pe.tokens.end(), tokens.begin()))
          dead.push_back(it->second);
      }
      for (auto d : dead) erase_entry(d);
    }
    prefix.push_back({std::move(tokens), std::move(cache), hs, ++tick});
    auto it = std::prev(prefix.end());
    for (auto h : it->hashes) prefix_index.emplace(h, it);
    prefix_bytes += it->cache.mem.size();
  }

  // ---- requests ----------------------------------------------------------------------------------------------

  // Marks r finished (result or error set by the caller of this), returns its memory, keeps its KV for reuse.
  void finish(const RequestPtr& r) {
    reserved -= r->reserved;
    r->reserved = 0;
    if (!r->fed.empty() && !r->error) insert_prefix(std::move(r->fed), std::move(r->cache));
    r->cache = KvCache();
    {
      std::lock_guard lk(mu);
      r->finished = true;
      ++metrics.requests;
      metrics.kv_bytes_reserved = static_cast<std::int64_t>(reserved);
      metrics.prefix_entries = static_cast<std::int64_t>(prefix.size());
      metrics.prefix_bytes = static_cast<std::int64_t>(prefix_bytes);
    }
    r->cv.notify_all();
  }

  void fail(const RequestPtr& r, std::exception_ptr e) {
    r->error = e;
    finish(r);
  }

  void complete(const RequestPtr& r) {
    const auto now = clock_type::now();
    GenerateResult res = std::move(r->gen->result());
    res.prefill_ms = r->got_first ? ms_between(r->t_admit, r->t_first) : ms_between(r->t_admit, now);
    res.decode_ms = r->got_first ? ms_between(r->t_first, now) : 0;
    {
      std::lock_guard lk(mu);
      r->result = std::move(res);
    }
    finish(r);
  }

  // Moves waiting requests into the batch while max_batch and the memory cap allow (FIFO: the first that does not
  // fit waits, and so do the ones behind it). A request bigger than the whole cap runs alone.
  void admit() {
    for (;;) {
      RequestPtr r;
      {
        std::lock_guard lk(mu);
        if (waiting.empty() || static_cast<int>(active.size()) >= opt.max_batch) return;
        r = waiting.front();
        if (r->cancelled) {  // gave up while waiting
          waiting.pop_front();
          r->finished = true;
          ++metrics.requests;
          r->cv.notify_all();
          continue;
        }
      }
      const i64 max_ctx = m.cfg.max_position_embeddings;
      const i64 cap = std::max<i64>(
          1, std::min<i64>(static_cast<i64>(r->prompt.size()) + std::max(r->params.max_tokens, 0), max_ctx));
      const std::size_t need = static_cast<std::size_t>(cap) * bytes_per_pos;
      auto [entry, hit] = opt.prefix_cache && r->prompt.size() > 1 ? lookup(r->prompt)
                                                                    : std::make_pair(prefix.end(), std::size_t(0));
      while (reserved + prefix_bytes + need > budget && evict_one(entry)) {
      }
      if (reserved + prefix_bytes + need > budget && entry != prefix.end() && prefix.size() == 1) {
        erase_entry(entry);  // the hit itself is in the way: give it up
        entry = prefix.end();
        hit = 0;
      }
      if (reserved + prefix_bytes + need > budget && !active.empty()) return;  // wait for room
      {
        std::lock_guard lk(mu);
        waiting.pop_front();
      }
      r->t_admit = clock_type::now();
      try {
        GenerateParams gp = r->params;
        if (r->user_cb) {
          Request* raw = r.get();
          gp.on_token = [this, raw](const TokenEvent& ev) {
            std::lock_guard lk(mu);
            raw->events.push_back({ev.id, ev.index, std::string(ev.delta), std::string(ev.finish_reason)});
            raw->cv.notify_all();
            return !raw->cancelled;
          };
        }
        r->gen.emplace(r->prompt, gp, r->decode, m.cfg.eos_token_ids, max_ctx);
      } catch (...) {
        fail(r, std::current_exception());
        continue;
      }
      r->cache = m.make_cache(cap);
      r->reserved = r->cache.mem.size();
      reserved += r->reserved;
      if (hit > 0) {
        kv_copy_prefix(entry->cache, r->cache, static_cast<i64>(hit));
        r->cache.len = static_cast<i64>(hit);
        r->fed.assign(r->prompt.begin(), r->prompt.begin() + static_cast<std::ptrdiff_t>(hit));
        entry->last_used = ++tick;
      }
      {
        std::lock_guard lk(mu);  // (stats are read by the caller's thread)
        r->stats.queue_ms = ms_between(r->t_submit, r->t_admit);
        r->stats.cached_tokens = static_cast<std::int64_t>(hit);
        if (hit > 0) {
          ++metrics.prefix_hits;
          metrics.prefill_tokens_saved += static_cast<std::int64_t>(hit);
        }
        metrics.kv_bytes_reserved = static_cast<std::int64_t>(reserved);
      }
      if (r->gen->done()) {  // max_tokens 0
        complete(r);
        continue;
      }
      active.push_back(r);
    }
  }

  // One step: chunks of prompts still prefilling (at most prefill_chunk tokens in all, oldest first) and one token
  // for every decoding sequence, in one forward; then sampling for every sequence whose logits came back.
  void step() {
    std::vector<ForwardStep> steps;
    std::vector<Request*> owners;
    i64 budget_tokens = opt.prefill_chunk, prefill = 0, decode = 0;
    for (const RequestPtr& r : active) {
      const i64 prompt_n = static_cast<i64>(r->prompt.size()), fed = static_cast<i64>(r->fed.size());
      r->logits.resize(static_cast<std::size_t>(m.cfg.vocab_size));
      if (fed < prompt_n) {
        if (budget_tokens <= 0) continue;
        const i64 n = std::min(prompt_n - fed, budget_tokens);
        budget_tokens -= n;
        prefill += n;
        steps.push_back({&r->cache, r->prompt.data() + fed, n,
                         fed + n == prompt_n ? StepLogits::last : StepLogits::none, r->logits.data()});
      } else {
        const std::vector<int>& ids = r->gen->next_ids();
        ++decode;
        steps.push_back({&r->cache, ids.data(), static_cast<i64>(ids.size()), StepLogits::last, r->logits.data()});
      }
      owners.push_back(r.get());
    }
    if (steps.empty()) return;
    try {
      m.forward(steps);
    } catch (...) {
      auto e = std::current_exception();
      for (const RequestPtr& r : active) fail(r, e);
      active.clear();
      return;
    }
    {
      std::lock_guard lk(mu);
      ++metrics.steps;
      metrics.prefill_tokens += prefill;
      metrics.decode_tokens += decode;
      metrics.max_active = std::max(metrics.max_active, static_cast<int>(active.size()));
    }
    for (std::size_t i = 0; i < steps.size(); ++i) {
      Request& r = *owners[i];
      r.fed.insert(r.fed.end(), steps[i].ids, steps[i].ids + steps[i].n);
      if (steps[i].logits == StepLogits::none) continue;
      if (!r.got_first) {
        r.got_first = true;
        r.t_first = clock_type::now();
        std::lock_guard lk(mu);
        r.stats.ttft_ms = ms_between(r.t_submit, r.t_first);
      }
      try {
        r.gen->accept(r.logits);
      } catch (...) {
        r.error = std::current_exception();
      }
    }
    // finished, failed and cancelled sequences leave the batch
    std::vector<RequestPtr> keep;
    for (const RequestPtr& r : active) {
      bool cancelled;
      {
        std::lock_guard lk(mu);
        cancelled = r->cancelled;
      }
      if (r->error) fail(r, r->error);
      else if (r->gen->done() || cancelled) complete(r);
      else keep.push_back(r);
    }
    active.swap(keep);
  }

  void loop() {
    for (;;) {
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return stop || !waiting.empty() || !active.empty(); });
        if (stop && waiting.empty() && active.empty()) return;
      }
      admit();
      step();
    }
  }

  GenerateResult run(const std::vector<int>& prompt, const GenerateParams& params, const TokenDecoder& decode,
                     RequestStats* stats) {
    m.check_ids(prompt);
    auto r = std::make_shared<Request>();
    r->prompt = prompt;
    r->params = params;
    r->params.on_token = nullptr;
    r->user_cb = params.on_token;
    r->decode = decode;
    r->t_submit = clock_type::now();
    {
      std::lock_guard lk(mu);
      waiting.push_back(r);
    }
    cv.notify_all();
    // Deliver events on this thread; a callback that returns false (or throws) cancels.
    std::vector<int> delivered_ids;
    std::string delivered_text;
    bool cancelled = false;
    std::exception_ptr cb_error;
    std::unique_lock lk(mu);
    for (;;) {
      r->cv.wait(lk, [&] { return !r->events.empty() || r->finished; });
      while (!r->events.empty() && !cancelled) {
        Event ev = std::move(r->events.front());
        r->events.pop_front();
        lk.unlock();
        bool keep = true;
        try {
          TokenEvent te;
          te.id = ev.id;
          te.index = ev.index;
          te.delta = ev.delta;
          te.finish_reason = ev.finish_reason;
          keep = r->user_cb(te);
        } catch (...) {
          cb_error = std::current_exception();
          keep = false;
        }
        delivered_text += ev.delta;
        if (ev.id >= 0) delivered_ids.push_back(ev.id);
        lk.lock();
        if (!keep && ev.id >= 0) {
          cancelled = true;
          r->cancelled = true;
        }
      }
      if (cancelled || (r->finished && r->events.empty())) break;
    }
    if (stats) *stats = r->stats;
    if (cancelled) {
      cv.notify_all();
      lk.unlock();
      if (cb_error) std::rethrow_exception(cb_error);
      GenerateResult res;
      res.ids = std::move(delivered_ids);
      res.text = std::move(delivered_text);
      res.finish_reason = "cancelled";
      res.prompt_tokens = static_cast<int>(prompt.size());
      return res;
    }
    if (r->error) std::rethrow_exception(r->error);
    if (cb_error) std::rethrow_exception(cb_error);  // the final event's callback threw
    return std::move(r->result);
  }
};

BatchScheduler::BatchScheduler(CausalLM& lm, const BatchOptions& options)
    : impl_(std::make_unique<Impl>(lm, *lm.impl_, options)) {}

BatchScheduler::~BatchScheduler() = default;

GenerateResult BatchScheduler::generate(const std::vector<int>& prompt, const GenerateParams& params,
                                        const TokenDecoder& decode, RequestStats* stats) {
  return impl_->run(prompt, params, decode, stats);
}

SchedulerMetrics BatchScheduler::metrics() const {
  std::lock_guard lk(impl_->mu);
  return impl_->metrics;
}

const BatchOptions& BatchScheduler::options() const { return impl_->opt; }

}  // namespace ecpo::model
